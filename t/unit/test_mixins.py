from __future__ import annotations

import logging
import threading
import time

import pytest

from kombu import Connection, Exchange, Producer, Queue
from kombu.exceptions import ConnectionError as KombuConnectionError
from kombu.mixins import ConsumerMixin, ConsumerProducerMixin
from kombu.utils.limits import TokenBucket


def _publish(name, payloads):
    with Connection('memory://') as conn:
        producer = conn.Producer()
        for payload in payloads:
            producer.publish(payload, exchange=name, routing_key=name, serializer='json')


def _declare(name):
    queue = Queue(name, Exchange(name, type='direct'), routing_key=name)
    with Connection('memory://') as conn:
        queue(conn.default_channel).declare()
    return queue


class Counter(ConsumerMixin):
    """Consumes ``expected`` messages from ``queue`` then stops."""

    def __init__(self, connection, queue, expected):
        self.connection = connection
        self.queue = queue
        self.expected = expected
        self.received = []
        self.events = []

    def get_consumers(self, Consumer, channel):
        return [Consumer(queues=[self.queue], callbacks=[self.on_message],
                         accept=['json'])]

    def on_message(self, body, message):
        self.received.append(body)
        message.ack()
        if len(self.received) >= self.expected:
            self.should_stop = True

    def on_connection_revived(self):
        self.events.append('revived')

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self.events.append(('ready', len(consumers), kwargs.get('marker')))

    def on_consume_end(self, connection, channel):
        self.events.append('end')

    @property
    def restart_limit(self):
        # Unit tests reconnect without waiting a second per restart.
        return self._bucket

    _bucket = TokenBucket(1000, capacity=1000)


def _run_in_thread(worker, **kwargs):
    thread = threading.Thread(target=worker.run, kwargs=kwargs, daemon=True)
    thread.start()
    return thread


def test_consumes_n_messages_then_stops(uname):
    name = uname('mixin')
    queue = _declare(name)
    _publish(name, [{'i': i} for i in range(20)])
    with Connection('memory://') as conn:
        worker = Counter(conn, queue, expected=20)
        thread = _run_in_thread(worker, safety_interval=0.05)
        thread.join(10)
        assert not thread.is_alive()
    assert worker.received == [{'i': i} for i in range(20)]
    assert worker.events[0] == 'revived'
    assert worker.events[1] == ('ready', 1, None)
    assert worker.events[-1] == 'end'
    with Connection('memory://') as conn:
        assert queue(conn.default_channel).queue_declare(passive=True).message_count == 0


def test_should_stop_from_outside_returns_promptly(uname):
    name = uname('mixin')
    queue = _declare(name)
    with Connection('memory://') as conn:
        worker = Counter(conn, queue, expected=10**6)
        thread = _run_in_thread(worker, safety_interval=0.05)
        _publish(name, [1, 2, 3])
        for _ in range(200):
            if len(worker.received) == 3:
                break
            threading.Event().wait(0.02)
        worker.should_stop = True
        thread.join(10)
        assert not thread.is_alive()
    assert worker.received == [1, 2, 3]


def test_consume_limit_and_kwargs_reach_on_consume_ready(uname):
    name = uname('mixin')
    queue = _declare(name)
    _publish(name, list(range(5)))
    with Connection('memory://') as conn:
        worker = Counter(conn, queue, expected=100)
        yielded = sum(1 for _ in worker.consume(limit=3, safety_interval=0.05, marker='m'))
    assert yielded == 3
    assert worker.received == [0, 1, 2]
    assert ('ready', 1, 'm') in worker.events


def test_consume_timeout_raises_socket_timeout(uname):
    import socket
    queue = _declare(uname('mixin'))
    with Connection('memory://') as conn:
        worker = Counter(conn, queue, expected=1)
        with pytest.raises(socket.timeout):
            for _ in worker.consume(timeout=0.2, safety_interval=0.05):
                pass


class Flaky(Counter):
    """Each fresh connection fails once in drain_events after ``fail_after`` calls."""

    fail_after = 3
    failures_left = 2

    def create_connection(self):
        conn = super().create_connection()
        real_drain = conn.drain_events
        calls = [0]
        owner = self

        def drain_events(**kwargs):
            calls[0] += 1
            if owner.failures_left and calls[0] > owner.fail_after:
                owner.failures_left -= 1
                raise KombuConnectionError('injected: connection reset by peer')
            return real_drain(**kwargs)
        conn.drain_events = drain_events
        return conn


def test_survives_connection_errors_without_losing_messages(uname, caplog):
    name = uname('mixin')
    queue = _declare(name)
    total = 30
    _publish(name, list(range(total)))
    with Connection('memory://') as conn:
        worker = Flaky(conn, queue, expected=total)
        with caplog.at_level(logging.WARNING, logger='kombu.mixins'):
            thread = _run_in_thread(worker, safety_interval=0.05)
            thread.join(20)
        assert not thread.is_alive()
    assert worker.failures_left == 0
    assert sorted(worker.received) == list(range(total))
    assert len(worker.received) == total  # exactly once each
    assert worker.events.count('revived') == 3  # first connect + two reconnects
    lost = [r for r in caplog.records if 'Connection to broker lost' in r.getMessage()]
    assert len(lost) == 2
    assert all(r.levelno == logging.WARNING for r in lost)


