"""Transport registry: URL scheme / alias -> transport class.

Three ways to name a transport:

* an alias from :data:`TRANSPORT_ALIASES` (``'amqp'``, ``'redis'``, ...),
* a scheme published by an installed package through the ``kombu.transports``
  entry-point group (``name = "mypkg.module:Transport"``),
* a dotted path, ``'mypkg.module:Transport'`` or ``'mypkg.module.Transport'``.

The default registry is :data:`registry`; tests can build an isolated
:class:`TransportRegistry`.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from kombu.exceptions import KombuError
from kombu.utils.compat import _detect_environment
from kombu.utils.imports import symbol_by_name

__all__ = (
    'TRANSPORT_ALIASES', 'TransportRegistry', 'UnknownTransport', 'registry',
    'get_transport_cls', 'resolve_transport', 'supports_librabbitmq',
)

ENTRY_POINT_GROUP = 'kombu.transports'

AliasTarget = Union[str, Callable[[], str]]


def supports_librabbitmq() -> Optional[bool]:
    """True if librabbitmq is installed and usable (not under eventlet/gevent)."""
    if _detect_environment() == 'default':
        try:
            import librabbitmq  # noqa: F401
        except ImportError:
            return None
        return True
    return None


TRANSPORT_ALIASES: Dict[str, AliasTarget] = {
    'amqp': 'kombu.transport.pyamqp:Transport',
    'amqps': 'kombu.transport.pyamqp:SSLTransport',
    'pyamqp': 'kombu.transport.pyamqp:Transport',
    'librabbitmq': 'kombu.transport.librabbitmq:Transport',
    'confluentkafka': 'kombu.transport.confluentkafka:Transport',
    'kafka': 'kombu.transport.confluentkafka:Transport',
    'memory': 'kombu.transport.memory:Transport',
    'redis': 'kombu.transport.redis:Transport',
    'rediss': 'kombu.transport.redis:Transport',
    'SQS': 'kombu.transport.SQS:Transport',
    'sqs': 'kombu.transport.SQS:Transport',
    'mongodb': 'kombu.transport.mongodb:Transport',
    'zookeeper': 'kombu.transport.zookeeper:Transport',
    'sqlalchemy': 'kombu.transport.sqlalchemy:Transport',
    'sqla': 'kombu.transport.sqlalchemy:Transport',
    'SLMQ': 'kombu.transport.SLMQ.Transport',
    'slmq': 'kombu.transport.SLMQ.Transport',
    'filesystem': 'kombu.transport.filesystem:Transport',
    'qpid': 'kombu.transport.qpid:Transport',
    'sentinel': 'kombu.transport.redis:SentinelTransport',
    'rediscluster': 'kombu.transport.rediscluster:Transport',
    'consul': 'kombu.transport.consul:Transport',
    'etcd': 'kombu.transport.etcd:Transport',
    'azurestoragequeues': 'kombu.transport.azurestoragequeues:Transport',
    'azureservicebus': 'kombu.transport.azureservicebus:Transport',
    'pyro': 'kombu.transport.pyro:Transport',
    'gcpubsub': 'kombu.transport.gcpubsub:Transport',
    'pgmq': 'kombu.transport.pgmq:Transport',
}


class UnknownTransport(KeyError, ImportError, KombuError):
    """No transport is known by this name.

    A :exc:`KeyError` (what Kombu raised) and an :exc:`ImportError` (what a
    missing dotted path raises), so either ``except`` keeps working, and a
    :exc:`~kombu.exceptions.KombuError` like every error of this package.
    """

    def __init__(self, name: str, known: Iterable[str], suggestion: Optional[str] = None):
        self.name = name
        self.known = sorted(known)
        self.suggestion = suggestion
        KeyError.__init__(self, name)

    def __str__(self) -> str:
        hint = f' Did you mean {self.suggestion!r}?' if self.suggestion else ''
        return (f'No such transport: {self.name!r}.{hint} Known transports: '
                f'{", ".join(self.known)}; or give a dotted path '
                f'("package.module:Transport") or install a package that '
                f'provides a {ENTRY_POINT_GROUP!r} entry point.')


class TransportNotAvailable(ImportError, KombuError):
    """A Kombu transport name whose module this package does not ship."""


def _iter_entry_points(group: str) -> List[Any]:
    from importlib import metadata
    try:
        if sys.version_info >= (3, 10):
            return list(metadata.entry_points(group=group))
        return list(metadata.entry_points().get(group, ()))  # type: ignore[attr-defined]
    except Exception:  # a broken distribution must not break transport lookup
        return []


class TransportRegistry:
    """Maps transport names to classes, resolving and caching lazily."""

    def __init__(self, aliases: Optional[Dict[str, AliasTarget]] = None,
                 entry_point_group: Optional[str] = ENTRY_POINT_GROUP) -> None:
        self.aliases: Dict[str, AliasTarget] = {} if aliases is None else aliases
        self.entry_point_group = entry_point_group
        self._entry_points: Optional[Dict[str, str]] = None
        self._cache: Dict[Any, Any] = {}

    def register(self, name: str, target: AliasTarget) -> None:
        """Add (or replace) the alias ``name`` -> ``'module:Class'``."""
        self.aliases[name] = target
        self._cache.pop(name, None)

    def unregister(self, name: str) -> None:
        self.aliases.pop(name, None)
        self._cache.pop(name, None)

    @property
    def entry_points(self) -> Dict[str, str]:
        """Transports published by installed packages (``name -> 'module:Class'``)."""
        if self._entry_points is None:
            found: Dict[str, str] = {}
            if self.entry_point_group:
                for ep in _iter_entry_points(self.entry_point_group):
                    found.setdefault(ep.name, ep.value)
            self._entry_points = found
        return self._entry_points

    def known(self) -> List[str]:
        return sorted(set(self.aliases) | set(self.entry_points))

    def _target(self, name: str) -> str:
        target = self.aliases.get(name)
        if target is None:
            target = self.entry_points.get(name)
        if target is None:
            if '.' in name or ':' in name:
                return name
            raise UnknownTransport(name, self.known(), self._suggest(name))
        return target() if callable(target) else target

    def _suggest(self, name: str) -> Optional[str]:
        try:
            from kombu.utils.text import fmatch_best
        except ImportError:
            return None
        return fmatch_best(name, self.known())

    def resolve(self, transport: Any = None) -> Any:
        """Return the transport class for a name, path or class (not cached)."""
        if not isinstance(transport, str):
            return transport
        target = self._target(transport)
        try:
            return symbol_by_name(target)
        except ModuleNotFoundError as exc:
            module = target.replace(':', '.').rsplit('.', 1)[0]
            if exc.name != module or not module.startswith(f'{__name__}.'):
                raise  # a missing client library, or a third-party path: as it is
            raise TransportNotAvailable(
                f'The {transport!r} transport ({module}) is one of Kombu\'s, but this '
                f'package does not provide it yet.') from exc

    def get(self, transport: Any = None) -> Any:
        """Like :meth:`resolve`, cached by name."""
        try:
            return self._cache[transport]
        except KeyError:
            cls = self._cache[transport] = self.resolve(transport)
            return cls
        except TypeError:  # unhashable: nothing to cache
            return self.resolve(transport)


#: The process-wide registry (its aliases are :data:`TRANSPORT_ALIASES`).
registry = TransportRegistry(TRANSPORT_ALIASES)


def resolve_transport(transport: Any = None) -> Any:
    """Return the transport class for an alias, entry point, dotted path or class."""
    return registry.resolve(transport)


def get_transport_cls(transport: Any = None) -> Any:
    """Like :func:`resolve_transport`, but cached."""
    return registry.get(transport)
