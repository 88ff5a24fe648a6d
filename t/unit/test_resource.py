from __future__ import annotations

import gc
import os
import threading
import time
import weakref

import pytest

from kombu.exceptions import LimitExceeded
from kombu.resource import Resource


class Thing:
    """A resource that records what happened to it."""

    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.closed = False
        self.collected = False

    def close(self) -> None:
        self.closed = True


class ThingPool(Resource):
    def __init__(self, *args, **kwargs):
        self.created: list[Thing] = []
        self.lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def new(self):
        with self.lock:
            thing = Thing(len(self.created))
            self.created.append(thing)
            return thing

    def setup(self):
        # preload lazily, like Kombu's pools: create only on first use
        pass

    def collect_resource(self, resource):
        resource.collected = True


def test_limit_hit_without_block_raises():
    pool = ThingPool(limit=2)
    a, b = pool.acquire(), pool.acquire()
    assert a is not b
    with pytest.raises(LimitExceeded) as excinfo:
        pool.acquire()
    assert '2' in str(excinfo.value)
    a.release()
    c = pool.acquire()
    assert c is a  # reused, not a new one
    assert len(pool.created) == 2


def test_blocking_acquire_times_out_with_limit_exceeded():
    pool = ThingPool(limit=1)
    pool.acquire()
    started = time.monotonic()
    with pytest.raises(LimitExceeded):
        pool.acquire(block=True, timeout=0.2)
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed < 2


def test_blocking_acquire_gets_the_released_resource():
    pool = ThingPool(limit=1)
    held = pool.acquire()
    got = []

    def waiter():
        got.append(pool.acquire(block=True, timeout=5))

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.05)
    assert not got
    held.release()
    t.join(5)
    assert got == [held]


def test_release_twice_does_not_hand_out_twice():
    pool = ThingPool(limit=2)
    a = pool.acquire()
    a.release()
    a.release()
    first, second = pool.acquire(), pool.acquire()
    assert first is not second
    assert pool.stats()['in_use'] == 2


def test_without_limit_every_acquire_is_new_and_release_closes():
    pool = ThingPool()
    a = pool.acquire()
    b = pool.acquire()
    assert a is not b
    a.release()
    assert a.closed
    assert len(pool.created) == 2


def test_replace_closes_and_frees_the_slot():
    pool = ThingPool(limit=1)
    a = pool.acquire()
    pool.replace(a)
    assert a.closed
    b = pool.acquire()
    assert b is not a
    a.release()  # a replaced resource is not taken back
    with pytest.raises(LimitExceeded):
        pool.acquire()


def test_prepare_failure_keeps_the_slot():
    class Failing(ThingPool):
        fail = True

        def prepare(self, resource):
            if self.fail:
                raise OSError('cannot prepare')
            return resource

    pool = Failing(limit=1)
    with pytest.raises(OSError):
        pool.acquire()
    pool.fail = False
    assert pool.acquire() is pool.created[0]


def test_resize_grow_and_shrink():
    pool = ThingPool(limit=1)
    a = pool.acquire()
    pool.resize(3)
    b, c = pool.acquire(), pool.acquire()
    with pytest.raises(LimitExceeded):
        pool.acquire()
    with pytest.raises(RuntimeError, match="Can't shrink pool when in use"):
        pool.resize(1)
    for r in (a, b, c):
        r.release()
    pool.resize(1)
    assert pool.stats() == {'limit': 1, 'in_use': 0, 'idle': 1, 'closed': False}
    assert sum(r.collected for r in (a, b, c)) == 2


def test_resize_in_use_with_force_resets():
    pool = ThingPool(limit=2)
    a = pool.acquire()
    pool.resize(1, force=True)
    assert a.collected
    assert pool.acquire() is not a


def test_limit_must_not_be_bool():
    with pytest.raises(TypeError):
        ThingPool(limit=True)
    pool = ThingPool(limit=2)
    with pytest.raises(TypeError):
        pool.limit = True
    with pytest.raises(ValueError):
        ThingPool(limit=-1)


def test_force_close_all_collects_and_closes_pool():
    pool = ThingPool(limit=2)
    a = pool.acquire()
    b = pool.acquire()
    b.release()
    pool.force_close_all()
    assert a.collected and b.collected
    with pytest.raises(RuntimeError, match='closed pool'):
        pool.acquire()
    pool.force_close_all()  # idempotent


def test_force_close_all_keep_pool_open():
    pool = ThingPool(limit=1)
    a = pool.acquire()
    pool.force_close_all(close_pool=False)
    b = pool.acquire()
    assert b is not a


def test_limit_holds_under_threads_without_deadlock():
    limit, nthreads, rounds = 3, 8, 300
    pool = ThingPool(limit=limit)
    in_use = set()
    peak = [0]
    guard = threading.Lock()
    errors = []

    def worker():
        try:
            for _ in range(rounds):
                r = pool.acquire(block=True, timeout=10)
                with guard:
                    assert r not in in_use, 'resource handed to two threads'
                    in_use.add(r)
                    peak[0] = max(peak[0], len(in_use))
                with guard:
                    in_use.discard(r)
                r.release()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), 'deadlock'
    assert not errors
    assert peak[0] <= limit
    assert len(pool.created) <= limit
    assert pool.stats()['in_use'] == 0
    assert pool.stats()['idle'] == len(pool.created)


def test_no_leak_after_many_cycles():
    pool = ThingPool()  # no limit: every resource must be freed after release
    refs = []
    for _ in range(500):
        r = pool.acquire()
        refs.append(weakref.ref(r))
        r.release()
        del r
    pool.created.clear()
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 0

    limited = ThingPool(limit=2)
    for _ in range(500):
        limited.acquire().release()
    assert len(limited.created) == 1


@pytest.mark.skipif(not hasattr(os, 'fork'), reason='needs os.fork')
def test_child_after_fork_does_not_reuse_parent_resources():
    pool = ThingPool(limit=2, close_after_fork=True)
    parent_held = pool.acquire()
    parent_idle = pool.acquire()
    parent_idle.release()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            fresh = pool.acquire()
            ok = (parent_held.collected and parent_idle.collected
                  and fresh is not parent_held and fresh is not parent_idle)
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
    # the parent keeps its own resources
    assert not parent_held.collected
    assert pool.acquire() is parent_idle
