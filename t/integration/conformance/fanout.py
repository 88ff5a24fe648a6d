"""Fanout whose bindings live in the broker: a case for the suites of such transports."""
from __future__ import annotations

import time

from .suite import WAIT, ConformanceSuite


class FanoutAcrossConnections(ConformanceSuite):
    """Mix in (before nothing else: it is a suite) for brokers that keep fanout bindings."""

    def test_fanout_reaches_queues_another_connection_bound(self) -> None:
        # The publisher never declared the queues: only the broker knows the bindings.
        exchange = self.exchange('fanout')
        consumer_conn = self.connection()
        one, two = self.queue(exchange), self.queue(exchange)
        self.declare(consumer_conn, exchange, one, two)
        publisher = self.connection()
        self.declare(publisher, exchange)
        self.publish(publisher, ['to all'], exchange)
        assert self.get_eventually(consumer_conn, one, 1) == ['to all']
        assert self.get_eventually(consumer_conn, two, 1) == ['to all']

    def test_fanout_reaches_a_queue_only_after_its_binding(self) -> None:
        exchange = self.exchange('fanout')
        conn = self.connection()
        early = self.queue(exchange)
        self.declare(conn, exchange, early)
        self.publish(conn, ['before'], exchange)
        late = self.queue(exchange)
        self.declare(conn, late)   # bound now: 'before' is not its message
        self.publish(conn, ['after'], exchange)
        assert self.get_eventually(conn, early, 2) == ['before', 'after']
        assert self.get_eventually(conn, late, 1) == ['after']
        assert self.get_all(conn, late) == []

    def test_requeued_fanout_copy_returns_to_its_own_queue_only(self) -> None:
        exchange = self.exchange('fanout')
        conn = self.connection()
        one, two = self.queue(exchange), self.queue(exchange)
        self.declare(conn, exchange, one, two)
        self.publish(conn, ['once'], exchange)
        bound = self.bind(one, conn.default_channel)
        deadline = time.monotonic() + WAIT
        message = bound.get(no_ack=False)
        while message is None and time.monotonic() < deadline:
            message = bound.get(no_ack=False)
        assert message is not None and message.payload == 'once'
        message.requeue()
        assert self.get_eventually(conn, one, 1) == ['once']
        assert self.get_eventually(conn, two, 1) == ['once']
        assert self.get_all(conn, one) == [] and self.get_all(conn, two) == []
