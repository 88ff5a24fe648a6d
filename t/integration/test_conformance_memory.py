"""The conformance suite over memory:// (every optional feature supported)."""
from __future__ import annotations

from typing import Any

from kombu import Connection, Queue
from t.integration.conformance import ConformanceSuite


class TestMemoryConformance(ConformanceSuite):
    url = 'memory://'

    def store_raw(self, conn: Connection, queue: Queue, entry: Any) -> None:
        # The store keeps what it is given: the entry goes in as it is.
        conn.default_channel._put(queue.name, entry)
