"""Teardown on a half-open connection is bounded (Celery GH-9705).

A proxy between the consumer and Redis stops relaying while it keeps both
sockets open (the peer looks alive to the kernel: no FIN, no RST).  Closing the
channel, ``collect()``-ing and closing the connection must return within a
few seconds, and a worker-style consumer resumes on a new connection without
losing a message.  Each test prints its counts.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Callable

import pytest
import redis

from kombu import Connection, Consumer, Exchange, Queue
from t.integration.redis.helpers import drain_until, publish, report
from t.servers import StallingProxy, unique_name

pytestmark = pytest.mark.integration

#: a close on a stalled peer gives up within this (reads are capped ~2 s)
BOUND = 8.0


def bounded(call: Callable[[], object], limit: float = BOUND) -> float:
    """Run ``call`` in a thread; fail (not hang) if it outlives ``limit``."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # reported below
            errors.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    took = time.monotonic() - started
    assert not thread.is_alive(), f'teardown still blocked after {limit} s'
    assert not errors, errors
    return took


@pytest.fixture
def setup(redis_url, rclient):
    db = redis_url.rsplit('/', 1)[1]
    name = unique_name('halfopen')
    queue = Queue(name, Exchange(name), name)
    with StallingProxy(6379) as proxy:
        yield proxy, f'redis://127.0.0.1:{proxy.port}/{db}', queue, rclient


def stall_with_brpop_pending(proxy: StallingProxy, conn: Connection) -> None:
    """Stall while a BRPOP is in flight, and let Redis time that BRPOP out."""
    try:
        conn.drain_events(timeout=0.2)  # leaves its BRPOP pending
    except socket.timeout:
        pass
    proxy.stall()
    time.sleep(1.5)  # the server answers the stale BRPOP (nil) into the void


@pytest.mark.parametrize('teardown', ['channel.close', 'collect', 'connection.close'])
def test_teardown_on_a_stalled_peer_is_bounded(setup, teardown, redis_url):
    proxy, url, queue, _ = setup
    conn = Connection(url)
    channel = conn.channel()
    got: list = []
    consumer = Consumer(channel, [queue], callbacks=[lambda b, m: (got.append(b), m.ack())])
    consumer.consume()
    publish(redis_url, queue, ['warm-up'])
    drain_until(conn, lambda: bool(got))
    assert got == ['warm-up']
    stall_with_brpop_pending(proxy, conn)
    call = {'channel.close': channel.close,
            'collect': lambda: conn.collect(socket_timeout=1),
            'connection.close': conn.close}[teardown]
    took = bounded(call)
    print(f'{teardown} on a stalled peer took {took:.2f} s')
    conn.collect()  # whatever is left, without the network


def test_worker_style_consumer_resumes_on_a_new_connection(setup, redis_url):
    """As Celery does after a connection error: bound the sockets, collect, reconnect."""
    proxy, url, queue, rclient = setup
    published = [f'm{i}' for i in range(20)]
    got: list = []

    def on_message(body, message):
        got.append(body)
        message.ack()

    conn = Connection(url)
    consumer = Consumer(conn.channel(), [queue], callbacks=[on_message])
    consumer.consume()
    publish(redis_url, queue, published[:10])
    drain_until(conn, lambda: len(got) >= 10)
    assert len(got) == 10
    stall_with_brpop_pending(proxy, conn)
    publish(redis_url, queue, published[10:])  # the stale BRPOP is gone: nobody pops these
    # Celery's on_connection_error_after_connected: timeouts on the sockets it knows
    for chan in conn.transport.channels:
        client = chan.__dict__.get('client')
        if client is not None and client.connection is not None \
                and client.connection._sock is not None:
            client.connection._sock.settimeout(1)
    took = bounded(lambda: conn.collect(socket_timeout=1))
    print(f'collect on a stalled peer took {took:.2f} s')
    proxy.resume()
    started = time.monotonic()
    conn = Connection(url)
    conn.ensure_connection(max_retries=3)
    consumer = Consumer(conn.channel(), [queue], callbacks=[on_message])
    consumer.consume()
    drain_until(conn, lambda: len(got) >= len(published), timeout=10)
    print(f'resumed and drained in {time.monotonic() - started:.2f} s')
    conn.close()
    lost, duplicated = report('half-open', published, got)
    assert (lost, duplicated) == (0, 0)
    assert sorted(got) == sorted(published)
    assert rclient.hlen('unacked') == 0


def test_sockets_stay_where_celery_looks(setup):
    _, url, queue, _ = setup
    fanout = Queue(queue.name + '.bcast', Exchange(queue.name + '.bcast', 'fanout'))
    with Connection(url) as conn:
        channel = conn.channel()
        consumer = Consumer(channel, [queue, fanout], callbacks=[])
        consumer.consume()
        try:
            conn.drain_events(timeout=0.2)
        except socket.timeout:
            pass
        client = channel.__dict__['client']
        assert isinstance(client.connection._sock, socket.socket)
        assert client.connection is channel._in_poll  # the BRPOP's own socket
        subclient = channel.__dict__['subclient']
        assert isinstance(subclient, redis.client.PubSub)
        assert isinstance(subclient.connection._sock, socket.socket)
        assert subclient.connection is channel._in_listen
