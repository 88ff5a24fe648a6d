from __future__ import annotations

import threading
import time

import pytest

from kombu.utils.objects import cached_property


class Thing:
    calls = 0

    @cached_property
    def value(self):
        type(self).calls += 1
        return 42


def test_computed_once_and_cached_per_instance():
    Thing.calls = 0
    a, b = Thing(), Thing()
    assert a.value == 42 and a.value == 42
    assert Thing.calls == 1
    assert b.value == 42
    assert Thing.calls == 2
    assert a.__dict__['value'] == 42


def test_class_access_returns_descriptor():
    assert isinstance(Thing.value, cached_property)


def test_set_and_delete_without_hooks():
    t = Thing()
    t.value = 10
    assert t.value == 10
    del t.value
    assert t.value == 42
    del t.value
    del t.value  # deleting an uncached value is a no-op


def test_setter_result_is_cached_and_deleter_gets_value():
    deleted = []

    class C:
        @cached_property
        def x(self):
            return 1

        @x.setter
        def x(self, value):
            return value * 2

        @x.deleter
        def x(self, value):
            deleted.append(value)

    c = C()
    assert c.x == 1
    c.x = 5
    assert c.x == 10
    del c.x
    assert deleted == [10]
    del c.x  # nothing cached: deleter not called again
    assert deleted == [10]
    assert c.x == 1


def test_thread_safe_single_computation():
    calls = []

    class Slow:
        @cached_property
        def x(self):
            calls.append(1)
            time.sleep(0.01)
            return object()

    s = Slow()
    results = []
    threads = [threading.Thread(target=lambda: results.append(s.x)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(calls) == 1
    assert len(set(map(id, results))) == 1


def test_unbound_descriptor_raises_typeerror():
    prop = cached_property(lambda self: 1)

    class C:
        pass

    with pytest.raises(TypeError):
        prop.__get__(C(), C)
