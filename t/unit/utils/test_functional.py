from __future__ import annotations

import pickle
import threading
from itertools import islice
from unittest.mock import Mock, patch

import pytest
from vine import promise

from kombu.utils import functional
from kombu.utils.functional import (
    KEYWORD_MARK,
    ChannelPromise,
    LRUCache,
    accepts_argument,
    dictfilter,
    fxrange,
    fxrangemax,
    is_list,
    lazy,
    maybe_evaluate,
    maybe_list,
    maybe_promise,
    memoize,
    reprcall,
    reprkwargs,
    retry_over_time,
    shufflecycle,
)


class test_LRUCache:
    def test_evicts_least_recently_used(self):
        c = LRUCache(limit=3)
        for k in 'abc':
            c[k] = k.upper()
        assert c['a'] == 'A'  # 'a' is now most recent
        c['d'] = 'D'
        assert 'b' not in c
        assert list(c.keys()) == ['c', 'a', 'd']
        assert list(c.values()) == ['C', 'A', 'D']
        assert list(c.items()) == [('c', 'C'), ('a', 'A'), ('d', 'D')]
        assert len(c) == 3

    def test_update_trims_to_limit(self):
        c = LRUCache(limit=2)
        c.update(a=1, b=2, c=3)
        assert list(c) == ['b', 'c']

    def test_unbounded(self):
        c = LRUCache()
        c.update((i, i) for i in range(1000))
        assert len(c) == 1000

    def test_missing_key(self):
        with pytest.raises(KeyError):
            LRUCache(limit=1)['x']

    def test_popitem_incr_clear(self):
        c = LRUCache(limit=5)
        c['a'], c['b'] = 1, 2
        assert c.popitem() == ('b', 2)
        assert c.popitem(last=False) == ('a', 1)
        c['n'] = '10'
        assert c.incr('n') == 11 and c.incr('n', 5) == 16
        assert c['n'] == '16'
        c.clear()
        assert len(c) == 0

    def test_pickle(self):
        c = LRUCache(limit=4)
        c['a'] = 1
        c2 = pickle.loads(pickle.dumps(c))
        assert c2['a'] == 1 and c2.limit == 4
        c2['b'] = 2  # the mutex was recreated

    def test_iteration_while_mutating_from_threads(self):
        c = LRUCache(limit=50)
        stop = threading.Event()

        def writer():
            i = 0
            while not stop.is_set():
                c[i % 200] = i
                i += 1

        t = threading.Thread(target=writer)
        t.start()
        try:
            for _ in range(200):
                list(c.items())
                list(c.values())
                assert len(c) <= 50
        finally:
            stop.set()
            t.join(timeout=10)


def test_memoize_counts_hits_and_clears():
    calls = []

    @memoize(maxsize=2)
    def add(a, b=0):
        calls.append((a, b))
        return a + b

    assert add(1, b=2) == 3 and add(1, b=2) == 3
    assert add.hits == 1 and add.misses == 1
    add(2), add(3), add(1, b=2)  # (1, b=2) was evicted
    assert calls.count((1, 2)) == 2
    add.clear()
    assert add.hits == 0 and add.misses == 0
    assert add.original_func.__name__ == 'add'


def test_memoize_keyfun():
    @memoize(keyfun=lambda args, kwargs: args[0] % 2)
    def parity(n):
        return n

    assert parity(1) == 1 and parity(3) == 1 and parity(2) == 2


class test_lazy:
    def test_evaluates_each_time(self):
        fun = Mock(side_effect=[1, 2])
        v = lazy(fun, 'a', k='b')
        assert v() == 1 and v.evaluate() == 2
        fun.assert_called_with('a', k='b')

    def test_str_repr_eq(self):
        v = lazy(lambda: 'x')
        assert str(v) == 'x' and repr(v) == "'x'"
        assert v == 'x' and v != 'y'

    def test_pickle_and_deepcopy(self):
        import copy
        v = lazy(int, '5')
        assert pickle.loads(pickle.dumps(v))() == 5
        assert copy.deepcopy(v) is v

    def test_maybe_evaluate(self):
        assert maybe_evaluate(lazy(lambda: 3)) == 3
        assert maybe_evaluate(3) == 3


def test_is_list_and_maybe_list():
    assert is_list([1]) and is_list((1,)) and is_list({1})
    assert not is_list('ab') and not is_list({'a': 1}) and not is_list(3)
    assert is_list('ab', scalars=None)
    assert maybe_list(None) is None
    assert maybe_list(1) == [1]
    items = [1]
    assert maybe_list(items) is items
    assert maybe_list('x') == ['x']


def test_dictfilter():
    assert dictfilter({'a': 1, 'b': None}) == {'a': 1}
    assert dictfilter({'a': 1}, b=None, c=3) == {'a': 1, 'c': 3}
    assert dictfilter(a=None, b=0) == {'b': 0}


