"""Unit tests of the Redis Cluster poller's grouping and fairness rules."""
from __future__ import annotations

import pytest

pytest.importorskip('redis')

from kombu.transport.rediscluster.poller import by_queue, group_by_node, interleave, next_turn

OWNER = {'a': 'n1', 'b': 'n2', 'c': 'n1', 'd': 'n3', 'e': 'n2'}


def test_queues_grouped_by_owning_node_in_consumption_order() -> None:
    groups = group_by_node(['a', 'b', 'c', 'd', 'e', 'a'], OWNER.__getitem__)
    assert groups == {'n1': ['a', 'c'], 'n2': ['b', 'e'], 'n3': ['d']}
    assert list(groups) == ['n1', 'n2', 'n3']  # nodes in the order their queues came


def test_every_queue_of_a_node_gets_its_turn_at_the_blocking_wait() -> None:
    turns: dict[str, int] = {}
    group = ['a', 'c', 'f']
    picks = [next_turn(turns, 'n1', group) for _ in range(7)]
    assert picks == ['a', 'c', 'f', 'a', 'c', 'f', 'a']
    # a node's turns are its own: another node starts at its first queue
    assert next_turn(turns, 'n2', ['b', 'e']) == 'b'


def test_a_group_that_shrinks_keeps_turning() -> None:
    turns: dict[str, int] = {}
    assert [next_turn(turns, 'n', ['a', 'b', 'c']) for _ in range(2)] == ['a', 'b']
    assert [next_turn(turns, 'n', ['a']) for _ in range(2)] == ['a', 'a']


def test_batches_interleave_one_message_each() -> None:
    batches = [['a1', 'a2', 'a3', 'a4'], ['b1'], [], ['c1', 'c2']]
    assert interleave(batches) == ['a1', 'b1', 'c1', 'a2', 'c2', 'a3', 'a4']


def test_a_busy_queue_cannot_starve_a_later_batch() -> None:
    # what waits (a long batch of one queue) is regrouped and merged with the
    # new batch, so the newcomer's first message comes second, not after all.
    held = [(f'a{i}', 'qa') for i in range(50)]
    merged = interleave(by_queue(held) + [[('b0', 'qb'), ('b1', 'qb')]])
    assert [m for m, _ in merged[:5]] == ['a0', 'b0', 'a1', 'b1', 'a2']
    assert len(merged) == 52
    # each queue's own order is kept
    assert [m for m, q in merged if q == 'qa'] == [f'a{i}' for i in range(50)]


def test_by_queue_keeps_first_seen_order() -> None:
    items = [(1, 'x'), (2, 'y'), (3, 'x'), (4, 'z'), (5, 'y')]
    assert by_queue(items) == [[(1, 'x'), (3, 'x')], [(2, 'y'), (5, 'y')], [(4, 'z')]]


def test_interleave_of_nothing() -> None:
    assert interleave([]) == []
    assert interleave([[], []]) == []
