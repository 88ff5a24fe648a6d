"""sqs:// when the SQS endpoint goes away and comes back: a private moto_server, restarted
under a publisher and a consumer.  moto keeps nothing across a restart (it is in memory),
so what is proved is that both recover by themselves and that every publish that returned
after the restart is consumed and acknowledged exactly once."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any, Iterator

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from t.servers import free_port, port_open, unique_name

pytest.importorskip('boto3')
pytest.importorskip('moto.server')

pytestmark = pytest.mark.integration


class PrivateMoto:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p', str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not port_open('127.0.0.1', self.port, 0.2):
            assert self.proc.poll() is None and time.monotonic() < deadline, 'moto died'
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def moto() -> Iterator[PrivateMoto]:
    server = PrivateMoto()
    server.start()
    yield server
    server.stop()


def connect(moto: PrivateMoto) -> Connection:
    return Connection(f'sqs://testing:testing@127.0.0.1:{moto.port}', transport_options={
        'is_secure': False, 'region': 'us-east-1', 'polling_interval': 0.05,
        'wait_time_seconds': 0, 'visibility_timeout': 30,
        'client_config': {'connect_timeout': 1, 'read_timeout': 5,
                          'retries': {'max_attempts': 1}}})


RETRY = {'max_retries': 60, 'interval_start': 0.1, 'interval_step': 0.1, 'interval_max': 0.3}


def test_publisher_and_consumer_survive_a_restart(moto: PrivateMoto) -> None:
    name = unique_name('fault-q').replace('.', '-')
    queue = Queue(name, Exchange(''), routing_key=name)
    publisher, consumer_conn = connect(moto), connect(moto)
    producer = Producer(publisher.default_channel)
    producer.publish('warm-up', routing_key=name, declare=[queue], retry=True,
                     retry_policy=RETRY)
    got: list[Any] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def on_message(body: Any, message: Any) -> None:
        got.append(body)
        message.ack()

    def consume() -> None:
        with Consumer(consumer_conn, [queue], callbacks=[on_message]):
            while not stop.is_set():
                try:
                    consumer_conn.drain_events(timeout=0.2)
                except TimeoutError:
                    pass
                except consumer_conn.connection_errors as exc:   # SQS away: keep trying
                    errors.append(exc)
                    time.sleep(0.1)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while 'warm-up' not in got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got == ['warm-up']

        moto.stop()
        restarter = threading.Timer(1.0, moto.start)
        restarter.start()
        sent = []
        for n in range(20):   # the first ones are sent while SQS is down: retried
            # (no declare= here: the transport creates a vanished queue again itself)
            producer.publish(n, routing_key=name, retry=True, retry_policy=RETRY)
            sent.append(n)
        restarter.join()
        deadline = time.monotonic() + 20
        while len(got) < 21 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert errors, 'the consumer never saw SQS go away'
    assert sorted(b for b in got if b != 'warm-up') == sent   # each once, none lost
    assert consumer_conn.default_channel.basic_get(name) is None
    publisher.release()
    consumer_conn.release()


def test_hub_consumer_survives_a_restart(moto: PrivateMoto) -> None:
    from kombu.asynchronous import Hub, set_event_loop
    hub = Hub()
    set_event_loop(hub)
    name = unique_name('fault-hub').replace('.', '-')
    queue = Queue(name, Exchange(''), routing_key=name)
    consumer_conn, publisher = connect(moto), connect(moto)
    got: list[Any] = []
    try:
        queue.bind(consumer_conn.default_channel).declare()
        consumer = Consumer(consumer_conn.channel(), [queue],
                            callbacks=[lambda b, m: (got.append(b), m.ack())])
        consumer.consume()
        loop = hub.create_loop()

        def run(until: Any, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while not until() and time.monotonic() < deadline:
                next(loop)

        producer = Producer(publisher.default_channel)
        producer.publish('before', routing_key=name)
        run(lambda: got == ['before'], 10)
        moto.stop()
        run(lambda: False, 1.0)           # polls fail: retried after a pause, not lost
        moto.start()
        for n in range(5):
            producer.publish(n, routing_key=name, retry=True, retry_policy=RETRY)
        run(lambda: len(got) == 6, 20)
        consumer.cancel()
    finally:
        set_event_loop(None)
        consumer_conn.release()
        publisher.release()
        hub.close()
    assert got == ['before', 0, 1, 2, 3, 4]
