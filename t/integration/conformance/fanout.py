"""Fanout whose bindings live in the broker: a case for the suites of such transports."""
from __future__ import annotations

from .suite import ConformanceSuite


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