def test_shufflecycle():
    items = [1, 2, 3]
    seen = set(islice(shufflecycle(items), 200))
    assert seen == {1, 2, 3}
    assert items == [1, 2, 3]


def test_fxrange():
    assert list(fxrange(1.0, 3.0, 0.5)) == [1.0, 1.5, 2.0, 2.5, 3.0]
    assert list(islice(fxrange(1.0, 2.0, 1.0, repeatlast=True), 5)) == [1.0, 2.0, 2.0, 2.0, 2.0]
    assert list(islice(fxrange(1.0, None, 2.0), 3)) == [1.0, 3.0, 5.0]


def test_fxrangemax():
    assert list(fxrangemax(1.0, 3.0, 1.0, max=10)) == [1.0, 2.0, 3.0, 3.0]
    assert list(fxrangemax(2.0, None, 3.0, max=20)) == [2.0, 5.0, 8.0]
    assert sum(fxrangemax(1.0, None, 1.0, max=10)) >= 10


class test_retry_over_time:
    def setup_method(self):
        self.sleeps = []
        self.patcher = patch.object(functional, 'sleep', self.sleeps.append)
        self.patcher.start()

    def teardown_method(self):
        self.patcher.stop()

    def failing(self, n, exc=KeyError):
        calls = []

        def fun(*args, **kwargs):
            calls.append((args, kwargs))
            if len(calls) <= n:
                raise exc(f'fail {len(calls)}')
            return 'ok'
        return fun, calls

    def test_returns_after_retries_with_backoff(self):
        fun, calls = self.failing(3)
        assert retry_over_time(fun, KeyError, args=(1,), kwargs={'a': 2},
                               interval_start=1, interval_step=1, interval_max=10) == 'ok'
        assert len(calls) == 4 and calls[0] == ((1,), {'a': 2})
        assert sum(self.sleeps) == pytest.approx(1 + 2 + 3)

    def test_sleeps_are_capped_by_interval_max(self):
        fun, _ = self.failing(5)
        retry_over_time(fun, KeyError, interval_start=2, interval_step=5, interval_max=3)
        assert sum(self.sleeps) == pytest.approx(2 + 3 * 4)

    def test_max_retries_reraises_last_error(self):
        fun, calls = self.failing(10)
        with pytest.raises(KeyError, match='fail 3'):
            retry_over_time(fun, KeyError, max_retries=2, interval_start=0)
        assert len(calls) == 3

    def test_other_errors_propagate_immediately(self):
        fun, calls = self.failing(10, exc=ValueError)
        with pytest.raises(ValueError):
            retry_over_time(fun, KeyError)
        assert len(calls) == 1

    def test_errback_chooses_interval_and_callback_runs(self):
        fun, _ = self.failing(2)
        errback = Mock(return_value=1.5)
        callback = Mock()
        retry_over_time(fun, KeyError, errback=errback, callback=callback)
        assert errback.call_count == 2
        exc, intervals, retries = errback.call_args[0]
        assert isinstance(exc, KeyError) and retries == 1
        assert next(intervals) == 2.0
        assert self.sleeps == [1.0, 0.5, 1.0, 0.5]
        assert callback.call_count == 4  # before each wait + once per whole second

    def test_timeout_is_a_total_deadline(self):
        clock = [100.0]

        def fake_sleep(seconds):
            self.sleeps.append(seconds)
            clock[0] += seconds

        fun, calls = self.failing(100)
        with patch.object(functional, 'sleep', fake_sleep), \
                patch.object(functional, 'monotonic', lambda: clock[0]):
            with pytest.raises(KeyError):
                retry_over_time(fun, KeyError, interval_start=4, interval_step=4,
                                interval_max=30, timeout=10)
        # 4 + 6 (cut short by the deadline, not 8) and then gives up.
        assert sum(self.sleeps) == pytest.approx(10)
        assert clock[0] == pytest.approx(110)
        assert len(calls) == 3


def test_reprkwargs_and_reprcall():
    assert reprkwargs({'a': 1, 'b': 'x'}) == "a=1, b='x'"
    assert reprcall('f', (1, 'a'), {'k': None}) == "f(1, 'a', k=None)"
    assert reprcall('f') == 'f()'
    assert reprcall('f', kwargs={'k': 1}) == 'f(k=1)'


def test_accepts_argument():
    def f(a, *, b=None):
        pass
    assert accepts_argument(f, 'a') and accepts_argument(f, 'b')
    assert not accepts_argument(f, 'c')


def test_channel_promise_evaluates_once():
    contract = Mock(return_value='chan')
    p = ChannelPromise(contract)
    assert repr(p).startswith('<promise: 0x')
    assert p() == 'chan' and p() == 'chan'
    contract.assert_called_once_with()
    assert repr(p) == "'chan'"


def test_reexports():
    assert functional.promise is promise
    assert maybe_promise(None) is None
    assert KEYWORD_MARK is functional.KEYWORD_MARK
