"""The conformance suite over pgmq:// against a real PostgreSQL with PGMQ's SQL installed.

Its classes are ConformanceSuite subclasses, through ``FanoutAcrossConnections``.

``.ci/servers.d/pgmq.sh`` installs the SQL the PyPI package ``pgmq`` ships into a database
``kombu_pgmq`` (without the extension, so ``init_extension`` is off here) and exports
``PGMQ_URL`` (e.g. ``pgmq://postgres@127.0.0.1:5432/kombu_pgmq``).
"""
from __future__ import annotations

from typing import Any

import pytest

from kombu import Connection, Queue
from t.integration.conformance.fanout import FanoutAcrossConnections
from t.integration.env_servers import url_from_env

HOW_TO = ('install PGMQ with `bash .ci/servers.d/pgmq.sh` (needs PostgreSQL on 5432 and '
          'pip install pgmq) and set PGMQ_URL to what it prints')


@pytest.fixture(scope='module')
def pgmq_url() -> str:
    return url_from_env('PGMQ_URL', 'pgmq', 5432, HOW_TO)


class TestPGMQConformance(FanoutAcrossConnections):
    transport_options = {'init_extension': False, 'polling_interval': 0.02}

    # PGMQ reads in msg_id order: it has no priorities, length limits or queue expiry.
    supports_priority = False
    supports_max_length = False
    supports_queue_expires = False
    supports_headers_exchange = False

    @pytest.fixture(autouse=True)
    def _url(self, pgmq_url: str) -> None:
        self.url = pgmq_url

    def store_raw(self, conn: Connection, queue: Queue, entry: Any) -> None:
        # PGMQ stores jsonb: text that is not JSON is kept as a JSON string, not an envelope.
        channel = conn.default_channel
        channel.pgmq.send(channel.canonical_queue_name(queue.name), entry)


class TestPGMQConformanceNotify(TestPGMQConformance):
    """The same suite with consumers woken by LISTEN/NOTIFY instead of long polls."""

    transport_options = {**TestPGMQConformance.transport_options, 'use_notify': True}
