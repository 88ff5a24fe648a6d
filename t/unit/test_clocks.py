from __future__ import annotations

import pickle
import threading
from heapq import heappush

from kombu.clocks import LamportClock, timetuple


def test_forward_and_adjust():
    c = LamportClock()
    assert c.forward() == 1 and c.forward() == 2
    assert c.adjust(10) == 11
    assert c.adjust(3) == 12
    assert str(c) == '12' and repr(c) == '<LamportClock: 12>'
    assert LamportClock(initial_value=5).forward() == 6


def test_forward_is_thread_safe():
    c = LamportClock()

    def work():
        for _ in range(2000):
            c.forward()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert c.value == 8000


def test_custom_lock():
    created = []

    class MyLock:
        def __init__(self):
            created.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    assert LamportClock(Lock=MyLock).forward() == 1
    assert len(created) == 1


def test_sort_heap():
    c = LamportClock()
    assert c.sort_heap([(1, 'b'), (1, 'a'), (2, 'c')]) == (1, 'a')
    assert c.sort_heap([(1, 'b'), (2, 'a')]) == (1, 'b')
    assert c.sort_heap([(3, 'x')]) == (3, 'x')
    assert c.sort_heap([(1, 'b'), (1, 'c'), (1, 'a')]) == (1, 'a')


def test_timetuple_ordering():
    a = timetuple(1, 20.0, 'b', 'objA')
    b = timetuple(1, 10.0, 'a')
    c = timetuple(2, 0.0, 'a')
    assert b < a and a > b and a < c
    assert b <= a and a >= b
    # without clocks, timestamps decide
    assert timetuple(None, 1.0, 'z') < timetuple(None, 2.0, 'a')
    heap = []
    for item in (c, a, b):
        heappush(heap, item)
    assert heap[0] is b
    assert (a.clock, a.timestamp, a.id, a.obj) == (1, 20.0, 'b', 'objA')
    assert 'clock=1' in repr(a)
    assert pickle.loads(pickle.dumps(a)) == a
