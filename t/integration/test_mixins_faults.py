"""ConsumerMixin against a private redis-server that the test kills and restarts.

The server keeps an append-only file fsynced on every write, so a SIGKILL loses
nothing the broker acknowledged; the test then counts that every message
published is consumed (and acknowledged) exactly once across the restarts.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter

import pytest
import redis

from kombu import Connection, Exchange, Queue
from kombu.mixins import ConsumerMixin
from t.integration.private_redis import ping, redis_server_binary
from t.servers import free_port

pytestmark = pytest.mark.integration


class DurableRedis:
    """redis-server on a spare port whose data survives SIGKILL (AOF, fsync always)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix='kombu-mixin-redis-')
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            [redis_server_binary(), '--bind', '127.0.0.1', '--port', str(self.port),
             '--dir', self.dir, '--save', '', '--appendonly', 'yes',
             '--appendfsync', 'always'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f'redis-server did not start on port {self.port}')
            time.sleep(0.02)

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait(10)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def redis_server():
    server = DurableRedis()
    server.start()
    yield server
    server.close()


class Recorder(ConsumerMixin):
    """Acks, then records; can hold one message in its callback until released."""

    def __init__(self, connection, queue, hold_at):
        self.connection = connection
        self.queue = queue
        self.received: list[int] = []
        self.hold_at = hold_at
        self.holding = threading.Event()
        self.release = threading.Event()
        self.connects = 0

    def get_consumers(self, Consumer, channel):
        return [Consumer(queues=[self.queue], callbacks=[self.on_message],
                         accept=['json'], prefetch_count=1)]

    def on_connection_revived(self):
        self.connects += 1

    def on_message(self, body, message):
        if body == self.hold_at and not self.release.is_set():
            # The broker dies while this message is delivered but not acked.
            self.holding.set()
            self.release.wait(30)
        message.ack()  # kept by the transport until Redis confirms it, across reconnects
        self.received.append(body)


def _publish(url, queue, payloads):
    with Connection(url) as conn:
        producer = conn.Producer(serializer='json')
        for payload in payloads:
            producer.publish(payload, exchange=queue.exchange, routing_key=queue.routing_key,
                             declare=[queue], retry=True)


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out waiting for {what}')
        time.sleep(0.02)


def test_consumer_mixin_survives_redis_kill_and_restart(redis_server, uname):
    url = f'redis://127.0.0.1:{redis_server.port}/0'
    name = uname('mixin-faults')
    queue = Queue(name, Exchange(name, type='direct'), routing_key=name)
    options = {'visibility_timeout': 2, 'unacked_restore_throttle': 1}

    _publish(url, queue, range(0, 40))
    conn = Connection(url, transport_options=options)
    worker = Recorder(conn, queue, hold_at=20)
    thread = threading.Thread(target=worker.run, kwargs={'safety_interval': 0.2},
                              daemon=True)
    thread.start()
    try:
        # Fault 1: killed while a delivered message is still unacknowledged.
        assert worker.holding.wait(30), 'consumer never reached the held message'
        redis_server.kill()
        time.sleep(0.3)
        redis_server.start()
        worker.release.set()
        _publish(url, queue, range(40, 80))
        _wait_for(lambda: len(set(worker.received)) >= 80, 60, '80 messages')

        # Fault 2: killed while the consumer waits on an empty queue.
        redis_server.kill()
        time.sleep(0.3)
        redis_server.start()
        _publish(url, queue, range(80, 100))
        _wait_for(lambda: len(set(worker.received)) >= 100, 60, '100 messages')
        time.sleep(2.5)  # a duplicate would show up after the visibility timeout
    finally:
        worker.should_stop = True
        worker.release.set()
        thread.join(30)
        conn.release()
    assert not thread.is_alive()

    counts = Counter(worker.received)
    assert sorted(counts) == list(range(100)), 'a message was lost'
    twice = [m for m, n in counts.items() if n > 1]
    assert not twice, f'consumed twice: {twice}'
    assert worker.connects >= 3  # the first connection and one per restart
    client = redis.Redis(port=redis_server.port)
    try:
        assert client.llen(name) == 0
        assert client.hlen('unacked') == 0  # nothing left waiting for an ack
    finally:
        client.close()
