"""Pattern matching for the headers exchange's ``x-match`` style bindings.

``glob`` (:func:`fnmatch.fnmatch`, the default) and ``pcre``
(:func:`re.match`) are built in; more can be registered by name or through
the ``kombu.matchers`` entry point group.
"""
from __future__ import annotations

from fnmatch import fnmatch
from re import match as rematch
from typing import Any, Callable, cast

from .utils.encoding import bytes_to_str

__all__ = ('MatcherNotInstalled', 'MatcherRegistry', 'match', 'register', 'unregister',
           'registry', 'register_glob', 'register_pcre')

MatcherFunction = Callable[[str, str], bool]


class MatcherNotInstalled(Exception):
    """No matcher registered by that name."""


class MatcherRegistry:
    """Matching functions by name."""

    MatcherNotInstalled = MatcherNotInstalled
    #: Matchers called as ``f(pattern, data)`` rather than ``f(data, pattern)``.
    matcher_pattern_first = ['pcre']

    def __init__(self) -> None:
        self._matchers: dict[str, MatcherFunction] = {}
        self._default_matcher: MatcherFunction | None = None
        self._on_miss: Callable[[], None] | None = None

    def register(self, name: str, matcher: MatcherFunction) -> None:
        """Add ``matcher`` under ``name``."""
        self._matchers[name] = matcher

    def unregister(self, name: str) -> None:
        """Remove the matcher ``name``; raises MatcherNotInstalled if unknown."""
        try:
            self._matchers.pop(name)
        except KeyError:
            raise self.MatcherNotInstalled(f'No matcher installed for {name}') from None

    def _set_default_matcher(self, name: str) -> None:
        try:
            self._default_matcher = self._matchers[name]
        except KeyError:
            raise self.MatcherNotInstalled(f'No matcher installed for {name}') from None

    def _lookup(self, name: str) -> MatcherFunction:
        matcher = self._matchers.get(name)
        if matcher is None and self._on_miss is not None:
            hook, self._on_miss = self._on_miss, None
            hook()
            matcher = self._matchers.get(name)
        if matcher is None:
            raise self.MatcherNotInstalled(f'No matcher installed for {name}')
        return matcher

    def match(self, data: bytes | str, pattern: bytes | str, matcher: str | None = None,
              matcher_kwargs: dict[str, Any] | None = None) -> bool:
        """Return true if ``data`` matches ``pattern`` using ``matcher`` (default glob)."""
        match_func = self._lookup(matcher or 'glob')
        if matcher in self.matcher_pattern_first:
            first, second = bytes_to_str(pattern), bytes_to_str(data)
        else:
            first, second = bytes_to_str(data), bytes_to_str(pattern)
        return bool(match_func(first, second, **(matcher_kwargs or {})))


#: The process-wide registry.
registry = MatcherRegistry()
match = registry.match
register = registry.register
unregister = registry.unregister


def register_glob() -> None:
    """Register ``glob`` (fnmatch) in the default registry."""
    registry.register('glob', fnmatch)


def register_pcre() -> None:
    """Register ``pcre`` (re.match) in the default registry."""
    registry.register('pcre', cast(MatcherFunction, rematch))


def _load_entrypoint_matchers() -> None:
    # Loaded on the first unknown name rather than at import (metadata scans are slow).
    from .utils.compat import entrypoints
    for ep, args in entrypoints('kombu.matchers'):
        register(ep.name, *args)


register_glob()
register_pcre()
registry._set_default_matcher('glob')
registry._on_miss = _load_entrypoint_matchers
