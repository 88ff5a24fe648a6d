"""Scheduling utilities: fair cycling between resources."""
from __future__ import annotations

from typing import Any, Callable, Generic, Iterable, Sequence, TypeVar

__all__ = (
    'FairCycle', 'priority_cycle', 'round_robin_cycle', 'sorted_cycle',
)

T = TypeVar('T')

CYCLE_ALIASES = {
    'priority': 'kombu.utils.scheduling:priority_cycle',
    'round_robin': 'kombu.utils.scheduling:round_robin_cycle',
    'sorted': 'kombu.utils.scheduling:sorted_cycle',
}


class FairCycle(Generic[T]):
    """Call ``fun`` on each resource in turn, so every resource gets its chance.

    ``get`` tries the resources starting after the one used last; a resource
    that raises ``predicate`` is skipped, and ``predicate`` is raised again
    once every resource has been tried.

    Arguments:
        fun: called as ``fun(resource, callback, **kwargs)``.
        resources: the (mutable, shared) sequence of resources.
        predicate: the exception class meaning "nothing here".
    """

    def __init__(self, fun: Callable[..., Any], resources: Sequence[T],
                 predicate: type[BaseException] = Exception) -> None:
        self.fun = fun
        self.resources = resources
        self.predicate = predicate
        self.pos = 0

    def _next(self) -> T:
        resources = self.resources
        while True:
            try:
                resource = resources[self.pos]
            except IndexError:
                self.pos = 0
                if not resources:
                    raise self.predicate()
            else:
                self.pos += 1
                return resource

    def get(self, callback: Callable[..., Any], **kwargs: Any) -> Any:
        """Call ``fun`` on the next resource that does not raise ``predicate``."""
        fun, predicate, resources = self.fun, self.predicate, self.resources
        tried = 0
        while True:
            try:  # _next, inlined (once per delivery)
                resource = resources[self.pos]
            except IndexError:
                self.pos = 0
                if not resources:
                    raise predicate() from None
                continue
            self.pos += 1
            try:
                return fun(resource, callback, **kwargs)
            except predicate:
                # The resource list may shrink while we loop: compare each time.
                if tried >= len(self.resources) - 1:
                    raise
                tried += 1

    def close(self) -> None:
        """Close the cycle (nothing to release)."""

    def __repr__(self) -> str:
        return f'<FairCycle: {self.pos}/{len(self.resources)} {self.resources!r}>'


class round_robin_cycle:
    """Iterator that cycles between items in round-robin order."""

    def __init__(self, it: list[Any] | None = None) -> None:
        self.items: list[Any] = it if it is not None else []

    def update(self, it: Iterable[Any]) -> None:
        """Replace the items, in place."""
        self.items[:] = it

    def consume(self, n: int) -> list[Any]:
        """Return the first ``n`` items."""
        return self.items[:n]

    def rotate(self, last_used: Any) -> Any:
        """Move the item used last to the end of the list."""
        items = self.items
        try:
            items.append(items.pop(items.index(last_used)))
        except ValueError:
            pass
        return last_used


class priority_cycle(round_robin_cycle):
    """Cycle that always starts from the first item (items are in priority order)."""

    def rotate(self, last_used: Any) -> None:
        """Order never changes."""


class sorted_cycle(priority_cycle):
    """Cycle in sorted order."""

    def consume(self, n: int) -> list[Any]:
        """Return the first ``n`` items, sorted."""
        return sorted(self.items[:n])


def cycle_by_name(name: str) -> Any:
    """Return the cycle class called ``name`` (an alias or a dotted path)."""
    from kombu.utils.imports import symbol_by_name
    return symbol_by_name(name, CYCLE_ALIASES)
