"""Connection fault tests against a private Redis server that the tests kill and restart.

Every wait is bounded; the bounds asserted are generous (they catch hangs,
they do not measure speed). Run with ``-s`` to see the measured times.
"""
from __future__ import annotations

import socket
import time

import pytest

from kombu import Connection, Exchange, Queue
from kombu.exceptions import OperationalError
from t.integration.private_redis import PrivateRedis
from t.servers import free_port

try:
    import kombu.transport.redis  # noqa: F401
except ImportError as exc:  # pragma: no cover
    pytest.skip(f'the redis:// transport (kombu/transport/redis) is missing: {exc}',
                allow_module_level=True)

pytestmark = pytest.mark.integration


@pytest.fixture
def broker():
    with PrivateRedis() as server:
        yield server


def report(what, seconds):
    print(f'\n[measured] {what}: {seconds:.3f} s')


def consume(conn, queue, expected, timeout=10.0):
    got = []
    deadline = time.monotonic() + timeout
    with conn.Consumer(queue, callbacks=[lambda body, m: (got.append(body), m.ack())]):
        while len(got) < expected and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.5)
            except socket.timeout:
                pass
        # anything beyond what we expect would be a duplicate
        try:
            conn.drain_events(timeout=0.3)
        except socket.timeout:
            pass
    return got


def test_publish_retry_survives_broker_restart(broker, uname):
    name = uname('faults')
    queue = Queue(name, Exchange(name, 'direct'), name)
    policy = {'max_retries': 100, 'interval_start': 0, 'interval_step': 0.1,
              'interval_max': 0.2, 'timeout': 20}
    with Connection(broker.url()) as conn:
        producer = conn.Producer()
        producer.publish({'n': -1}, exchange=queue.exchange, routing_key=name,
                         declare=[queue], retry=True, retry_policy=policy)
        assert consume(conn, queue, 1) == [{'n': -1}]

        broker.stop()
        restarter = broker.restart_later(1.0)
        errors = []
        started = time.monotonic()
        policy['errback'] = lambda exc, interval: errors.append(exc)
        for n in range(20):
            producer.publish({'n': n}, exchange=queue.exchange, routing_key=name,
                             declare=[queue], retry=True, retry_policy=policy)
        report('20 publishes across a 1 s broker outage', time.monotonic() - started)
        restarter.join(15)
        assert errors, 'the outage was not noticed'

    # a fresh connection sees each message exactly once: none lost, none duplicated
    with Connection(broker.url()) as conn:
        got = consume(conn, queue, 20)
    assert sorted(body['n'] for body in got) == list(range(20))


@pytest.mark.parametrize(('what', 'policy', 'bound'), [
    ('max_retries=3', {'max_retries': 3, 'interval_start': 0.1, 'interval_step': 0.1,
                       'interval_max': 0.2}, 10),
    ('timeout=1.5, unlimited retries', {'max_retries': None, 'interval_start': 0.2,
                                        'timeout': 1.5}, 6),
])
def test_publish_retry_gives_up_on_the_policy_budget(broker, uname, what, policy, bound):
    name = uname('giveup')
    queue = Queue(name, Exchange(name, 'direct'), name)
    with Connection(broker.url()) as conn:
        producer = conn.Producer()
        producer.publish({'n': 0}, exchange=queue.exchange, routing_key=name, declare=[queue])
        broker.stop()
        started = time.monotonic()
        with pytest.raises(OperationalError):
            producer.publish({'n': 1}, exchange=queue.exchange, routing_key=name,
                             declare=[queue], retry=True, retry_policy=policy)
        elapsed = time.monotonic() - started
        report(f'publish retry=True, {what}, dead broker', elapsed)
        assert elapsed < bound


def test_failover_from_dead_first_url_to_live_second(broker, uname):
    name = uname('failover')
    queue = Queue(name, Exchange(name, 'direct'), name)
    dead = free_port()
    with Connection(f'redis://127.0.0.1:{dead}/0;{broker.url()}') as conn:
        started = time.monotonic()
        conn.ensure_connection(max_retries=2, interval_start=0, timeout=10)
        report('failover dead -> live', time.monotonic() - started)
        assert conn.port == broker.port
        conn.Producer().publish({'ok': True}, exchange=queue.exchange, routing_key=name,
                                declare=[queue])
        assert consume(conn, queue, 1) == [{'ok': True}]


def test_ensure_connection_timeout_against_dead_port():
    conn = Connection(f'redis://127.0.0.1:{free_port()}/0')
    started = time.monotonic()
    with pytest.raises(OperationalError):
        conn.ensure_connection(interval_start=0.2, interval_step=0.2, timeout=1.0)
    elapsed = time.monotonic() - started
    report('ensure_connection(timeout=1.0), dead port', elapsed)
    assert elapsed < 4


@pytest.mark.timeout(15)
def test_ensure_connection_timeout_against_silent_server(silent_server):
    conn = Connection(f'redis://127.0.0.1:{silent_server}/0')
    started = time.monotonic()
    with pytest.raises(OperationalError):
        conn.ensure_connection(interval_start=0.2, timeout=1.0)
    elapsed = time.monotonic() - started
    report('ensure_connection(timeout=1.0), server accepts but never answers', elapsed)
    assert elapsed < 4


def test_consumer_resumes_after_broker_restart(broker, uname):
    """A consuming loop notices the restart (no silent stall) and resumes."""
    name = uname('resume')
    queue = Queue(name, Exchange(name, 'direct'), name)
    got, errors = [], []

    def publish(n):
        with Connection(broker.url()) as pconn:
            pconn.Producer().publish({'n': n}, exchange=queue.exchange, routing_key=name,
                                     declare=[queue], retry=True,
                                     retry_policy={'max_retries': 50, 'interval_start': 0.1,
                                                   'interval_step': 0.1, 'timeout': 10})

    conn = Connection(broker.url())
    consumer = conn.Consumer(queue, callbacks=[lambda body, m: (got.append(body['n']), m.ack())])
    consumer.consume()
    publish(0)
    deadline = time.monotonic() + 20
    restarted = False
    started = None
    while len(got) < 2 and time.monotonic() < deadline:
        try:
            conn.drain_events(timeout=0.5)
        except socket.timeout:
            pass
        except conn.recoverable_connection_errors as exc:
            errors.append(exc)
            conn.collect()  # drop the dead connection without talking to it
            conn.ensure_connection(interval_start=0.1, interval_step=0.1, timeout=10)
            consumer.revive(conn.default_channel)
            consumer.consume()
            if restarted:
                publish(1)
        if got == [0] and not restarted:
            broker.stop()
            started = time.monotonic()
            broker.restart_later(0.5)
            restarted = True
    conn.close()
    assert errors, 'the consumer did not notice the broker going away'
    assert got == [0, 1]
    report('consumer resumed after restart', time.monotonic() - started)
