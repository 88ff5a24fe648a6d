"""SimpleQueue, ConsumerMixin and pidbox on the real brokers (shared Redis and RabbitMQ)."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from kombu import Connection, Exchange, Queue, pidbox
from kombu.mixins import ConsumerMixin
from t.servers import require_server

pytestmark = pytest.mark.integration


@pytest.fixture(params=['redis', 'amqp'])
def broker_url(request):
    if request.param == 'amqp':
        require_server('RabbitMQ', '127.0.0.1', 5672, 'bash .ci/start-servers')
        return 'amqp://guest:guest@127.0.0.1:5672//'
    return request.getfixturevalue('redis_url')  # t/integration/conftest.py


def test_simple_queue(broker_url, uname):
    name = uname('simple')
    with Connection(broker_url) as conn:
        q = conn.SimpleQueue(name)
        try:
            for i in range(10):
                q.put({'i': i})
            _wait(lambda: q.qsize() == 10, 5)
            got = []
            for _ in range(6):
                message = q.get(timeout=5)
                got.append(message.payload['i'])
                message.ack()
            assert got == list(range(6))
            assert q.clear() == 4 - _in_flight(q)
            _drain_buffer(q)
            start = time.monotonic()
            with pytest.raises(q.Empty):
                q.get(timeout=0.3)
            elapsed = time.monotonic() - start
            assert 0.3 <= elapsed < 3
        finally:
            q.close()
            q.queue(conn.default_channel).delete()


def _in_flight(q):
    # Messages prefetched into the consumer buffer are no longer in the queue.
    return len(q.buffer)


def _drain_buffer(q):
    while q.buffer:
        q.buffer.popleft().ack()


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.02)


class Collector(ConsumerMixin):
    def __init__(self, connection, queue, expected):
        self.connection = connection
        self.queue = queue
        self.expected = expected
        self.received = []

    def get_consumers(self, Consumer, channel):
        return [Consumer([self.queue], callbacks=[self.on_message], accept=['json'],
                         prefetch_count=10)]

    def on_message(self, body, message):
        message.ack()
        self.received.append(body)
        if len(self.received) >= self.expected:
            self.should_stop = True


def test_consumer_mixin_consumes_all_then_stops(broker_url, uname):
    name = uname('mixin')
    queue = Queue(name, Exchange(name), routing_key=name)
    with Connection(broker_url) as conn:
        queue(conn.default_channel).declare()
        try:
            producer = conn.Producer(serializer='json')
            for i in range(50):
                producer.publish(i, exchange=queue.exchange, routing_key=name)
            worker = Collector(conn, queue, 50)
            thread = threading.Thread(target=worker.run, kwargs={'safety_interval': 0.1},
                                      daemon=True)
            thread.start()
            thread.join(30)
            assert not thread.is_alive()
            assert worker.received == list(range(50))
        finally:
            queue(conn.default_channel).delete()


class Node(threading.Thread):
    def __init__(self, url, mailbox, hostname):
        super().__init__(daemon=True)
        self.connection = Connection(url)
        self.node = mailbox(self.connection).Node(hostname, state={'hits': 0})
        self.node.handlers['ping'] = lambda state: 'pong'
        self.node.handlers['hit'] = self._hit
        self.halt, self.ready = threading.Event(), threading.Event()

    @staticmethod
    def _hit(state):
        state['hits'] += 1
        return state['hits']

    def run(self):
        try:
            self.node.channel = self.connection.channel()
            with self.node.listen():
                while not self.halt.is_set():
                    try:
                        self.connection.drain_events(timeout=0.1)
                    except socket.timeout:
                        pass
                    self.ready.set()
        finally:
            self.connection.release()


def test_pidbox_multi_call_and_cast(broker_url, uname):
    namespace = uname('pidbox').replace('.', '-')
    mailbox = pidbox.Mailbox(namespace, type='fanout', accept=['json'])
    nodes = [Node(broker_url, mailbox, f'n{i}@h') for i in range(3)]
    for node in nodes:
        node.start()
    try:
        for node in nodes:
            assert node.ready.wait(10)
        with Connection(broker_url) as conn:
            bound = mailbox(conn)
            replies = bound.multi_call('ping', timeout=10, limit=3)
            assert sorted(replies, key=str) == [{'n0@h': 'pong'}, {'n1@h': 'pong'},
                                                {'n2@h': 'pong'}]
            bound.cast(['n1@h'], 'hit')
            hits = bound.multi_call('hit', timeout=10, limit=3)
            assert {k: v for r in hits for k, v in r.items()} == {
                'n0@h': 1, 'n1@h': 2, 'n2@h': 1}
    finally:
        for node in nodes:
            node.halt.set()
            node.join(10)
