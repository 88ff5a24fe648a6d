"""Logical clocks for ordering events between processes."""
from __future__ import annotations

from itertools import islice
from operator import itemgetter
from threading import Lock
from typing import Any, Callable, ContextManager, Sequence

__all__ = ('LamportClock', 'timetuple')

R_CLOCK = '_lamport(clock={0}, timestamp={1}, id={2} {3!r})'


class timetuple(tuple):
    """``(clock, timestamp, id, obj)`` of an event, orderable in a heap.

    Ordered by Lamport clock (ties broken by ``id``) when both clocks are
    set, else by wall-clock ``timestamp``.
    """

    __slots__ = ()

    def __new__(cls, clock: int | None, timestamp: float, id: str,
                obj: Any = None) -> timetuple:
        return tuple.__new__(cls, (clock, timestamp, id, obj))

    def __repr__(self) -> str:
        return R_CLOCK.format(*self)

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)

    def __lt__(self, other: tuple[Any, ...]) -> bool:
        try:
            a, b = self[0], other[0]
            if a and b:
                if a == b:
                    return self[2] < other[2]
                return a < b
            return self[1] < other[1]
        except IndexError:
            return NotImplemented

    def __gt__(self, other: tuple[Any, ...]) -> bool:
        return other < self

    def __le__(self, other: tuple[Any, ...]) -> bool:
        return not other < self

    def __ge__(self, other: tuple[Any, ...]) -> bool:
        return not self < other

    clock = property(itemgetter(0))
    timestamp = property(itemgetter(1))
    id = property(itemgetter(2))
    obj = property(itemgetter(3))


class LamportClock:
    """Lamport's logical clock, thread-safe.

    Call :meth:`forward` before sending a message (and send the value);
    call :meth:`adjust` with the value of each message received.
    """

    value = 0

    def __init__(self, initial_value: int = 0,
                 Lock: Callable[[], ContextManager[Any]] = Lock) -> None:
        self.value = initial_value
        self.mutex = Lock()

    def adjust(self, other: int) -> int:
        """Sync with a received clock value: ``max(ours, other) + 1``."""
        with self.mutex:
            value = self.value = max(self.value, other) + 1
            return value

    def forward(self) -> int:
        """Increment the clock for a local event and return the new value."""
        with self.mutex:
            self.value += 1
            return self.value

    def sort_heap(self, h: Sequence[Sequence[Any]]) -> Any:
        """Return the first event of ``h``, a list sorted by clock.

        Events are tuples ``(clock, process_id, ...)``; among events sharing
        the lowest clock, the one with the lowest process id wins.
        """
        if len(h) < 2 or h[0][0] != h[1][0]:
            return h[0]
        same = [h[0]]
        for event in islice(h, 1, None):
            if event[0] != h[0][0]:
                break
            same.append(event)
        return min(same, key=itemgetter(1))

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return f'<LamportClock: {self.value}>'
