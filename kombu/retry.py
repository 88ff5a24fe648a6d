"""Retry policy: one immutable value for connect, declare and publish.

Built from Kombu's ``retry_policy`` dict (``max_retries``, ``interval_start``,
``interval_step``, ``interval_max``) plus a total deadline (``timeout``), and
used by :meth:`kombu.Connection.ensure_connection` and
:meth:`kombu.Connection.ensure`.
"""
from __future__ import annotations

import random
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from itertools import count
from time import monotonic, sleep
from typing import Any, Callable

__all__ = ('RetryPolicy', 'policy_of')

# ensure()/ensure_connection() arguments a retry_policy dict may carry that
# are not part of the policy value itself.
_ENSURE_EXTRAS = frozenset(['errback', 'on_revive', 'retry_errors', 'callback'])


@dataclass(frozen=True)
class RetryPolicy:
    """How to retry an operation: one immutable value for connect, declare and publish.

    ``max_retries`` retries follow the first attempt (``None``: no limit);
    the waits start at ``interval_start`` seconds and grow by
    ``interval_step`` up to ``interval_max``; ``timeout`` is a total deadline
    in seconds over all attempts and waits (``None`` or ``0``: none).
    ``jitter`` (0-1) spreads waits by that fraction to avoid thundering herds.
    """

    max_retries: int | None = None
    interval_start: float = 2.0
    interval_step: float = 2.0
    interval_max: float = 30.0
    timeout: float | None = None
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.max_retries is not None and self.max_retries < 0:
            raise ValueError(f'max_retries must be >= 0 or None, not {self.max_retries!r}')
        for name in ('interval_start', 'interval_step', 'interval_max'):
            if getattr(self, name) < 0:
                raise ValueError(f'{name} must be >= 0, not {getattr(self, name)!r}')
        if self.timeout is not None and self.timeout < 0:
            raise ValueError(f'timeout must be >= 0 or None, not {self.timeout!r}')
        if not 0 <= self.jitter <= 1:
            raise ValueError(f'jitter must be between 0 and 1, not {self.jitter!r}')

    @classmethod
    def from_dict(cls, policy: RetryPolicy | Mapping[str, Any] | None = None,
                  **defaults: Any) -> RetryPolicy:
        """Build from Kombu's ``retry_policy`` dict (``defaults`` fill missing keys).

        Keys that belong to ``ensure()`` rather than to the policy
        (``errback``, ``on_revive``, ``retry_errors``, ``callback``) are
        ignored; any other unknown key warns, as it would otherwise be
        silently lost.
        """
        if isinstance(policy, RetryPolicy):
            return policy
        values = dict(defaults)
        for key, value in (policy or {}).items():
            if key in cls.__dataclass_fields__:
                values[key] = value
            elif key not in _ENSURE_EXTRAS:
                warnings.warn(f'unknown retry policy option {key!r} ignored',
                              UserWarning, stacklevel=2)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def intervals(self) -> Iterator[float]:
        """The successive waits: ``start, start+step, ...`` capped at ``interval_max``."""
        for n in count():
            wait = min(self.interval_start + n * self.interval_step, self.interval_max)
            if self.jitter:
                wait *= 1 + random.uniform(-self.jitter, self.jitter)
            yield max(wait, 0.0)

    def deadline(self, now: float | None = None) -> float | None:
        """The monotonic time at which to give up (``None``: never)."""
        if not self.timeout:
            return None
        return (monotonic() if now is None else now) + self.timeout

    def gives_up(self, retries: int, deadline: float | None) -> bool:
        """True once ``retries`` retries were used or the deadline passed."""
        if self.max_retries is not None and retries >= self.max_retries:
            return True
        return deadline is not None and monotonic() >= deadline


def remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - monotonic(), 0.0)


def sleep_for(seconds: float, callback: Callable[[], Any] | None) -> None:
    # Sleep in slices of at most a second so ``callback`` runs regularly.
    end = monotonic() + seconds
    while True:
        left = end - monotonic()
        if left <= 0:
            return
        if callback:
            callback()
        sleep(min(left, 1.0))


@lru_cache(maxsize=128)
def _cached_policy(*args: Any) -> RetryPolicy:
    return RetryPolicy(*args)


def policy_of(*args: Any) -> RetryPolicy:
    """``RetryPolicy(*args)``, shared between calls with the same arguments.

    ``Connection.ensure()`` runs for every publish with ``retry=True``: this
    keeps it from building a new policy each time.
    """
    try:
        return _cached_policy(*args)
    except TypeError:  # an unhashable argument
        return RetryPolicy(*args)
