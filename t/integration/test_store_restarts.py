"""Fault tests: the store restarts under a consumer and no acknowledged publish is lost.

SQLAlchemy on a private PostgreSQL and etcd on a private etcd (both on free
ports, data kept across the restart).  Messages whose ack or restore was cut
off by the outage stay claimed and come back after the (short) visibility
timeout, so every message published before the restart is consumed.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterator

import pytest

from kombu import Connection, Producer, Queue
from t.integration import private_stores
from t.servers import IN_CI, unique_name

TOTAL = 200


def _server(factory: Callable[[], Any]) -> Iterator[Any]:
    try:
        server = factory()
    except RuntimeError as exc:
        if IN_CI:
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres() -> Iterator[private_stores.PrivatePostgres]:
    pytest.importorskip('sqlalchemy')
    pytest.importorskip('psycopg')
    yield from _server(private_stores.PrivatePostgres)


@pytest.fixture
def etcd_server() -> Iterator[private_stores.PrivateEtcd]:
    pytest.importorskip('etcd')
    yield from _server(private_stores.PrivateEtcd)


def _publish(url: str, options: dict[str, Any], name: str) -> None:
    with Connection(url, transport_options=dict(options)) as conn:
        Queue(name, routing_key=name).bind(conn.default_channel).declare()
        producer = Producer(conn.default_channel)
        for n in range(TOTAL):
            producer.publish(n, routing_key=name, serializer='json')


def _left(url: str, options: dict[str, Any], name: str) -> int:
    with Connection(url, transport_options=dict(options)) as conn:
        return conn.default_channel._size(name)  # type: ignore[no-any-return]


def _check(url: str, options: dict[str, Any], server: Any) -> None:
    name = unique_name('restart')
    _publish(url, options, name)
    start = time.monotonic()
    # The server stops after 50 deliveries (prefetch 10): the rest can only
    # come once the consumer (same connection or a new one) is through the outage.
    received, _ = private_stores.consume_across_restart(url, options, name, TOTAL, server)
    assert sorted(set(received)) == list(range(TOTAL)), (
        f'lost: {sorted(set(range(TOTAL)) - set(received))[:10]}')
    # every delivery is one published message; a few may come twice (ack cut off)
    assert len(received) - TOTAL <= 20
    assert _left(url, options, name) == 0
    assert time.monotonic() - start < 60


def test_sqlalchemy_postgres_restart_under_consumer(
        postgres: private_stores.PrivatePostgres) -> None:
    options = {'visibility_timeout': 2, 'polling_interval': 0.05}
    _check(postgres.url(), options, postgres)
    from kombu.transport.sqlalchemy import engine
    engine.dispose_all()


def test_etcd_restart_under_consumer(etcd_server: private_stores.PrivateEtcd) -> None:
    options = {'visibility_timeout': 2, 'polling_interval': 0.05, 'timeout': 2}
    _check(etcd_server.url, options, etcd_server)
