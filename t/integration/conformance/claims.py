"""Cases for stores where consumers claim messages and bindings live in the store.

Mix :class:`ClaimStoreCases` into a :class:`ConformanceSuite` subclass of a
transport whose consumers *claim* messages in a shared store (SQL rows, etcd
or Consul keys) with a ``visibility_timeout`` option, and whose bindings are
stored there too.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from kombu import Connection, Consumer, Producer

from .suite import ConformanceSuite


class ClaimStoreCases(ConformanceSuite):
    """Two consumers, shared bindings, claims of a vanished consumer."""

    #: messages raced for by the two consumers.
    race_total = 200
    #: visibility timeout (seconds) of the vanished-consumer case.
    short_visibility = 1.0

    def vanish(self, conn: Connection) -> None:
        """``conn`` goes away without acking or restoring, as a killed process."""
        conn.default_channel.do_restore = False
        conn.release()

    def test_two_consumers_never_share_a_message(self) -> None:
        total = self.race_total
        queue = self.queue()
        producer_conn = self.connection()
        self.declare(producer_conn, queue)
        seen: list[list[int]] = [[], []]
        done = threading.Event()
        ready = threading.Barrier(3, timeout=30)

        def consume(n: int) -> None:
            with Connection(self.url, transport_options=dict(self.transport_options)) as conn:
                def on_message(body: Any, message: Any) -> None:
                    seen[n].append(body)
                    message.ack()
                with Consumer(conn, [queue], callbacks=[on_message], prefetch_count=5):
                    ready.wait()
                    deadline = time.monotonic() + 60
                    while not done.is_set() and time.monotonic() < deadline:
                        try:
                            conn.drain_events(timeout=0.2)
                        except OSError:  # socket.timeout
                            if len(seen[0]) + len(seen[1]) >= total:
                                done.set()

        threads = [threading.Thread(target=consume, args=(n,)) for n in (0, 1)]
        for thread in threads:
            thread.start()
        ready.wait()  # both consume: now they race for every message
        self.publish(producer_conn, list(range(total)), routing_key=queue.routing_key)
        for thread in threads:
            thread.join(90)
        first, second = seen
        assert len(first) + len(second) == total
        assert not set(first) & set(second)
        assert sorted(first + second) == list(range(total))
        assert self.size(producer_conn, queue) == 0

    def test_fanout_binding_shared_across_connections(self) -> None:
        # The bindings are in the store: a connection that never declared the
        # exchange or the queues routes to them all.
        conn = self.connection()
        exchange = self.exchange('fanout')
        queues = [self.queue(exchange) for _ in range(3)]
        self.declare(conn, exchange, *queues)
        other = Connection(self.url, transport_options=dict(self.transport_options))
        self._connections.append(other)
        Producer(other.default_channel).publish(
            'to-all', exchange=exchange.name, routing_key='', serializer='json')
        for queue in queues:
            assert self.get_eventually(conn, queue, 1) == ['to-all']

    def test_unacked_restored_after_visibility_timeout(self) -> None:
        queue = self.queue()
        conn = self.connection()
        self.declare(conn, queue)
        self.publish(conn, ['held'], routing_key=queue.routing_key)
        options = dict(self.transport_options, visibility_timeout=self.short_visibility)
        gone = Connection(self.url, transport_options=options)
        message = queue.bind(gone.default_channel).get(no_ack=False)
        assert message is not None and message.payload == 'held'
        self.vanish(gone)
        survivor = Connection(self.url, transport_options=options)
        self._connections.append(survivor)
        bound = queue.bind(survivor.default_channel)
        assert bound.get() is None  # still claimed
        again = self._get_one(bound, timeout=self.short_visibility * 2 + 5)
        assert again.payload == 'held'
        again.ack()
        assert bound.get() is None

    def test_consumer_with_full_prefetch_keeps_its_messages(self) -> None:
        # The consumer holds its one prefetched message unacked for twice the
        # visibility timeout while it keeps draining: its claim is renewed, so
        # no other consumer gets the message meanwhile.
        queue = self.queue()
        conn = self.connection()
        self.declare(conn, queue)
        self.publish(conn, ['mine', 'next'], routing_key=queue.routing_key)
        options = dict(self.transport_options, visibility_timeout=self.short_visibility)
        holder = Connection(self.url, transport_options=options)
        self._connections.append(holder)
        held: list[Any] = []
        consumer = Consumer(holder, [queue], callbacks=[lambda b, m: held.append(m)],
                            prefetch_count=1)
        consumer.consume()
        self.drain(holder, lambda: len(held) == 1)
        other = Connection(self.url, transport_options=options)
        self._connections.append(other)
        other_bound = queue.bind(other.default_channel)
        taken = other_bound.get(no_ack=False)
        assert taken is not None and taken.payload == 'next'
        taken.ack()
        deadline = time.monotonic() + 2 * self.short_visibility + 0.5
        while time.monotonic() < deadline:
            try:
                holder.drain_events(timeout=0.2)
            except OSError:  # socket.timeout: prefetch is full
                pass
            assert other_bound.get() is None
        assert [m.payload for m in held] == ['mine']
        held[0].ack()
        consumer.cancel()


class WakesOnPublishCases(ConformanceSuite):
    """For transports whose idle consumers wait on the store (a watch, a blocking
    query) rather than sleep ``polling_interval``: a publish wakes them."""

    def test_publish_wakes_a_waiting_consumer(self) -> None:
        # polling_interval 3 s (etcd's default in Kombu): the wait ends long before.
        queue = self.queue()
        options = dict(self.transport_options, polling_interval=3)
        conn = Connection(self.url, transport_options=options)
        self._connections.append(conn)
        self.declare(conn, queue)
        got: list[float] = []
        with Consumer(conn, [queue], callbacks=[lambda b, m: (got.append(time.monotonic()),
                                                               m.ack())]):
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.3)  # one empty poll: now it watches
            sent = [0.0]

            def publish() -> None:
                sent[0] = time.monotonic()
                self.publish(self.connection(), ['wake'], routing_key=queue.routing_key)
            timer = threading.Timer(0.5, publish)
            timer.start()
            conn.drain_events(timeout=5)
            timer.join()
        assert got and got[0] - sent[0] < 1.0
