"""The conformance suite over pyro:// against a real Pyro name server and Kombu Pyro
broker (``python -m kombu.transport.pyro``), both started on spare ports."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from kombu import Connection, Queue
from t.integration.conformance import ConformanceSuite
from t.integration.private_pyro import PrivatePyro


@pytest.fixture(scope='module')
def pyro_broker() -> Iterator[PrivatePyro]:
    servers = PrivatePyro()
    try:
        yield servers
    finally:
        servers.stop()


class TestPyroConformance(ConformanceSuite):
    transport_options = {'polling_interval': 0.2}

    @pytest.fixture(autouse=True)
    def _url(self, pyro_broker: PrivatePyro) -> None:
        self.url = pyro_broker.url

    def store_raw(self, conn: Connection, queue: Queue, entry: Any) -> None:
        # Straight into the broker's queue, past the envelope.
        conn.default_channel._call('publish', queue.name, 'put', queue.name, entry)
