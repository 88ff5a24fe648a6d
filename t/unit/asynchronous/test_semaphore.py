from __future__ import annotations

from kombu.asynchronous.semaphore import DummyLock, LaxBoundedSemaphore


def test_acquire_runs_callbacks_until_full_then_queues():
    s = LaxBoundedSemaphore(2)
    out = []
    assert s.acquire(out.append, 1)
    assert s.acquire(out.append, 2)
    assert not s.acquire(out.append, 3)
    assert not s.acquire(lambda **kw: out.append(kw), x=4)
    assert out == [1, 2] and s.value == 0 and len(s._waiting) == 2


def test_release_wakes_waiters_in_fifo_order():
    s = LaxBoundedSemaphore(1)
    out = []
    s.acquire(out.append, 'a')
    for name in 'bcd':
        s.acquire(out.append, name)
    for _ in range(3):
        s.release()
    assert out == ['a', 'b', 'c', 'd']
    assert s.value == 0
    s.release()
    assert s.value == 1


def test_lax_release_never_exceeds_bound():
    s = LaxBoundedSemaphore(2)
    for _ in range(5):
        s.release()
    assert s.value == 2


def test_grow_lets_waiters_in_first():
    s = LaxBoundedSemaphore(1)
    out = []
    s.acquire(out.append, 1)
    s.acquire(out.append, 2)
    s.acquire(out.append, 3)
    s.grow(3)
    assert out == [1, 2, 3]  # two waiters took two of the three new slots
    assert s.initial_value == 4 and s.value == 1
    assert s.acquire(out.append, 4)
    assert not s.acquire(out.append, 5)


def test_shrink_and_clear():
    s = LaxBoundedSemaphore(3)
    out = []
    s.shrink(2)
    assert s.initial_value == 1 and s.value == 1
    s.acquire(out.append, 1)
    s.acquire(out.append, 2)
    s.shrink(5)
    assert s.initial_value == 0 and s.value == 0
    s.clear()
    assert not s._waiting and s.value == 0
    s.grow(1)
    assert s.value == 1 and out == [1]


def test_repr():
    s = LaxBoundedSemaphore(1)
    assert 'value:1 waiting:0' in repr(s)


def test_dummy_lock():
    lock = DummyLock()
    with lock as entered:
        assert entered is lock
