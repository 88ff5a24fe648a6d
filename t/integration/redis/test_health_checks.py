"""Health checks notice half-open BRPOP and PUB/SUB connections (``health_check_interval``).

A proxy between consumer and Redis stops relaying on the connections open now
(new ones relay): the consumer must drop its silent connection within about
the health-check interval and resume on a new one, in ``drain_events`` and on
the Hub; a live connection with a reply on its way is never dropped.
"""
from __future__ import annotations

import socket
import time

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.asynchronous import Hub
from t.integration.redis.helpers import publish, report
from t.servers import StallingProxy, unique_name

pytestmark = pytest.mark.integration

HEALTH = {'health_check_interval': 1, 'polling_interval': 1}


@pytest.fixture
def proxied(redis_url):
    db = redis_url.rsplit('/', 1)[1]
    with StallingProxy(6379) as proxy:
        yield proxy, f'redis://127.0.0.1:{proxy.port}/{db}'


def drain_for(conn: Connection, seconds: float, until=lambda: False) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not until():
        try:
            conn.drain_events(timeout=0.3)
        except socket.timeout:
            pass


def test_half_open_brpop_is_dropped_and_consumption_resumes(proxied, redis_url):
    proxy, url = proxied
    name = unique_name('hc-brpop')
    queue = Queue(name, Exchange(name), name)
    got: list = []
    with Connection(url, transport_options=HEALTH) as conn:
        channel = conn.channel()
        with Consumer(channel, [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            publish(redis_url, queue, ['before'])
            drain_for(conn, 3, lambda: bool(got))
            drain_for(conn, 0.2)  # idle: its BRPOP waits on the server
            stalled = channel.client.connection._sock
            assert stalled is not None and channel._in_poll
            before = proxy.connections
            proxy.stall()
            time.sleep(1.5)  # Redis times the stale BRPOP out into the void
            publish(redis_url, queue, ['after'])
            started = time.monotonic()
            drain_for(conn, 8, lambda: len(got) == 2)
            took = time.monotonic() - started
            assert channel.client.connection._sock is not stalled  # a new connection
    print(f'half-open BRPOP: resumed in {took:.2f} s, proxy connections {before} ->'
          f' {proxy.connections}')
    assert report('brpop health', ['before', 'after'], got) == (0, 0)
    assert took < 6


def test_live_brpop_with_a_slow_reply_is_not_dropped(redis_url):
    """A BRPOP whose server-side wait is long (polling_interval 3) answers in time."""
    name = unique_name('hc-live')
    queue = Queue(name, Exchange(name), name)
    got: list = []
    options = {'health_check_interval': 1, 'polling_interval': 3}
    with Connection(redis_url, transport_options=options) as conn:
        channel = conn.channel()
        with Consumer(channel, [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            drain_for(conn, 1)
            first = channel.client.connection._sock
            drain_for(conn, 4)
            assert channel.client.connection._sock is first  # never reconnected
            publish(redis_url, queue, ['m'])
            drain_for(conn, 5, lambda: bool(got))
    assert got == ['m']


def test_half_open_pubsub_reconnects_and_resubscribes(proxied, redis_url):
    proxy, url = proxied
    name = unique_name('hc-fan')
    exchange = Exchange(name, 'fanout')
    queue = Queue(name, exchange)
    got: list = []
    with Connection(url, transport_options=HEALTH) as conn:
        with Consumer(conn.channel(), [queue],
                      callbacks=[lambda b, m: (got.append(b), m.ack())]):
            drain_for(conn, 1)
            with Connection(redis_url) as pub:
                Producer(pub.channel(), exchange).publish('before')
                drain_for(conn, 3, lambda: bool(got))
                proxy.stall()
                started = time.monotonic()
                deadline = started + 10
                while len(got) < 2 and time.monotonic() < deadline:
                    # fanout reaches subscribers only: keep publishing until resubscribed
                    Producer(pub.channel(), exchange).publish('after')
                    drain_for(conn, 0.5, lambda: len(got) >= 2)
            took = time.monotonic() - started
    print(f'half-open PUB/SUB: resubscribed in {took:.2f} s')
    assert got[0] == 'before' and 'after' in got
    assert took < 8


def test_half_open_brpop_on_the_hub(proxied, redis_url):
    proxy, url = proxied
    name = unique_name('hc-hub')
    queue = Queue(name, Exchange(name), name)
    got: list = []
    hub = Hub()
    try:
        with Connection(url, transport_options=HEALTH) as conn:
            conn.ensure_connection()
            conn.transport.register_with_event_loop(conn.connection, hub)
            channel = conn.channel()
            with Consumer(channel, [queue],
                          callbacks=[lambda b, m: (got.append(b), m.ack())]):
                publish(redis_url, queue, ['before'])
                run_hub(hub, 3, lambda: bool(got))
                run_hub(hub, 0.3, lambda: False)  # idle: its BRPOP waits on the server
                stalled = channel.client.connection._sock
                assert stalled is not None and channel._in_poll
                stalled_fd = stalled.fileno()
                proxy.stall()
                time.sleep(1.5)
                publish(redis_url, queue, ['after'])
                started = time.monotonic()
                run_hub(hub, 8, lambda: len(got) == 2)
                took = time.monotonic() - started
                sock = channel.client.connection._sock
                assert sock is not stalled  # a new connection, its reader registered
                assert sock.fileno() in hub.readers
                assert stalled_fd not in hub.readers or stalled_fd == sock.fileno()
    finally:
        hub.close()
    print(f'half-open BRPOP on the hub: resumed in {took:.2f} s')
    assert report('hub health', ['before', 'after'], got) == (0, 0)


def run_hub(hub: Hub, seconds: float, until) -> None:
    deadline = time.monotonic() + seconds
    loop = hub.create_loop()
    while time.monotonic() < deadline and not until():
        next(loop)
