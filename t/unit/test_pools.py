from __future__ import annotations

import gc
import os
import threading
import weakref

import pytest

from kombu import Connection, Exchange, Queue, pools
from kombu.connection import ConnectionPool
from kombu.exceptions import ConnectionLimitExceeded
from kombu.messaging import Producer


@pytest.fixture(autouse=True)
def clean_pools():
    pools.reset()
    pools.set_limit(10)
    yield
    pools.reset()
    pools.set_limit(10)


def drain_all(conn, queue, expected, timeout=2.0):
    got = []
    with conn.Consumer(queue, callbacks=[lambda body, m: (got.append(body), m.ack())]):
        while len(got) < expected:
            conn.drain_events(timeout=timeout)
    return got


def test_same_settings_share_a_pool():
    a = Connection('memory://', transport_options={'x': 1})
    b = Connection('memory://', transport_options={'x': 1})
    c = Connection('memory://', transport_options={'x': 2})
    assert pools.connections[a] is pools.connections[b]
    assert pools.connections[a] is not pools.connections[c]
    assert isinstance(pools.connections[a], ConnectionPool)
    assert pools.connections[a].limit == pools.get_limit() == 10
    assert pools.producers[a].connections is pools.connections[a]


def test_connection_pool_limit_from_group():
    pools.set_limit(2)
    conn = Connection('memory://')
    pool = pools.connections[conn]
    c1, c2 = pool.acquire(), pool.acquire()
    with pytest.raises(ConnectionLimitExceeded):
        pool.acquire()
    c1.release()
    c2.release()


def test_set_limit_resizes_existing_pools():
    conn = Connection('memory://')
    pool = pools.connections[conn]
    assert pools.set_limit(3) == 3
    assert pool.limit == 3
    assert pools.get_limit() == 3
    with pytest.raises(TypeError):
        pools.set_limit(True)


def test_reset_forgets_pools():
    conn = Connection('memory://')
    pool = pools.connections[conn]
    held = pool.acquire()
    pools.reset()
    assert pools.connections[conn] is not pool
    with pytest.raises(RuntimeError):
        pool.acquire()
    held.release()  # dropped, not put back into the closed pool
    assert pool.stats()['idle'] == 0


def test_producer_pool_publishes_and_returns_connection(uname):
    name = uname('pools')
    queue = Queue(name, Exchange(name), name)
    conn = Connection('memory://')
    ppool = pools.producers[conn]
    with ppool.acquire(block=True, timeout=5) as producer:
        assert isinstance(producer, Producer)
        producer.publish({'n': 1}, exchange=queue.exchange, routing_key=name, declare=[queue])
        pooled_conn = producer.connection
    assert pools.connections[conn].stats()['in_use'] == 0
    with ppool.acquire(block=True, timeout=5) as producer:
        assert producer.connection is pooled_conn  # the same connection again
    with conn:
        assert drain_all(conn, queue, 1) == [{'n': 1}]


def test_producer_pool_under_threads(uname):
    name = uname('threads')
    queue = Queue(name, Exchange(name), name)
    pools.set_limit(3)
    conn = Connection('memory://')
    ppool = pools.producers[conn]
    nthreads, per_thread = 8, 50
    errors = []

    def worker(t):
        try:
            for i in range(per_thread):
                with ppool.acquire(block=True, timeout=10) as producer:
                    producer.publish({'t': t, 'i': i}, exchange=queue.exchange,
                                     routing_key=name, declare=[queue])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), 'deadlock'
    assert not errors
    cpool = pools.connections[conn]
    assert cpool.stats()['in_use'] == 0
    assert cpool.stats()['idle'] <= 3
    with conn:
        got = drain_all(conn, queue, nthreads * per_thread)
    assert sorted((m['t'], m['i']) for m in got) == [
        (t, i) for t in range(nthreads) for i in range(per_thread)]


def test_no_leak_after_many_cycles():
    pools.set_limit(2)
    conn = Connection('memory://')
    ppool = pools.producers[conn]
    seen = set()
    for _ in range(300):
        with ppool.acquire(block=True, timeout=5) as producer:
            seen.add(id(producer.connection))
    assert len(seen) <= 2

    # without a limit nothing is kept: released connections are freed
    pool = conn.Pool()
    refs = []
    for _ in range(200):
        c = pool.acquire()
        refs.append(weakref.ref(c))
        c.release()
        del c
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 0


def test_pool_group_needs_create():
    group = pools.PoolGroup()
    with pytest.raises(NotImplementedError):
        group[Connection('memory://')]
    assert pools.register_group(group) is group
    # not remove(): groups are dicts, == would match any empty group
    pools._groups[:] = [g for g in pools._groups if g is not group]


def test_module_names():
    assert pools.use_global_limit is not None
    assert set(pools.__all__) == {
        'ProducerPool', 'PoolGroup', 'register_group', 'connections', 'producers',
        'get_limit', 'set_limit', 'reset'}


@pytest.mark.skipif(not hasattr(os, 'fork'), reason='needs os.fork')
def test_pools_are_fresh_in_forked_child():
    conn = Connection('memory://')
    pool = pools.connections[conn]
    held = pool.acquire()
    held.connect()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            fresh_pool = pools.connections[conn]
            fresh = fresh_pool.acquire()
            ok = fresh_pool is not pool and fresh is not held and not held.connected
            os.write(write_fd, b'ok' if ok else b'reused')
        except BaseException as exc:
            os.write(write_fd, repr(exc).encode()[:200])
        finally:
            os._exit(0)
    os.close(write_fd)
    try:
        result = os.read(read_fd, 256)
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    assert result == b'ok'
    assert pools.connections[conn] is pool
    assert held.connected
    held.release()


def test_producer_waits_for_a_connection_no_longer_than_its_timeout():
    pools.set_limit(1)
    conn = Connection('memory://')
    hog = pools.connections[conn].acquire()  # the only connection
    ppool = pools.producers[conn]
    with pytest.raises(ConnectionLimitExceeded):
        ppool.acquire(block=True, timeout=0.1)
    hog.release()
    with ppool.acquire(block=True, timeout=1) as producer:
        assert producer.connection is hog


def test_declared_entities_forgotten_on_reconnect(uname):
    name = uname('declared')
    queue = Queue(name, Exchange(name), name)
    conn = Connection('memory://')
    conn.Producer().publish({}, exchange=queue.exchange, routing_key=name, declare=[queue])
    assert conn.declared_entities
    conn.close()
    assert not conn.declared_entities
