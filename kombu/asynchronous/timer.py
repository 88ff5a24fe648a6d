"""Timer: a heap of callbacks due at monotonic timestamps.

The hub (and Celery's threaded ``timer2``) drive it by iterating over it:
each step yields ``(delay, None)`` when the next entry is ``delay`` seconds
away, ``(None, entry)`` when an entry is due, and ``(None, None)`` when the
schedule is empty.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import sys
from collections import namedtuple
from datetime import datetime, timezone, tzinfo
from functools import total_ordering, wraps
from time import monotonic
from time import time as _time
from typing import Any, Callable, Iterator, Mapping, Sequence
from weakref import proxy as weakrefproxy

try:
    from zoneinfo import ZoneInfo

    _UTC: tzinfo = ZoneInfo('UTC')
except Exception:  # pragma: no cover (no tz database on this host)
    _UTC = timezone.utc

__all__ = ('Entry', 'Timer', 'to_timestamp')

logger = logging.getLogger(__name__)

DEFAULT_MAX_INTERVAL = 2
EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
IS_PYPY = hasattr(sys, 'pypy_version_info')

scheduled = namedtuple('scheduled', ('eta', 'priority', 'entry'))

# Entries that share eta and priority run in the order they were created.
_entry_seq = itertools.count()


def _now() -> float:
    # Looked up at call time so tests can replace ``timer.monotonic``.
    return monotonic()


def to_timestamp(d: Any, default_timezone: tzinfo = _UTC,
                 time: Callable[[], float] = monotonic) -> Any:
    """Convert a datetime to a timestamp on the ``time`` (monotonic) clock.

    Naive datetimes are taken to be in ``default_timezone``.  Numbers are
    returned unchanged (they are already timestamps).
    """
    if isinstance(d, datetime):
        if d.tzinfo is None:
            d = d.replace(tzinfo=default_timezone)
        wall_minus_clock = _time() - time()
        return max((d - EPOCH).total_seconds() - wall_minus_clock, 0)
    return d


@total_ordering
class Entry:
    """A scheduled call: ``fun(*args, **kwargs)``."""

    if not IS_PYPY:  # pragma: no branch
        __slots__ = ('fun', 'args', 'kwargs', 'tref', 'canceled', '_last_run',
                     '_seq', '__weakref__')

    def __init__(self, fun: Callable[..., Any], args: Sequence[Any] | None = None,
                 kwargs: Mapping[str, Any] | None = None) -> None:
        self.fun = fun
        self.args = args or []
        self.kwargs = kwargs or {}
        # A proxy, so cancelling through ``entry.tref`` keeps no entry alive.
        self.tref = weakrefproxy(self)
        self._last_run: float | None = None
        self.canceled = False
        self._seq = next(_entry_seq)

    def __call__(self) -> Any:
        return self.fun(*self.args, **self.kwargs)

    def cancel(self) -> None:
        try:
            self.tref.canceled = True  # type: ignore[attr-defined]
        except ReferenceError:  # pragma: no cover
            pass

    @property
    def cancelled(self) -> bool:
        return self.canceled

    @cancelled.setter
    def cancelled(self, value: bool) -> None:
        self.canceled = value

    def __repr__(self) -> str:
        name = getattr(self.fun, '__name__', repr(self.fun))
        return f'<TimerEntry: {name}(*{self.args!r}, **{self.kwargs!r})'

    # Identity semantics for == and hash; ordering by creation only breaks
    # ties in the heap (never hash(), which would call user code).
    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __lt__(self, other: Entry) -> bool:
        return self._seq < other._seq


#: For annotations inside Timer, whose ``Entry`` attribute shadows the class.
_Entry = Entry


class Timer:
    """Schedule of :class:`Entry` objects kept in a heap."""

    Entry = Entry

    #: Called with the exception when an entry fails (else it is logged).
    on_error: Callable[[BaseException], Any] | None = None

    def __init__(self, max_interval: float | None = None,
                 on_error: Callable[[BaseException], Any] | None = None,
                 **kwargs: Any) -> None:
        self.max_interval = float(max_interval or DEFAULT_MAX_INTERVAL)
        self.on_error = on_error or self.on_error
        self._queue: list[scheduled] = []

    def __enter__(self) -> Timer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def call_at(self, eta: Any, fun: Callable[..., Any], args: Sequence[Any] = (),
                kwargs: Mapping[str, Any] | None = None, priority: int = 0) -> _Entry | None:
        return self.enter_at(self.Entry(fun, args, kwargs or {}), eta, priority)

    def call_after(self, secs: float, fun: Callable[..., Any], args: Sequence[Any] = (),
                   kwargs: Mapping[str, Any] | None = None, priority: int = 0) -> _Entry | None:
        return self.enter_after(secs, self.Entry(fun, args, kwargs or {}), priority)

    def call_repeatedly(self, secs: float, fun: Callable[..., Any],
                        args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None,
                        priority: int = 0) -> _Entry | None:
        """Call ``fun`` every ``secs`` seconds until the entry is cancelled."""
        tref = self.Entry(fun, args, kwargs or {})

        @wraps(fun)
        def _reschedules(*args: Any, **kwargs: Any) -> Any:
            last, now = tref._last_run, _now()
            since = (now - last) if last is not None else secs
            try:
                if since >= secs:
                    tref._last_run = now
                    return fun(*args, **kwargs)
            finally:
                if not tref.canceled:
                    last = tref._last_run
                    delay = secs if last is None else secs - (now - last)
                    self.schedule.enter_after(delay, tref, priority)
            return None

        tref.fun = _reschedules
        tref._last_run = None
        return self.enter_after(secs, tref, priority)

    def enter_at(self, entry: _Entry, eta: Any = None, priority: int = 0,
                 time: Callable[[], float] | None = None) -> _Entry | None:
        """Schedule ``entry`` at ``eta`` (monotonic timestamp or datetime)."""
        if eta is None:
            eta = (time or _now)()
        if isinstance(eta, datetime):
            try:
                eta = to_timestamp(eta)
            except Exception as exc:
                if not self.handle_error(exc):
                    raise
                return None
        return self._enter(eta, priority, entry)

    def enter_after(self, secs: float, entry: _Entry, priority: int = 0,
                    time: Callable[[], float] | None = None) -> _Entry | None:
        return self.enter_at(entry, (time or _now)() + float(secs), priority)

    def _enter(self, eta: float, priority: int, entry: _Entry) -> _Entry:
        heapq.heappush(self._queue, scheduled(eta, priority, entry))
        return entry

    def apply_entry(self, entry: _Entry) -> None:
        try:
            entry()
        except Exception as exc:
            if not self.handle_error(exc):
                logger.error('Error in timer: %r', exc, exc_info=True)

    def handle_error(self, exc_info: BaseException) -> bool | None:
        if self.on_error:
            self.on_error(exc_info)
            return True
        return None

    def stop(self) -> None:
        pass

    def __iter__(self) -> Iterator[tuple[float | None, _Entry | None]]:
        return self._iterate()

    def _iterate(self) -> Iterator[tuple[float | None, _Entry | None]]:
        queue, pop, push = self._queue, heapq.heappop, heapq.heappush
        while 1:
            if not queue:
                yield None, None
                continue
            head = queue[0]
            now = _now()
            if now < head[0]:
                yield min(head[0] - now, self.max_interval), None
                continue
            event = pop(queue)
            if event is not head:  # pragma: no cover (raced with another thread)
                push(queue, event)
                continue
            if not head[2].canceled:
                yield None, head[2]

    def clear(self) -> None:
        self._queue[:] = []  # in place: the hub holds a reference to the list

    def cancel(self, tref: _Entry) -> None:
        tref.cancel()

    def __len__(self) -> int:
        return len(self._queue)

    def __bool__(self) -> bool:
        return True

    @property
    def queue(self) -> list[scheduled]:
        """Snapshot of the schedule, in the order it will run."""
        return sorted(self._queue)

    @property
    def schedule(self) -> Timer:
        return self
