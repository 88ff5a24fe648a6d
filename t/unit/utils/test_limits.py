from __future__ import annotations

import pytest

from kombu.utils import limits
from kombu.utils.limits import TokenBucket


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(limits, 'monotonic', c)
    return c


def test_starts_full_and_refills_at_fill_rate(clock):
    b = TokenBucket(fill_rate=2, capacity=4)
    assert b.capacity == 4.0 and b.fill_rate == 2.0
    assert [b.can_consume() for _ in range(5)] == [True] * 4 + [False]
    clock.now += 0.5  # one token back
    assert b.can_consume()
    assert not b.can_consume()
    clock.now += 100  # never above capacity
    assert [b.can_consume() for _ in range(5)] == [True] * 4 + [False]


def test_never_consumes_part_of_a_request(clock):
    b = TokenBucket(fill_rate=1, capacity=3)
    assert b.can_consume(2)
    assert not b.can_consume(2)  # only 1 left: takes nothing
    assert b.can_consume(1)
    assert not b.can_consume(1)


def test_expected_time(clock):
    b = TokenBucket(fill_rate=4, capacity=2)
    assert b.expected_time() == 0
    assert b.can_consume(2)
    assert b.expected_time(1) == pytest.approx(0.25)
    assert b.expected_time(2) == pytest.approx(0.5)
    clock.now += 0.25
    assert b.expected_time(1) == 0
    assert b.expected_time(2) == pytest.approx(0.25)


def test_time_spent_full_is_not_credited_later(clock):
    b = TokenBucket(fill_rate=1, capacity=1)
    clock.now += 1000  # idle and full
    assert b.can_consume()
    clock.now += 0.1
    assert not b.can_consume()  # only 0.1 token has accrued
    assert b.expected_time() == pytest.approx(0.9)


def test_zero_fill_rate_waits_forever(clock):
    b = TokenBucket(fill_rate=0, capacity=1)
    assert b.can_consume()
    assert b.expected_time() == float('inf')


def test_pending_items_fifo():
    b = TokenBucket(1)
    for i in range(3):
        b.add(i)
    assert b.pop() == 0
    assert list(b.contents) == [1, 2]
    b.clear_pending()
    with pytest.raises(IndexError):
        b.pop()
