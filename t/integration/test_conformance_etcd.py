"""The conformance suite over etcd:// against a real etcd (v2 API enabled).

``.ci/servers.d/etcd.sh`` starts one on free ports and exports ``ETCD_URL``
(e.g. ``etcd://127.0.0.1:2379``).  Every test run works under a key prefix of
its own, deleted at the end.
"""
from __future__ import annotations

import os
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from t.integration.conformance.claims import ClaimStoreCases, WakesOnPublishCases
from t.servers import IN_CI, port_open

etcd = pytest.importorskip('etcd')

ETCD_URL = os.environ.get('ETCD_URL', '')
PREFIX = f'kombu-conf-{os.getpid()}'


@pytest.fixture(scope='module')
def etcd_url() -> Iterator[str]:
    parts = urlsplit(ETCD_URL)
    if not ETCD_URL or not port_open(parts.hostname or '127.0.0.1', parts.port or 2379):
        message = ('no etcd: start one with `bash .ci/servers.d/etcd.sh` (needs etcd-server, '
                   'v2 API on) and set ETCD_URL to what it prints')
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield ETCD_URL
    client = etcd.Client(host=parts.hostname, port=parts.port)
    try:
        client.delete(f'/{PREFIX}', recursive=True)
    except etcd.EtcdKeyNotFound:
        pass


class TestEtcdConformance(ClaimStoreCases, WakesOnPublishCases):
    race_total = 120
    transport_options = {'prefix': PREFIX, 'polling_interval': 0.02}

    @pytest.fixture(autouse=True)
    def _url(self, etcd_url: str) -> None:
        self.url = etcd_url
