"""Transport conformance suite: the same behaviour over every transport.

Subclass :class:`ConformanceSuite` in ``t/integration/test_conformance_<name>.py``::

    class TestMemoryConformance(ConformanceSuite):
        url = 'memory://'

Only Kombu's public API is used (Connection, Exchange, Queue, Producer,
Consumer, Message.ack/reject/requeue), so any transport can run it.  The
cases reach it through :attr:`ConformanceSuite.api` (``self.Consumer``,
``self.Producer``, ``self.bind``, ``self.connection``): the sync API by
default, or :class:`~t.integration.conformance.async_api.AsyncAPI`, which
runs the same cases through :mod:`kombu.asyncio`, awaited.  A case
is skipped only when the subclass declares the capability absent with one of
the ``supports_*`` flags below (each such setting must name the broker
limitation in a comment), or when ``Transport.implements.exchange_type``
lacks the exchange type.  Every test uses unique names and deletes what it
declared.
"""
from __future__ import annotations

import socket
import time
from typing import Any, Callable

import pytest

from kombu import Connection, Exchange, Queue
from t.servers import unique_name

from .api import SyncAPI

#: Longest a test waits for something a broker does asynchronously.
WAIT = 5.0


class ConformanceSuite:
    """Behaviour every transport must show; parametrized by class attributes."""

    #: broker URL.
    url: str = 'memory://'

    #: the API the cases go through (connections, producers, consumers, bound entities).
    api: Any = SyncAPI

    #: transport options of every connection.
    transport_options: dict[str, Any] = {}

    #: optional features, all expected unless a subclass documents otherwise.
    supports_priority = True
    supports_ttl = True
    supports_dead_lettering = True
    supports_queue_expires = True
    supports_max_length = True
    supports_headers_exchange = True
    supports_fanout = True
    #: fanout copies wait in queues that have no consumer (false for pub/sub fanout).
    supports_fanout_without_consumers = True
    #: requeued/restored messages carry ``delivery_info['redelivered']``.
    reports_redelivered = True
    #: a requeued or restored message goes back to the tail of its queue, not the head
    #: (stores that cannot insert at the head: the checks then accept any order).
    requeues_to_tail = False
    #: ``drain_events()`` hands over one message per call, as Kombu's does.
    supports_one_per_drain = True
    #: order in which a queue hands out messages of different priorities:
    #: ``'amqp'`` highest first (RabbitMQ's ``x-max-priority``), or
    #: ``'lowest-first'`` (Redis as upstream Kombu and Celery document it:
    #: priority 0 first, one list per ``priority_steps`` step).  The case
    #: publishes 0, 3, 6 and 9, each in a step of its own with the default
    #: steps ``[0, 3, 6, 9]``, so both orders are total.
    priority_order = 'amqp'

    #: stored entries that are not envelopes, for :meth:`store_raw`: text that
    #: is not JSON, then values that are not a mapping, lack ``properties`` or
    #: hold it with the wrong type.
    corrupt_entries: tuple[Any, ...] = (
        '{not json', [1, 2], {'body': 'eA=='}, {'body': 'eA==', 'properties': 'x'})

    # -- plumbing ------------------------------------------------------------

    def ensure_server(self) -> None:
        """Skip (locally) or fail (in CI) when the broker is not running."""

    @pytest.fixture(autouse=True)
    def _conformance(self) -> Any:
        self.ensure_server()
        self._connections: list[Connection] = []
        self._queues: list[Queue] = []
        self._exchanges: list[Exchange] = []
        yield
        self._cleanup()

    def _cleanup(self) -> None:
        for conn in self._connections:
            try:
                conn.release()
            except Exception:  # a test may have closed it the hard way
                pass
        try:
            with self.connection() as conn:
                channel = conn.channel()
                for queue in self._queues:
                    try:
                        self.bind(queue, channel).delete()
                    except Exception:
                        channel = conn.channel()  # a failed delete closes AMQP channels
                for exchange in self._exchanges:
                    try:
                        self.bind(exchange, channel).delete()
                    except Exception:
                        channel = conn.channel()
        finally:
            self._connections.clear()

    def connection(self) -> Connection:
        """A new connection to the broker (closed at teardown)."""
        conn = self.api.connection(self.url, transport_options=dict(self.transport_options))
        self._connections.append(conn)
        return conn

    def Consumer(self, channel: Any, queues: list[Queue], **kwargs: Any) -> Any:
        """A consumer of :attr:`api` (``channel`` may be a connection)."""
        return self.api.Consumer(channel, queues, **kwargs)

    def Producer(self, conn: Connection) -> Any:
        """A producer of :attr:`api` on the default channel of ``conn``."""
        return self.api.Producer(conn)

    def bind(self, entity: Any, channel: Any) -> Any:
        """``entity`` bound to ``channel`` through :attr:`api`."""
        return self.api.bind(entity, channel)

    def exchange(self, type: str = 'direct', **kwargs: Any) -> Exchange:
        if type == 'headers':
            self.require('headers_exchange')
        if type == 'fanout':
            self.require('fanout')
        exchange = Exchange(unique_name(f'conf-{type}'), type, **kwargs)
        self._exchanges.append(exchange)
        return exchange

    def queue(self, exchange: Exchange | None = None, routing_key: str | None = None,
              **kwargs: Any) -> Queue:
        name = unique_name('conf-q')
        if exchange is None:
            exchange = Exchange('')  # the default exchange
            routing_key = name if routing_key is None else routing_key
        queue = Queue(name, exchange, routing_key=routing_key or '', **kwargs)
        self._queues.append(queue)
        return queue

    def require(self, feature: str) -> None:
        if not getattr(self, f'supports_{feature}'):
            pytest.skip(f'{type(self).__name__} declares {feature!r} unsupported')

    def require_exchange_type(self, conn: Connection, type: str) -> None:
        if not conn.supports_exchange_type(type):
            pytest.skip(f'the transport does not implement {type!r} exchanges')

    def declare(self, conn: Connection, *entities: Any) -> None:
        channel = conn.default_channel
        for entity in entities:
            self.bind(entity, channel).declare()

    def publish(self, conn: Connection, bodies: list[Any], exchange: Exchange | str = '',
                routing_key: str = '', **kwargs: Any) -> None:
        producer = self.Producer(conn)
        for body in bodies:
            producer.publish(body, exchange=exchange, routing_key=routing_key,
                             serializer='json', **kwargs)

    def get_all(self, conn: Connection, queue: Queue, ack: bool = True) -> list[Any]:
        """Fetch every ready message of ``queue`` with basic_get."""
        bound = self.bind(queue, conn.default_channel)
        got = []
        while True:
            message = bound.get(no_ack=False)
            if message is None:
                return got
            got.append(message.payload)
            if ack:
                message.ack()

    def get_eventually(self, conn: Connection, queue: Queue, count: int,
                       timeout: float = WAIT) -> list[Any]:
        """basic_get until ``count`` messages arrived (brokers may route async)."""
        got: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            more = self.get_all(conn, queue)
            got.extend(more)
            if not more:
                time.sleep(0.02)
        return got

    def size(self, conn: Connection, queue: Queue) -> int:
        return self.bind(queue, conn.default_channel).queue_declare(passive=True).message_count

    def drain(self, conn: Connection, until: Callable[[], bool],
              timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError('messages did not arrive in time')
            try:
                conn.drain_events(timeout=min(remaining, 0.5))
            except socket.timeout:
                pass

    def store_raw(self, conn: Connection, queue: Queue, entry: Any) -> None:
        """Put ``entry`` (one of :attr:`corrupt_entries`) in ``queue`` as stored
        data, past the envelope: a subclass that can reach its store does."""
        pytest.skip(f'{type(self).__name__} cannot store a raw entry')

    def assert_no_delivery(self, conn: Connection, timeout: float = 0.3) -> None:
        with pytest.raises(socket.timeout):
            conn.drain_events(timeout=timeout)

    # -- basics --------------------------------------------------------------

    def test_publish_consume_ack(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        self.publish(conn, [{'n': i} for i in range(10)], routing_key=queue.routing_key)
        got: list[Any] = []

        def on_message(body: Any, message: Any) -> None:
            got.append(body)
            message.ack()

        with self.Consumer(conn, [queue], callbacks=[on_message]):
            self.drain(conn, lambda: len(got) == 10)
        assert got == [{'n': i} for i in range(10)]
        assert self.size(conn, queue) == 0

    def test_basic_get(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        bound = self.bind(queue, conn.default_channel)
        assert bound.get() is None
        self.publish(conn, ['a'], routing_key=queue.routing_key)
        message = self._get_one(bound)
        assert message.payload == 'a'
        message.ack()
        assert bound.get() is None

    def _get_one(self, bound: Queue, timeout: float = WAIT) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = bound.get(no_ack=False)
            if message is not None:
                return message
            time.sleep(0.02)
        raise AssertionError('no message')

    def test_message_fields_round_trip(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        producer = self.Producer(conn)
        producer.publish(b'\x00\x01binary\xff', routing_key=queue.routing_key,
                         content_type='application/data', content_encoding='binary',
                         headers={'h': 'v', 'n': 1}, correlation_id='corr-1',
                         reply_to='reply-q', delivery_mode=2)
        producer.publish({'text': 'h\xe9llo \u2603'}, routing_key=queue.routing_key,
                         serializer='json', compression='zlib')
        bound = self.bind(queue, conn.default_channel)
        first = self._get_one(bound)
        assert first.body == b'\x00\x01binary\xff'
        assert first.content_type == 'application/data'
        assert first.headers['h'] == 'v' and first.headers['n'] == 1
        assert first.properties['correlation_id'] == 'corr-1'
        assert first.properties['reply_to'] == 'reply-q'
        assert first.delivery_info['routing_key'] == queue.routing_key
        first.ack()
        second = self._get_one(bound)
        assert second.payload == {'text': 'h\xe9llo \u2603'}
        second.ack()

    def test_reject_drops_message(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        self.publish(conn, ['a', 'b'], routing_key=queue.routing_key)
        bound = self.bind(queue, conn.default_channel)
        self._get_one(bound).reject()
        assert self.get_all(conn, queue) == ['b']

    def test_requeue_redelivers(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        self.publish(conn, ['a', 'b'], routing_key=queue.routing_key)
        bound = self.bind(queue, conn.default_channel)
        message = self._get_one(bound)
        assert message.payload == 'a'
        message.requeue()
        if self.requeues_to_tail:
            assert sorted(self.get_eventually(conn, queue, 2)) == ['a', 'b']
            assert self.get_all(conn, queue) == []
            return
        again = self._get_one(bound)
        assert again.payload == 'a'
        if self.reports_redelivered:
            assert again.delivery_info.get('redelivered') is True
        again.ack()
        assert self.get_all(conn, queue) == ['b']

    def test_purge(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        self.publish(conn, list(range(5)), routing_key=queue.routing_key)
        self._wait_size(conn, queue, 5)
        assert self.bind(queue, conn.default_channel).purge() == 5
        assert self.size(conn, queue) == 0
        assert self.get_all(conn, queue) == []

    def _wait_size(self, conn: Connection, queue: Queue, expected: int) -> None:
        deadline = time.monotonic() + WAIT
        while self.size(conn, queue) != expected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.size(conn, queue) == expected

    def test_queue_size(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        assert self.size(conn, queue) == 0
        self.publish(conn, list(range(3)), routing_key=queue.routing_key)
        self._wait_size(conn, queue, 3)
        ok = self.bind(queue, conn.default_channel).queue_declare()
        assert ok.message_count == 3

    def test_passive_declare_of_missing_queue_fails(self) -> None:
        conn = self.connection()
        queue = Queue(unique_name('conf-missing'), Exchange(''), routing_key='x')
        with pytest.raises(conn.channel_errors):
            self.bind(queue, conn.channel()).queue_declare(passive=True)

    def test_drain_events_timeout(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        with self.Consumer(conn, [queue], callbacks=[lambda body, message: None]):
            start = time.monotonic()
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.3)
            elapsed = time.monotonic() - start
        assert 0.25 <= elapsed < 3

    def test_drain_events_delivers_one_message_per_call(self) -> None:
        # Code that drains once per expected message (with a timeout) relies on
        # it, as with Kombu; whatever a transport fetches at once waits.
        self.require('one_per_drain')
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        self.publish(conn, list(range(5)), routing_key=queue.routing_key)
        got: list[Any] = []
        with self.Consumer(conn, [queue], callbacks=[lambda body, m: (got.append(body),
                                                                 m.ack())]):
            for calls in range(1, 6):
                deadline = time.monotonic() + WAIT
                while True:  # a broker may not have the message ready at once
                    try:
                        conn.drain_events(timeout=0.5)
                        break
                    except socket.timeout:
                        assert time.monotonic() < deadline, 'messages did not arrive'
                assert len(got) == calls, f'one drain_events() delivered {got}'
        assert sorted(got) == [0, 1, 2, 3, 4]

    def test_corrupt_entries_reach_on_decode_error(self) -> None:
        # Issue 12: each stored entry that is not an envelope becomes a message
        # carrying a DecodeError for on_decode_error; good ones around it (and
        # fetched with it) are delivered.
        from kombu.exceptions import DecodeError
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        self.publish(conn, ['before'], routing_key=queue.routing_key)
        for entry in self.corrupt_entries:
            self.store_raw(conn, queue, entry)
        self.publish(conn, ['after'], routing_key=queue.routing_key)
        got: list[Any] = []
        errors: list[BaseException] = []

        def on_decode_error(message: Any, exc: BaseException) -> None:
            errors.append(exc)
            if len(errors) == 1:
                message.requeue()   # goes back as it was stored: fails again
            else:
                message.ack()   # dropped

        expected = len(self.corrupt_entries) + 1
        with self.Consumer(conn, [queue], callbacks=[lambda body, m: (got.append(body), m.ack())],
                      on_decode_error=on_decode_error, prefetch_count=10):
            self.drain(conn, lambda: len(got) == 2 and len(errors) == expected)
        assert sorted(got) == ['after', 'before']
        assert len(errors) == expected
        assert all(isinstance(exc, DecodeError) for exc in errors), errors
        assert self.get_all(conn, queue) == []

    def test_several_queues_one_consumer(self) -> None:
        conn = self.connection()
        queues = [self.queue() for _ in range(3)]
        self.declare(conn, *queues)
        for n, queue in enumerate(queues):
            self.publish(conn, [f'{n}-a', f'{n}-b'], routing_key=queue.routing_key)
        got: list[Any] = []
        with self.Consumer(conn, queues, callbacks=[lambda b, m: (got.append(b), m.ack())]):
            self.drain(conn, lambda: len(got) == 6)
        assert sorted(got) == sorted(f'{n}-{x}' for n in range(3) for x in 'ab')
        for n in range(3):  # FIFO within each queue
            assert [b for b in got if b.startswith(f'{n}-')] == [f'{n}-a', f'{n}-b']

    def test_cancel_stops_delivery(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        got: list[Any] = []
        consumer = self.Consumer(conn, [queue], callbacks=[lambda b, m: (got.append(b), m.ack())])
        consumer.consume()
        self.publish(conn, ['a'], routing_key=queue.routing_key)
        self.drain(conn, lambda: len(got) == 1)
        consumer.cancel()
        self.publish(conn, ['b'], routing_key=queue.routing_key)
        self._wait_size(conn, queue, 1)
        assert got == ['a']
        assert self.get_all(conn, queue) == ['b']

    def test_prefetch_count(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        self.publish(conn, list(range(5)), routing_key=queue.routing_key)
        got: list[Any] = []
        with self.Consumer(conn, [queue], callbacks=[lambda b, m: got.append(m)],
                      prefetch_count=2):
            self.drain(conn, lambda: len(got) == 2)
            self.assert_no_delivery(conn)
            assert len(got) == 2
            got[0].ack()
            self.drain(conn, lambda: len(got) == 3)
            self.assert_no_delivery(conn)
            for message in got[1:]:
                message.ack()
            self.drain(conn, lambda: len(got) == 5)
            for message in got[3:]:
                message.ack()
        assert [m.payload for m in got] == list(range(5))

    def test_no_ack_consumer(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        self.publish(conn, ['a', 'b'], routing_key=queue.routing_key)
        got: list[Any] = []
        with self.Consumer(conn, [queue], callbacks=[lambda b, m: got.append(b)], no_ack=True):
            self.drain(conn, lambda: len(got) == 2)
        conn.release()
        assert self.get_all(self.connection(), queue) == []

    def test_unacked_restored_when_channel_closes(self) -> None:
        queue = self.queue()
        producer_conn = self.connection()
        self.declare(producer_conn, queue)
        self.publish(producer_conn, ['a', 'b', 'c', 'd'], routing_key=queue.routing_key)
        conn = self.connection()
        channel = conn.channel()
        got: list[Any] = []
        consumer = self.Consumer(channel, [queue], callbacks=[lambda b, m: got.append(m)],
                            prefetch_count=3)
        consumer.consume()
        self.drain(conn, lambda: len(got) == 3)
        got[1].ack()
        channel.close()
        restored = self.get_eventually(self.connection(), queue, 3)
        if self.requeues_to_tail:
            restored.sort()
        assert restored == ['a', 'c', 'd']

    def test_unacked_restored_when_connection_closes(self) -> None:
        queue = self.queue()
        conn = self.connection()
        self.declare(conn, queue)
        self.publish(conn, ['a', 'b'], routing_key=queue.routing_key)
        got: list[Any] = []
        consumer = self.Consumer(conn, [queue], callbacks=[lambda b, m: got.append(m)])
        consumer.consume()
        self.drain(conn, lambda: len(got) == 2)
        conn.release()
        assert sorted(self.get_eventually(self.connection(), queue, 2)) == ['a', 'b']

    # -- routing -------------------------------------------------------------

    def test_direct_routing(self) -> None:
        conn = self.connection()
        exchange = self.exchange('direct')
        red, blue = self.queue(exchange, 'red'), self.queue(exchange, 'blue')
        also_red = self.queue(exchange, 'red')
        self.declare(conn, exchange, red, blue, also_red)
        self.publish(conn, ['r1'], exchange, 'red')
        self.publish(conn, ['b1'], exchange, 'blue')
        self.publish(conn, ['g1'], exchange, 'green')
        assert self.get_eventually(conn, red, 1) == ['r1']
        assert self.get_eventually(conn, also_red, 1) == ['r1']
        assert self.get_eventually(conn, blue, 1) == ['b1']

    def test_topic_routing(self) -> None:
        conn = self.connection()
        self.require_exchange_type(conn, 'topic')
        exchange = self.exchange('topic')
        stock = self.queue(exchange, '*.stock.#')
        exact = self.queue(exchange, 'usd.stock')
        everything = self.queue(exchange, '#')
        self.declare(conn, exchange, stock, exact, everything)
        keys = ['usd.stock', 'eur.stock.db', 'stock.nasdaq', 'usd.stock.x.y']
        for key in keys:
            self.publish(conn, [key], exchange, key)
        assert self.get_eventually(conn, everything, 4) == keys
        assert self.get_all(conn, stock) == ['usd.stock', 'eur.stock.db', 'usd.stock.x.y']
        assert self.get_all(conn, exact) == ['usd.stock']

    def test_unbind_stops_routing(self) -> None:
        conn = self.connection()
        exchange = self.exchange('direct')
        queue = self.queue(exchange, 'key')
        self.declare(conn, exchange, queue)
        self.publish(conn, ['before'], exchange, 'key')
        assert self.get_eventually(conn, queue, 1) == ['before']
        self.bind(queue, conn.default_channel).unbind_from(exchange, 'key')
        self.publish(conn, ['after'], exchange, 'key')
        time.sleep(0.2)
        assert self.get_all(conn, queue) == []

    def test_large_message_and_fifo_order(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        big = 'x' * (1024 * 1024)
        self.publish(conn, [big], routing_key=queue.routing_key)
        self.publish(conn, list(range(500)), routing_key=queue.routing_key)
        got = self.get_eventually(conn, queue, 501)
        assert got[0] == big
        assert got[1:] == list(range(500))

    def test_fanout_routing(self) -> None:
        conn = self.connection()
        self.require_exchange_type(conn, 'fanout')
        self.require('fanout_without_consumers')
        exchange = self.exchange('fanout')
        queues = [self.queue(exchange, key) for key in ('', 'x', 'y')]
        self.declare(conn, exchange, *queues)
        self.publish(conn, ['m1', 'm2'], exchange, 'anything')
        for queue in queues:
            assert self.get_eventually(conn, queue, 2) == ['m1', 'm2']

    def test_fanout_to_consumers(self) -> None:
        conn = self.connection()
        self.require_exchange_type(conn, 'fanout')
        exchange = self.exchange('fanout')
        queues = [self.queue(exchange) for _ in range(2)]
        self.declare(conn, exchange, *queues)
        got: list[Any] = []
        consumer_conn = self.connection()
        with self.Consumer(consumer_conn, queues,
                      callbacks=[lambda b, m: (got.append(b), m.ack())]):
            # one idle drain first: pub/sub transports subscribe when polled
            self.assert_no_delivery(consumer_conn, timeout=0.2)
            self.publish(conn, ['hello'], exchange, '')
            self.drain(consumer_conn, lambda: len(got) == 2)
        assert got == ['hello', 'hello']

    def test_headers_routing(self) -> None:
        conn = self.connection()
        self.require_exchange_type(conn, 'headers')
        exchange = self.exchange('headers')
        all_q = self.queue(exchange, '', binding_arguments={
            'x-match': 'all', 'format': 'pdf', 'type': 'report'})
        any_q = self.queue(exchange, '', binding_arguments={
            'x-match': 'any', 'format': 'pdf', 'type': 'log'})
        self.declare(conn, exchange, all_q, any_q)
        producer = self.Producer(conn)
        for body, headers in (('1', {'format': 'pdf', 'type': 'report'}),
                              ('2', {'format': 'pdf'}),
                              ('3', {'type': 'log'}),
                              ('4', {'format': 'zip'})):
            producer.publish(body, exchange=exchange, routing_key='', headers=headers,
                             serializer='json')
        assert self.get_eventually(conn, any_q, 3) == ['1', '2', '3']
        assert self.get_all(conn, all_q) == ['1']

    # -- priority, TTL, dead-lettering -----------------------------------------

    def test_priority(self) -> None:
        self.require('priority')
        conn = self.connection()
        queue = self.queue(max_priority=10)
        self.declare(conn, queue)
        for priority in (3, 6, 9, 0, 6):
            self.publish(conn, [f'p{priority}'], routing_key=queue.routing_key,
                         priority=priority)
        self._wait_size(conn, queue, 5)
        expected = {'amqp': ['p9', 'p6', 'p6', 'p3', 'p0'],
                    'lowest-first': ['p0', 'p3', 'p6', 'p6', 'p9']}[self.priority_order]
        assert self.get_all(conn, queue) == expected

    def test_message_expiration(self) -> None:
        self.require('ttl')
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        self.publish(conn, ['short'], routing_key=queue.routing_key, expiration=0.1)
        self.publish(conn, ['keep'], routing_key=queue.routing_key)
        self.publish(conn, ['long'], routing_key=queue.routing_key, expiration=60)
        time.sleep(0.4)
        assert self.get_all(conn, queue) == ['keep', 'long']

    def test_queue_message_ttl(self) -> None:
        self.require('ttl')
        conn = self.connection()
        queue = self.queue(message_ttl=0.2)
        self.declare(conn, queue)
        self.publish(conn, ['old'], routing_key=queue.routing_key)
        time.sleep(0.5)
        self.publish(conn, ['new'], routing_key=queue.routing_key)
        assert self.get_eventually(conn, queue, 1) == ['new']

    def _dead_letter_setup(self, conn: Connection, **queue_options: Any) -> tuple[Queue, Queue]:
        dlx = self.exchange('direct')
        dead = self.queue(dlx, 'dead-key')
        source = self.queue(queue_arguments={
            'x-dead-letter-exchange': dlx.name,
            'x-dead-letter-routing-key': 'dead-key'}, **queue_options)
        self.declare(conn, dlx, dead, source)
        return source, dead

    def test_dead_letter_on_expiry(self) -> None:
        self.require('ttl')
        self.require('dead_lettering')
        conn = self.connection()
        source, dead = self._dead_letter_setup(conn, message_ttl=0.1)
        self.publish(conn, ['expired'], routing_key=source.routing_key)
        time.sleep(0.3)
        assert self.get_all(conn, source) == []
        bound = self.bind(dead, conn.default_channel)
        message = self._get_one(bound)
        assert message.payload == 'expired'
        death = message.headers['x-death'][0]
        assert death['reason'] == 'expired' and death['queue'] == source.name
        message.ack()

    def test_dead_letter_on_reject(self) -> None:
        self.require('dead_lettering')
        conn = self.connection()
        source, dead = self._dead_letter_setup(conn)
        self.publish(conn, ['rejected', 'kept'], routing_key=source.routing_key)
        bound = self.bind(source, conn.default_channel)
        self._get_one(bound).reject(requeue=False)
        message = self._get_one(self.bind(dead, conn.default_channel))
        assert message.payload == 'rejected'
        assert message.delivery_info['routing_key'] == 'dead-key'
        assert message.headers['x-death'][0]['reason'] == 'rejected'
        message.ack()
        assert self.get_all(conn, source) == ['kept']

    def test_max_length_drops_oldest(self) -> None:
        self.require('max_length')
        conn = self.connection()
        queue = self.queue(max_length=2)
        self.declare(conn, queue)
        self.publish(conn, ['a', 'b', 'c', 'd'], routing_key=queue.routing_key)
        time.sleep(0.1)
        assert self.get_eventually(conn, queue, 2) == ['c', 'd']

    def test_queue_expires(self) -> None:
        self.require('queue_expires')
        conn = self.connection()
        queue = self.queue(expires=0.3)
        self.declare(conn, queue)
        time.sleep(1.0)
        with pytest.raises(conn.channel_errors):
            self.bind(queue, conn.channel()).queue_declare(passive=True)
