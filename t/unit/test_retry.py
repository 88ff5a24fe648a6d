from __future__ import annotations

import time

import pytest

from kombu.retry import RetryPolicy, policy_of, remaining, sleep_for


def test_from_kombu_dict():
    policy = RetryPolicy.from_dict({'max_retries': 3, 'interval_start': 0,
                                    'interval_step': 0.2, 'interval_max': 0.5,
                                    'errback': print, 'retry_errors': (KeyError,)})
    assert (policy.max_retries, policy.interval_start, policy.interval_step,
            policy.interval_max, policy.timeout) == (3, 0, 0.2, 0.5, None)
    assert RetryPolicy.from_dict(policy) is policy
    assert RetryPolicy.from_dict(None, max_retries=1) == RetryPolicy(max_retries=1)
    assert RetryPolicy.from_dict({'timeout': 5}).as_dict()['timeout'] == 5


def test_unknown_key_warns():
    with pytest.warns(UserWarning, match='interval_maxx'):
        RetryPolicy.from_dict({'interval_maxx': 1})


def test_intervals_grow_and_cap():
    waits = RetryPolicy(interval_start=0, interval_step=0.2, interval_max=0.5).intervals()
    assert [round(next(waits), 2) for _ in range(5)] == [0, 0.2, 0.4, 0.5, 0.5]
    jittered = RetryPolicy(interval_start=1, interval_step=0, jitter=0.5).intervals()
    assert all(0.5 <= next(jittered) <= 1.5 for _ in range(50))


def test_gives_up_on_retries_or_deadline():
    policy = RetryPolicy(max_retries=2)
    assert not policy.gives_up(1, None)
    assert policy.gives_up(2, None)
    unlimited = RetryPolicy(timeout=10)
    assert not unlimited.gives_up(10**6, unlimited.deadline())
    assert unlimited.gives_up(0, time.monotonic() - 1)
    assert RetryPolicy(timeout=0).deadline() is None
    assert RetryPolicy().deadline() is None


@pytest.mark.parametrize('kwargs', [
    {'max_retries': -1}, {'interval_start': -1}, {'interval_step': -0.1},
    {'interval_max': -2}, {'timeout': -1}, {'jitter': 2},
])
def test_invalid_values(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_frozen_and_shared():
    policy = policy_of(3, 1, 1, 1, None)
    with pytest.raises(AttributeError):
        policy.max_retries = 5
    assert policy_of(3, 1, 1, 1, None) is policy
    assert policy_of(3, 1, 1, 1, None) == RetryPolicy(3, 1, 1, 1, None)


def test_remaining_and_sleep():
    assert remaining(None) is None
    assert remaining(time.monotonic() - 5) == 0.0
    ticks = []
    started = time.monotonic()
    sleep_for(0.05, lambda: ticks.append(1))
    assert time.monotonic() - started >= 0.05
    assert ticks
