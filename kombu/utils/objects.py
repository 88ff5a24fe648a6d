"""Object utilities: a cached property with setter and deleter support."""
from __future__ import annotations

from functools import cached_property as _cached_property
from threading import RLock
from typing import Any, Callable

__all__ = ('cached_property',)

_NOT_FOUND = object()


class cached_property(_cached_property):
    """Compute an attribute once per instance and cache it in ``__dict__``.

    Unlike :class:`functools.cached_property` it supports an ``fset``
    (its return value is what gets cached) and an ``fdel`` (called with the
    cached value when the attribute is deleted), and computes under a lock so
    that two threads never both run ``fget`` for the same instance.
    """

    def __init__(self, fget: Callable[[Any], Any] | None = None,
                 fset: Callable[[Any, Any], Any] | None = None,
                 fdel: Callable[[Any, Any], Any] | None = None) -> None:
        super().__init__(fget)  # type: ignore[arg-type]
        self.__set = fset
        self.__del = fdel
        # functools dropped its own lock in 3.12; keep one per descriptor.
        self.lock = RLock()

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        try:
            # Fast path without the lock: we are a data descriptor (we define
            # __set__), so Python always calls us, even once cached.
            return instance.__dict__[self.attrname]
        except (KeyError, AttributeError):
            pass
        if self.attrname is None or not hasattr(instance, '__dict__'):
            return super().__get__(instance, owner)  # raises functools' TypeError
        with self.lock:
            cache = instance.__dict__
            value = cache.get(self.attrname, _NOT_FOUND)
            if value is _NOT_FOUND:
                value = self.func(instance)
                cache[self.attrname] = value
            return value

    def __set__(self, instance: Any, value: Any) -> Any:
        if instance is None:
            return self     # as upstream (Celery's tests check it)
        with self.lock:
            if self.__set is not None:
                value = self.__set(instance, value)
            instance.__dict__[self.attrname] = value

    def __delete__(self, instance: Any) -> Any:
        if instance is None:
            return self
        with self.lock:
            value = instance.__dict__.pop(self.attrname, _NOT_FOUND)
            if self.__del is not None and value is not _NOT_FOUND:
                self.__del(instance, value)

    def setter(self, fset: Callable[[Any, Any], Any]) -> cached_property:
        return self.__class__(self.func, fset, self.__del)

    def deleter(self, fdel: Callable[[Any, Any], Any]) -> cached_property:
        return self.__class__(self.func, self.__set, fdel)
