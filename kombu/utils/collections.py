"""Custom containers."""
from __future__ import annotations

from typing import Any

__all__ = ('HashedSeq', 'EqualityDict', 'eqhash')


class HashedSeq(list):
    """A list usable as a dict key: its hash is computed once, up front."""

    __slots__ = ('hashvalue',)

    def __init__(self, *seq: Any) -> None:
        self[:] = seq
        self.hashvalue = hash(seq)

    def __hash__(self) -> int:  # type: ignore[override]
        return self.hashvalue


def eqhash(o: Any) -> int:
    """Return ``o.__eqhash__()`` if defined, else ``hash(o)``."""
    try:
        return o.__eqhash__()
    except AttributeError:
        return hash(o)


class EqualityDict(dict):
    """Dict keyed by :func:`eqhash` of the key (objects equal by value share a slot)."""

    def __getitem__(self, key: Any) -> Any:
        h = eqhash(key)
        if h not in self:
            return self.__missing__(key)
        return super().__getitem__(h)

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(eqhash(key), value)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(eqhash(key))

    def __missing__(self, key: Any) -> Any:
        raise KeyError(key)
