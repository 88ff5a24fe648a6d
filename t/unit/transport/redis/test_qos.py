"""The process-wide record of acks Redis has not confirmed."""
from __future__ import annotations

from kombu.transport.redis.qos import UnconfirmedAcks


def test_acks_kept_per_target_in_order_until_confirmed():
    acks = UnconfirmedAcks()
    assert not acks.by_target
    acks.add('a', ['t1', 't2'], 10.0)
    acks.add('a', ['t2', 't3'], 20.0)  # in doubt twice: the first send counts
    acks.add('b', ['u1'], 30.0)
    assert acks.get('a') == [('t1', 10.0), ('t2', 10.0), ('t3', 20.0)]
    assert acks.get('b') == [('u1', 30.0)]
    assert acks.holds('a', 't2') and not acks.holds('b', 't2')
    acks.confirm('a', ['t1', 't2'])
    assert acks.get('a') == [('t3', 20.0)]
    acks.confirm('a', ['t3', 'unknown'])
    assert acks.get('a') == [] and set(acks.by_target) == {'b'}
    acks.confirm('missing', ['x'])
    acks.clear()
    assert not acks.by_target


def test_adding_nothing_leaves_no_entry():
    acks = UnconfirmedAcks()
    acks.add('a', [], 1.0)
    assert not acks.by_target  # the hot path only checks truthiness