def test_unacked_message_of_a_lost_connection_is_redelivered(uname):
    name = uname('mixin')
    queue = _declare(name)
    _publish(name, ['a', 'b'])

    class AckAfterFailure(Counter):
        broke = False

        def on_message(self, body, message):
            if not self.broke:
                # Die before acking: the broker must give the message back.
                self.broke = True
                raise KombuConnectionError('injected mid-message')
            super().on_message(body, message)

    with Connection('memory://') as conn:
        worker = AckAfterFailure(conn, queue, expected=2)
        thread = _run_in_thread(worker, safety_interval=0.05)
        thread.join(20)
        assert not thread.is_alive()
    assert sorted(worker.received) == ['a', 'b']


def test_restart_limit_and_error_properties():
    with Connection('memory://') as conn:
        class Plain(ConsumerMixin):
            connection = conn
        mixin = Plain()
        assert isinstance(mixin.restart_limit, TokenBucket)
        assert mixin.restart_limit is mixin.restart_limit
        assert mixin.connection_errors == conn.connection_errors
        assert mixin.channel_errors == conn.channel_errors
        assert mixin.connect_max_retries is None
        assert mixin.should_stop is False
        with pytest.raises(NotImplementedError):
            mixin.get_consumers(None, None)
        assert mixin.maybe_conn_error(lambda: 42) == 42

        def broken():
            raise conn.connection_errors[0]('gone')
        assert mixin.maybe_conn_error(broken) is None


def test_on_decode_error_logs_and_acks(uname, caplog):
    name = uname('mixin')
    queue = _declare(name)
    with Connection('memory://') as conn:
        Producer(conn).publish('{not json', exchange=name, routing_key=name,
                               content_type='application/json', content_encoding='utf-8',
                               serializer=None)

        class Decoder(Counter):
            def get_consumers(self, Consumer, channel):
                return [Consumer(queues=[self.queue], callbacks=[self.on_message],
                                 accept=['json'])]

            def on_decode_error(self, message, exc):
                super().on_decode_error(message, exc)
                self.received.append(('error', message.acknowledged))
                self.should_stop = True

        worker = Decoder(conn, queue, expected=1)
        with caplog.at_level(logging.ERROR, logger='kombu.mixins'):
            for _ in worker.consume(limit=5, safety_interval=0.05):
                if worker.should_stop:
                    break
    assert worker.received == [('error', True)]
    assert any("Can't decode message body" in r.getMessage() for r in caplog.records)


def test_consumer_producer_mixin_replies_on_its_own_connection(uname):
    name, reply_name = uname('mixin'), uname('reply')
    queue, reply_queue = _declare(name), _declare(reply_name)
    _publish(name, [1, 2, 3])

    class Doubler(ConsumerProducerMixin, Counter):
        def on_message(self, body, message):
            self.producer.publish(body * 2, exchange=reply_name, routing_key=reply_name,
                                  serializer='json')
            self.connections_used.add(id(self.producer_connection))
            super().on_message(body, message)

    with Connection('memory://') as conn:
        worker = Doubler(conn, queue, expected=3)
        worker.connections_used = set()
        thread = _run_in_thread(worker, safety_interval=0.05)
        thread.join(10)
        assert not thread.is_alive()
        assert len(worker.connections_used) == 1
        assert worker._producer_connection is None  # closed by on_consume_end
        with conn.SimpleQueue(reply_queue) as replies:
            got = sorted(replies.get(timeout=2).payload for _ in range(3))
    assert got == [2, 4, 6]


def test_heartbeats_checked_while_messages_keep_arriving(uname):
    name = uname('mixin')
    queue = _declare(name)
    checks = []

    class Busy(Counter):
        def create_connection(self):
            conn = super().create_connection()
            real = conn.heartbeat_check

            def heartbeat_check(*args, **kwargs):
                checks.append(time.monotonic())
                return real(*args, **kwargs)
            conn.heartbeat_check = heartbeat_check
            return conn

    stop_publishing = threading.Event()

    def publish_steadily():
        with Connection('memory://') as conn:
            producer = conn.Producer()
            i = 0
            while not stop_publishing.is_set():
                producer.publish(i, exchange=name, routing_key=name, serializer='json')
                i += 1
                time.sleep(0.005)

    publisher = threading.Thread(target=publish_steadily, daemon=True)
    publisher.start()
    try:
        with Connection('memory://') as conn:
            worker = Busy(conn, queue, expected=10**9)
            # safety_interval is never reached by a wait: messages come every 5 ms.
            timer = threading.Timer(0.6, lambda: setattr(worker, 'should_stop', True))
            timer.start()
            worker.run(safety_interval=0.1)
            timer.join()
    finally:
        stop_publishing.set()
        publisher.join(5)
    assert len(worker.received) > 20
    assert len(checks) >= 3
