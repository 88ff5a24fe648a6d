"""Cases for transports whose store is shared by processes (ZooKeeper, MongoDB...):
mixed into their conformance class next to :class:`ConformanceSuite`."""
from __future__ import annotations

import socket
import time
from typing import Any

from kombu import Consumer


class SharedStoreCases:
    """Competing consumers on separate connections share one queue."""

    competing_messages = 100

    def test_competing_consumers_each_message_once(self) -> None:
        count = self.competing_messages
        queue = self.queue()  # type: ignore[attr-defined]
        conn = self.connection()  # type: ignore[attr-defined]
        self.declare(conn, queue)  # type: ignore[attr-defined]
        self.publish(conn, list(range(count)),  # type: ignore[attr-defined]
                     routing_key=queue.routing_key)
        got: list[Any] = []
        consumers = [self.connection() for _ in range(3)]  # type: ignore[attr-defined]
        for c in consumers:
            Consumer(c, [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]).consume()
        deadline = time.monotonic() + 30
        while len(got) < count and time.monotonic() < deadline:
            for c in consumers:
                try:
                    c.drain_events(timeout=0.01)
                except socket.timeout:
                    pass
        assert sorted(got) == list(range(count))  # each exactly once
