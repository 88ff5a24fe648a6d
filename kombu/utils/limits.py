"""Token bucket rate limiting (used by Celery's worker for task rate limits)."""

from __future__ import annotations

from collections import deque
from time import monotonic
from typing import Any

__all__ = ('TokenBucket',)


class TokenBucket:
    """Token bucket: ``fill_rate`` tokens a second, at most ``capacity``.

    Also holds a FIFO of pending items (``add``/``pop``) for the caller.
    Not thread-safe: use it from one thread (the event loop).
    """

    #: Tokens added per second.
    fill_rate: float = None  # type: ignore[assignment]

    #: Most tokens the bucket holds.
    capacity: float = 1

    #: When the token count was last brought up to date.
    timestamp: float = None  # type: ignore[assignment]

    def __init__(self, fill_rate: float, capacity: float = 1) -> None:
        self.capacity = float(capacity)
        self._tokens = self.capacity
        self.fill_rate = float(fill_rate)
        self.timestamp = monotonic()
        self.contents: deque[Any] = deque()

    def add(self, item: Any) -> None:
        self.contents.append(item)

    def pop(self) -> Any:
        return self.contents.popleft()

    def clear_pending(self) -> None:
        self.contents.clear()

    def can_consume(self, tokens: float = 1) -> bool:
        """Take ``tokens`` and return True if there are that many, else
        take nothing and return False (never a partial amount)."""
        if tokens <= self._get_tokens():
            self._tokens -= tokens
            return True
        return False

    def expected_time(self, tokens: float = 1) -> float:
        """Seconds until ``tokens`` tokens will be available (0 if now)."""
        available = self._get_tokens()
        missing = max(tokens, available) - available
        if not missing:
            return 0.0
        return missing / self.fill_rate if self.fill_rate > 0 else float('inf')

    def _get_tokens(self) -> float:
        now = monotonic()  # the module global: tests replace it
        if self._tokens < self.capacity:
            delta = self.fill_rate * (now - self.timestamp)
            self._tokens = min(self.capacity, self._tokens + delta)
        # Always advance, so time spent full is not credited after a take.
        self.timestamp = now
        return self._tokens
