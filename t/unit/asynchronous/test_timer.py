from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from time import monotonic, time

import pytest

from kombu.asynchronous.timer import (
    DEFAULT_MAX_INTERVAL,
    EPOCH,
    Entry,
    Timer,
    scheduled,
    to_timestamp,
)


def drain(timer):
    """Run every due entry; return the delay the scheduler asks for."""
    it = iter(timer)
    while True:
        delay, entry = next(it)
        if entry is None:
            return delay
        timer.apply_entry(entry)


class TestToTimestamp:

    def test_numbers_pass_through(self):
        assert to_timestamp(3.13) == 3.13

    def test_aware_datetime_to_monotonic(self):
        d = datetime.now(timezone.utc) + timedelta(seconds=30)
        assert to_timestamp(d) == pytest.approx(monotonic() + 30, abs=0.5)

    def test_naive_datetime_uses_default_timezone(self):
        d = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(seconds=10)
        assert to_timestamp(d) == pytest.approx(monotonic() + 10, abs=0.5)
        plus2 = timezone(timedelta(hours=2))
        assert to_timestamp(d, default_timezone=plus2) == pytest.approx(
            max(monotonic() + 10 - 7200, 0), abs=0.5)

    def test_custom_clock_and_past_clamped_to_zero(self):
        d = datetime.fromtimestamp(time() + 5, timezone.utc)
        assert to_timestamp(d, time=lambda: 100.0) == pytest.approx(105, abs=0.5)
        assert to_timestamp(EPOCH) == 0


class TestEntry:

    def test_call_and_repr(self):
        calls = []
        e = Entry(lambda *a, **k: calls.append((a, k)), (4, 4), {'moo': 'baz'})
        e()
        assert calls == [((4, 4), {'moo': 'baz'})]
        assert '<TimerEntry: <lambda>' in repr(e)

    def test_cancel(self):
        e = Entry(lambda: None)
        assert not e.canceled and not e.cancelled
        e.tref.cancel()
        assert e.canceled and e.cancelled
        e.cancelled = False
        assert not e.canceled

    def test_identity_equality_hash_and_ordering(self):
        x, y = Entry(lambda: 1), Entry(lambda: 1)
        assert x == x and x != y
        assert len({x, y}) == 2
        assert x < y and y > x and x <= y  # creation order


class TestTimer:

    def test_defaults(self):
        t = Timer()
        assert t.max_interval == DEFAULT_MAX_INTERVAL
        assert t.schedule is t
        assert len(t) == 0 and bool(t)
        with t:
            pass

    def test_call_after_runs_in_eta_order(self, clock):
        t = Timer()
        out = []
        t.call_after(3, out.append, ('c',))
        t.call_after(1, out.append, ('a',))
        t.call_after(2, out.append, ('b',))
        assert drain(t) == pytest.approx(1)
        clock.advance(2)
        assert drain(t) == pytest.approx(1)
        assert out == ['a', 'b']
        clock.advance(5)
        assert drain(t) is None
        assert out == ['a', 'b', 'c']

    def test_same_eta_runs_in_call_order(self, clock):
        t = Timer()
        out = []
        for i in range(20):
            t.call_at(clock.now, out.append, (i,))
        drain(t)
        assert out == list(range(20))

    def test_priority_breaks_eta_ties(self, clock):
        t = Timer()
        out = []
        t.call_at(clock.now, out.append, ('low',), priority=5)
        t.call_at(clock.now, out.append, ('high',), priority=1)
        drain(t)
        assert out == ['high', 'low']

    def test_delay_capped_at_max_interval(self, clock):
        t = Timer(max_interval=0.5)
        t.call_after(100, lambda: None)
        assert drain(t) == 0.5

    def test_cancelled_entry_never_runs(self, clock):
        t = Timer()
        out = []
        e = t.call_after(1, out.append, ('x',))
        t.call_after(1, out.append, ('y',))
        t.cancel(e)
        clock.advance(1)
        drain(t)
        assert out == ['y']
        assert len(t) == 0

    def test_call_at_datetime(self, clock):
        t = Timer()
        when = datetime.now(timezone.utc) + timedelta(seconds=60)
        e = t.call_at(when, lambda: None)
        (eta, prio, entry), = t.queue
        assert entry is e and prio == 0
        assert eta == pytest.approx(to_timestamp(when), abs=0.5)

    def test_call_repeatedly(self, clock):
        t = Timer()
        out = []
        e = t.call_repeatedly(10, lambda: out.append(clock.now))
        start = clock.now
        for _ in range(3):
            clock.advance(10)
            drain(t)
        assert out == [start + 10, start + 20, start + 30]
        assert len(t) == 1  # rescheduled once
        e.cancel()
        clock.advance(10)
        drain(t)
        assert len(out) == 3 and len(t) == 0

    def test_call_repeatedly_keeps_going_after_errors(self, clock):
        errors = []
        t = Timer(on_error=errors.append)
        n = []

        def boom():
            n.append(1)
            raise KeyError('x')
        t.call_repeatedly(1, boom)
        for _ in range(3):
            clock.advance(1)
            drain(t)
        assert len(n) == 3 and len(errors) == 3
        assert all(isinstance(e, KeyError) for e in errors)

    def test_enter_after_with_time_argument(self):
        t = Timer()
        e = Entry(lambda: None)
        t.enter_after(10, e, time=lambda: 10)
        assert t.queue == [scheduled(20, 0, e)]

    def test_queue_is_sorted_snapshot_and_clear(self, clock):
        t = Timer()
        a = t.call_after(2, lambda: None)
        b = t.call_after(1, lambda: None)
        assert [s.entry for s in t.queue] == [b, a]
        q = t._queue
        t.clear()
        assert t._queue is q and t.queue == []

    def test_apply_entry_error_goes_to_on_error(self):
        errors = []
        t = Timer(on_error=errors.append)
        t.apply_entry(Entry(lambda: 1 / 0))
        assert isinstance(errors[0], ZeroDivisionError)

    def test_apply_entry_error_logged_without_on_error(self, caplog):
        t = Timer()
        with caplog.at_level(logging.ERROR, logger='kombu.asynchronous.timer'):
            t.apply_entry(Entry(lambda: 1 / 0))
        assert 'Error in timer' in caplog.text

    def test_bad_datetime_handled_by_on_error(self, monkeypatch):
        from kombu.asynchronous import timer as mod
        errors = []
        t = Timer(on_error=errors.append)

        def overflow(d):
            raise OverflowError()
        monkeypatch.setattr(mod, 'to_timestamp', overflow)
        assert t.enter_at(Entry(lambda: None), eta=datetime.now()) is None
        assert isinstance(errors[0], OverflowError)
        t.on_error = None
        with pytest.raises(OverflowError):
            t.enter_at(Entry(lambda: None), eta=datetime.now())
        assert len(t) == 0
