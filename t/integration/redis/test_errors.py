"""redis-py errors reach callers as kombu's kinds, on every path, fast.

Private redis-server processes (a password, maxmemory, a replica), a server
that accepts and never answers, and a proxy that stalls a live connection.
"""
from __future__ import annotations

import time

import pytest
import redis

from kombu import Connection, Exchange, Queue
from kombu.exceptions import AccessRefused, LimitExceeded, OperationalError
from kombu.transport.redis.errors import RedisConnectionError
from t.integration.redis.servers import RedisProcess
from t.servers import StallingProxy, silent_server, unique_name

pytestmark = pytest.mark.integration

PASSWORD = 'kombu-s3cret'


@pytest.fixture(scope='module')
def locked_redis():
    proc = RedisProcess(args=('--requirepass', PASSWORD))
    proc.password = PASSWORD
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def uname():
    return lambda prefix: unique_name(f'err-{prefix}')


def elapsed(since: float) -> float:
    return time.monotonic() - since


@pytest.mark.parametrize('userinfo', [':wrong-password@', 'default:wrong-password@', ''],
                         ids=['wrongpass', 'wronguser-pass', 'noauth'])
def test_refused_credentials_raise_access_refused_at_once(locked_redis, userinfo):
    url = f'redis://{userinfo}127.0.0.1:{locked_redis.port}/0'
    with Connection(url) as conn:
        started = time.monotonic()
        with pytest.raises(AccessRefused) as info:
            conn.channel()
        assert elapsed(started) < 1.0
        assert isinstance(info.value, conn.connection_errors)
        assert isinstance(info.value.__cause__, redis.RedisError)
        assert 'wrong-password' not in str(info.value)
        started = time.monotonic()
        with pytest.raises(AccessRefused):
            conn.ensure_connection(max_retries=5, interval_start=1)
        assert elapsed(started) < 1.0
    # the right password works on the same server
    with Connection(f'redis://:{PASSWORD}@127.0.0.1:{locked_redis.port}/0') as conn:
        with conn.SimpleQueue(unique_name('auth-ok')) as q:
            q.put('x')
            assert q.get(timeout=2).payload == 'x'


def test_silent_server_channel_is_a_typed_connection_error_within_connect_timeout():
    with silent_server() as port:
        with Connection(f'redis://127.0.0.1:{port}/0', connect_timeout=1) as conn:
            started = time.monotonic()
            with pytest.raises(RedisConnectionError) as info:
                conn.channel()
            # Connection.channel() tries twice (2 s apart): bounded, typed
            assert elapsed(started) < 6.0
    assert isinstance(info.value, OperationalError)
    assert isinstance(info.value, conn.connection_errors)
    assert isinstance(info.value.__cause__, redis.TimeoutError)


def test_stalled_peer_with_socket_timeout_every_path_raises_typed(redis_url, uname):
    db = redis_url.rsplit('/', 1)[1]
    name = uname('stall')
    queue = Queue(name, Exchange(name), name)
    with StallingProxy(6379) as proxy:
        url = f'redis://127.0.0.1:{proxy.port}/{db}'
        with Connection(url, transport_options={'socket_timeout': 0.5}) as conn:
            channel = conn.channel()
            queue(channel).declare()
            producer = conn.Producer(channel)
            producer.publish('before', exchange=queue.exchange, routing_key=name)
            proxy.stall(new_connections=True)
            calls = {
                'queue_declare': lambda: Queue(name + '.2', Exchange(name + '.2'),
                                               'k')(channel).declare(),
                'publish': lambda: producer.publish(
                    'during', exchange=queue.exchange, routing_key=name),
                'get': lambda: channel.basic_get(name),
                'size': lambda: channel._size(name),
            }
            for what, call in calls.items():
                started = time.monotonic()
                with pytest.raises(RedisConnectionError) as info:
                    call()
                assert elapsed(started) < 3.0, what
                assert isinstance(info.value.__cause__, redis.TimeoutError), what
            proxy.resume()
            # what was published before the stall is still there
            assert channel.basic_get(name, no_ack=True).payload == 'before'


def test_drain_events_on_a_killed_server_is_a_typed_connection_error(uname):
    proc = RedisProcess().start()
    try:
        name = uname('killed')
        with Connection(proc.url) as conn:
            consumer = conn.Consumer(Queue(name, Exchange(name), name), callbacks=[])
            consumer.consume()
            with pytest.raises(Exception) as nothing:  # nothing published: times out
                conn.drain_events(timeout=0.3)
            assert isinstance(nothing.value, TimeoutError)
            proc.kill()
            with pytest.raises(conn.connection_errors) as info:
                for _ in range(5):
                    conn.drain_events(timeout=0.3)
            assert isinstance(info.value, RedisConnectionError), repr(info.value)
    finally:
        proc.stop()


def test_oom_is_limit_exceeded_and_connection_stays_usable(uname):
    proc = RedisProcess(args=('--maxmemory', '2mb', '--maxmemory-policy', 'noeviction')).start()
    try:
        name = uname('oom')
        with Connection(proc.url) as conn:
            q = conn.SimpleQueue(name)
            with pytest.raises(LimitExceeded) as info:
                for _ in range(200):
                    q.put('x' * 100_000)
            assert isinstance(info.value, conn.channel_errors)
            assert not isinstance(info.value, conn.connection_errors)
            assert q.get(timeout=2).payload == 'x' * 100_000  # same connection reads on
            q.close()
    finally:
        proc.stop()


def test_readonly_replica_is_a_connection_error(uname):
    master = RedisProcess().start()
    replica = RedisProcess(args=('--replicaof', '127.0.0.1', str(master.port))).start()
    try:
        name = uname('ro')
        with Connection(replica.url) as conn:
            producer = conn.Producer()
            with pytest.raises(RedisConnectionError, match='READONLY|read only'):
                producer.publish('x', routing_key=name, declare=[Queue(name)])
    finally:
        replica.stop()
        master.stop()
