from __future__ import annotations

import pytest

from kombu.utils.scheduling import (
    FairCycle,
    cycle_by_name,
    priority_cycle,
    round_robin_cycle,
    sorted_cycle,
)


class Nothing(Exception):
    pass


def test_fair_cycle_takes_turns():
    calls = []

    def fun(resource, callback):
        calls.append(resource)
        return callback(resource)

    cycle = FairCycle(fun, ['a', 'b', 'c'], Nothing)
    assert [cycle.get(str.upper) for _ in range(4)] == ['A', 'B', 'C', 'A']
    assert 'FairCycle' in repr(cycle)
    cycle.close()


def test_fair_cycle_skips_empty_resources():
    ready = {'b'}

    def fun(resource, callback):
        if resource not in ready:
            raise Nothing()
        return resource

    cycle = FairCycle(fun, ['a', 'b', 'c'], Nothing)
    assert cycle.get(None) == 'b'
    assert cycle.get(None) == 'b'
    ready.clear()
    with pytest.raises(Nothing):
        cycle.get(None)


def test_fair_cycle_empty_resources():
    with pytest.raises(Nothing):
        FairCycle(lambda r, c: r, [], Nothing).get(None)


def test_fair_cycle_passes_kwargs():
    cycle = FairCycle(lambda r, c, timeout=None: (r, timeout), ['a'], Nothing)
    assert cycle.get(None, timeout=3) == ('a', 3)


def test_fair_cycle_sees_resources_added_later():
    resources = ['a']
    cycle = FairCycle(lambda r, c: r, resources, Nothing)
    assert cycle.get(None) == 'a'
    resources.append('b')
    assert cycle.get(None) == 'b'


def test_round_robin_cycle():
    cycle = round_robin_cycle(['a', 'b', 'c'])
    assert cycle.consume(2) == ['a', 'b']
    assert cycle.rotate('a') == 'a'
    assert cycle.items == ['b', 'c', 'a']
    cycle.rotate('missing')
    cycle.update(['x', 'y'])
    assert cycle.items == ['x', 'y']
    assert round_robin_cycle().items == []


def test_priority_cycle_never_rotates():
    cycle = priority_cycle(['a', 'b'])
    cycle.rotate('a')
    assert cycle.items == ['a', 'b']


def test_sorted_cycle():
    assert sorted_cycle(['c', 'a', 'b']).consume(3) == ['a', 'b', 'c']


def test_cycle_by_name():
    assert cycle_by_name('priority') is priority_cycle
    assert cycle_by_name('round_robin') is round_robin_cycle
    assert cycle_by_name('sorted') is sorted_cycle
