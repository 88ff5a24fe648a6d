"""Base classes for declarations that may be bound to a channel."""
from __future__ import annotations

from copy import copy
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar

from .connection import maybe_channel
from .exceptions import NotBoundError
from .utils.functional import ChannelPromise

__all__ = ('Object', 'MaybeChannelBound')

_T = TypeVar('_T', bound='MaybeChannelBound')

#: ``(attribute name, coercer or None)``; ``None`` keeps the value as given.
AttrSpec = Tuple[Tuple[str, Optional[Callable[[Any], Any]]], ...]


def unpickle_dict(cls: type, kwargs: Dict[str, Any]) -> Any:
    """Rebuild an :class:`Object` from the keyword arguments it was pickled with."""
    return cls(**kwargs)


class Object:
    """An object described by the attributes listed in :attr:`attrs`.

    Keyword arguments named in :attr:`attrs` are coerced and set; a value of
    ``None`` keeps the class default. Other keyword arguments are ignored, as
    Kombu does, so that option dicts can be passed through unchanged.
    """

    attrs: AttrSpec = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for name, coerce in self.attrs:
            value = kwargs.get(name)
            if value is not None:
                setattr(self, name, coerce(value) if coerce else value)
            elif not hasattr(self, name):
                setattr(self, name, None)

    def as_dict(self, recurse: bool = False) -> Dict[str, Any]:
        """Return the declared attributes as a dict (nested objects too if ``recurse``)."""
        result = {}
        for name, coerce in self.attrs:
            value = getattr(self, name)
            if recurse and isinstance(value, Object):
                value = value.as_dict(recurse=True)
            elif coerce is not None and value is not None:
                value = coerce(value)
            result[name] = value
        return result

    def __reduce__(self) -> Tuple[Any, ...]:
        return unpickle_dict, (self.__class__, self.as_dict())

    def __copy__(self) -> Any:
        return self.__class__(**self.as_dict())


class MaybeChannelBound(Object):
    """A declaration that can be bound to a channel (e.g. Exchange, Queue)."""

    _channel: Any = None
    _is_bound = False

    #: Whether :func:`kombu.common.maybe_declare` may remember the declaration
    #: (a plain attribute here; Exchange and Queue compute it).
    can_cache_declaration = False

    def __call__(self: _T, channel: Any) -> _T:
        """Same as :meth:`bind`: a copy bound to ``channel``."""
        return self.bind(channel)

    def bind(self: _T, channel: Any) -> _T:
        """Return a copy of this entity bound to ``channel``."""
        return copy(self).maybe_bind(channel)

    def maybe_bind(self: _T, channel: Any) -> _T:
        """Bind this instance in place, unless it is already bound."""
        if not self.is_bound and channel:
            self._channel = maybe_channel(channel)
            self.when_bound()
            self._is_bound = True
        return self

    def revive(self, channel: Any) -> None:
        """Re-bind to a new channel after the connection was re-established."""
        if self.is_bound:
            self._channel = channel
            self.when_bound()

    def when_bound(self) -> None:
        """Hook called after the entity was bound."""

    def _repr_entity(self, item: str = '') -> str:
        item = item or type(self).__name__
        if self.is_bound:
            channel_id = getattr(self._channel, 'channel_id', None)
            return f'<{item} bound to chan:{channel_id}>'
        return f'<unbound {item}>'

    def __repr__(self) -> str:
        return self._repr_entity(type(self).__name__)

    @property
    def is_bound(self) -> bool:
        """True if bound to a channel."""
        return self._is_bound and self._channel is not None

    @property
    def channel(self) -> Any:
        """The channel this entity is bound to; :exc:`NotBoundError` if unbound."""
        channel = self._channel
        if channel is None:
            raise NotBoundError(
                f"Can't call method on {type(self).__name__} not bound to a channel")
        if isinstance(channel, ChannelPromise):
            channel = self._channel = channel()
        return channel
