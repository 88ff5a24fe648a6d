"""Callback-based semaphore for the event loop, and a no-op lock."""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

__all__ = ('DummyLock', 'LaxBoundedSemaphore')


class LaxBoundedSemaphore:
    """Semaphore that applies callbacks instead of blocking.

    ``acquire(callback, *args)`` calls ``callback(*args)`` at once while
    there is room, else queues it; each ``release()`` then applies the
    oldest waiting callback (FIFO).  "Lax": releasing more often than
    acquiring never raises the value above its bound.

    Arguments:
        value (int): Number of concurrent holders allowed.
    """

    def __init__(self, value: int) -> None:
        self.initial_value = self.value = value
        self._waiting: deque[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = deque()
        self._add_waiter = self._waiting.append
        self._pop_waiter = self._waiting.popleft

    def acquire(self, callback: Callable[..., Any], *partial_args: Any,
                **partial_kwargs: Any) -> bool:
        """Apply ``callback`` now if possible (return True), else queue it."""
        value = self.value
        if value <= 0:
            self._add_waiter((callback, partial_args, partial_kwargs))
            return False
        self.value = max(value - 1, 0)
        callback(*partial_args, **partial_kwargs)
        return True

    def release(self) -> None:
        """Free one slot: the oldest waiter takes it, if any."""
        try:
            waiter, args, kwargs = self._pop_waiter()
        except IndexError:
            self.value = min(self.value + 1, self.initial_value)
        else:
            waiter(*args, **kwargs)

    def grow(self, n: int = 1) -> None:
        """Allow ``n`` more holders (waiters take the new slots first)."""
        self.initial_value += n
        for _ in range(n):
            self.release()

    def shrink(self, n: int = 1) -> None:
        """Allow ``n`` fewer holders (current holders are not affected)."""
        self.initial_value = max(self.initial_value - n, 0)
        self.value = max(self.value - n, 0)

    def clear(self) -> None:
        """Drop every waiting callback and reset the value to its bound."""
        self._waiting.clear()
        self.value = self.initial_value

    def __repr__(self) -> str:
        return (f'<{type(self).__name__} at {id(self):#x} '
                f'value:{self.value} waiting:{len(self._waiting)}>')


class DummyLock:
    """Context manager that pretends to be a lock (for the single-threaded loop)."""

    def __enter__(self) -> DummyLock:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        pass
