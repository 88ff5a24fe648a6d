"""Connections closed by RabbitMQ mid-traffic: nothing confirmed to a publisher is lost.

The shared broker cannot be restarted, so the fault is a server-side
``rabbitmqctl close_connection`` of only the connections this test opened
(found by the unique ``connection_name`` they announce).
"""
from __future__ import annotations

import threading
import time

import pytest

from kombu import Connection, Producer, Queue
from kombu.mixins import ConsumerMixin
from t.integration.rabbitmq.broker import (
    amqp_url,
    close_connections_named,
    connection_pids,
    private_vhost,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RETRY_POLICY = {'max_retries': 20, 'interval_start': 0, 'interval_step': 0.1,
                'interval_max': 0.5}


@pytest.fixture(scope='module')
def vhost():
    with private_vhost('fault') as name:
        yield name


class Killer(threading.Thread):
    """Close the named connections from the server side ``times`` times."""

    def __init__(self, name: str, times: int, every: float = 0.4) -> None:
        super().__init__(daemon=True)
        self.name, self.times, self.every = name, times, every
        self.closed = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while self.closed < self.times and not self.stopped.wait(self.every):
            self.closed += close_connections_named(self.name)


def drain_queue(url: str, queue: Queue, idle: float = 1.0) -> list:
    bodies = []
    with Connection(url) as conn:
        bound = queue(conn.default_channel)
        last = time.monotonic()
        while time.monotonic() - last < idle:
            message = bound.get(no_ack=True)
            if message is None:
                time.sleep(0.05)
                continue
            bodies.append(message.payload)
            last = time.monotonic()
    return bodies


def test_publishing_loop_survives_server_side_closes(vhost, uname):
    url = amqp_url(vhost)
    name = uname('fault-pub')
    queue = Queue(uname('fault-pubq'), durable=True)
    confirmed = []
    with Connection(url, transport_options={'confirm_publish': True,
                                            'connection_name': name}) as conn:
        producer = Producer(conn)
        producer.publish('warmup', routing_key=queue.name, declare=[queue], retry=True,
                         retry_policy=RETRY_POLICY)
        killer = Killer(name, times=2, every=0.2)
        killer.start()
        deadline = time.monotonic() + 20
        i = 0
        while (killer.closed < 2 or i < 300) and time.monotonic() < deadline:
            producer.publish({'i': i}, routing_key=queue.name, declare=[queue], retry=True,
                             retry_policy=RETRY_POLICY, confirm_timeout=5)
            confirmed.append(i)  # returned: the broker confirmed it
            i += 1
        killer.stopped.set()
        killer.join(5)
    assert killer.closed >= 2, 'the connection was never closed under the publisher'
    received = {body['i'] for body in drain_queue(url, queue) if body != 'warmup'}
    lost = set(confirmed) - received
    assert not lost, f'{len(lost)} confirmed messages lost, e.g. {sorted(lost)[:5]}'


class CountingWorker(ConsumerMixin):
    def __init__(self, connection: Connection, queue: Queue, expected: int) -> None:
        self.connection = connection
        self.queue = queue
        self.expected = expected
        self.seen: set = set()
        self.errors: list = []

    def get_consumers(self, Consumer, channel):
        return [Consumer([self.queue], callbacks=[self.on_message], prefetch_count=20)]

    def on_message(self, body, message):
        time.sleep(0.002)  # some work, so the close lands mid-stream
        self.seen.add(body['i'])
        message.ack()
        if len(self.seen) >= self.expected:
            self.should_stop = True

    def on_connection_error(self, exc, interval):
        self.errors.append(exc)


def test_consumer_mixin_survives_server_side_closes(vhost, uname):
    url = amqp_url(vhost)
    name = uname('fault-con')
    queue = Queue(uname('fault-conq'), durable=True)
    total = 1500
    with Connection(url) as pub:
        producer = Producer(pub)
        for i in range(total):
            producer.publish({'i': i}, routing_key=queue.name, declare=[queue])
    with Connection(url, transport_options={'connection_name': name}) as conn:
        worker = CountingWorker(conn, queue, total)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        assert wait_for(lambda: worker.seen and connection_pids(name), timeout=10)
        closes = 0
        for _ in range(2):
            if len(worker.seen) >= total:
                break
            closes += close_connections_named(name)
            time.sleep(0.3)
        thread.join(30)
        worker.should_stop = True
        assert not thread.is_alive()
    assert closes >= 1
    assert worker.seen == set(range(total))
