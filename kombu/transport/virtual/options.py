"""Typed transport options: one frozen value per connection, built from ``transport_options``.

A transport declares what it reads as dataclass fields of a
:class:`TransportOptions` subclass and names it on its channel class
(``Channel.Options = MyOptions``); the virtual :class:`~kombu.transport.virtual.Transport`
builds it once per connection from ``transport_options`` (and the URL's query string)
and channels read ``self.options.<field>``::

    @dataclass(frozen=True)
    class MyOptions(TransportOptions):
        transport_name: ClassVar[str] = 'mybroker'
        secret_fields: ClassVar[frozenset[str]] = frozenset({'api_key'})

        api_key: str | None = None
        wait_time_seconds: int = 10

        def __post_init__(self) -> None:
            super().__post_init__()
            self.require(self.wait_time_seconds >= 0, 'wait_time_seconds must be >= 0')

The value:

* coerces strings (from a URL query) to the field's ``bool``/``int``/``float`` type,
  and raises :class:`TransportOptionError` (a ``ValueError`` and a
  :class:`~kombu.exceptions.KombuError`) for a value it cannot take;
* warns once per process and key about a key no field, alias or
  :attr:`~TransportOptions.passthrough` name declares (a typo is silent otherwise);
* masks :attr:`~TransportOptions.secret_fields` in its ``repr``;
* keeps the dict it was built from (:attr:`~TransportOptions.raw`), for options a
  transport passes on to its client library untouched.
"""
from __future__ import annotations

import dataclasses
import typing
import warnings
from typing import Any, ClassVar, Mapping, TypeVar

from kombu.exceptions import KombuError

__all__ = ('TransportOptions', 'TransportOptionError', 'COMMON_PASSTHROUGH')

_T = TypeVar('_T', bound='TransportOptions')

#: Keys read by :class:`kombu.Connection` itself or by Celery rather than by a
#: transport's channel: known everywhere, never reported as unknown.
COMMON_PASSTHROUGH = frozenset({
    'max_retries', 'interval_start', 'interval_step', 'interval_max', 'retry_policy',
    'confirm_publish', 'connect_timeout', 'client_properties', 'visibility_timeout',
    'fanout_prefix', 'fanout_patterns', 'max_connections',
    'max_decompressed_size',  # read by kombu.Consumer
    'opentelemetry',  # read by kombu.Connection: tracing on (kombu.otel)
})

#: options class -> its field names (computed once per class).
_field_names: dict[type, frozenset[str]] = {}

#: (options class, key) pairs already warned about in this process.
_warned: set[tuple[type, str]] = set()

_TRUE = frozenset({'1', 'true', 'yes', 'on'})
_FALSE = frozenset({'0', 'false', 'no', 'off', ''})


class TransportOptionError(KombuError, ValueError):
    """A transport option has a value the transport cannot use."""


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Turn a string (from a URL query) into the field's scalar type."""
    if not isinstance(value, str):
        if hint is bool and isinstance(value, int):
            return bool(value)
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value
    try:
        if hint is bool:
            key = value.strip().lower()
            if key in _TRUE:
                return True
            if key in _FALSE:
                return False
            raise ValueError(value)
        if hint is int:
            return int(value)
        if hint is float:
            return float(value)
    except ValueError:
        raise TransportOptionError(
            f'transport option {name!r}: {value!r} is not a valid {hint.__name__}') from None
    return value


def _scalar_type(hint: Any) -> Any:
    """``int`` for ``int``, ``int | None``, ``Optional[int]``; None for anything else."""
    if hint in (bool, int, float):
        return hint
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(args) == 1 and args[0] in (bool, int, float):
        return args[0]
    return None


@dataclasses.dataclass(frozen=True)
class TransportOptions:
    """Options every virtual transport reads (subclass it to add a transport's own)."""

    #: name used in warnings and errors.
    transport_name: ClassVar[str] = 'virtual'
    #: fields whose values ``repr`` masks.
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    #: keys a transport accepts without a field (read elsewhere, or passed on as they are).
    passthrough: ClassVar[frozenset[str]] = frozenset()
    #: old key -> field name, for renamed options still accepted.
    aliases: ClassVar[Mapping[str, str]] = {}

    #: encoding of message bodies in the store (``'base64'``, or None/'utf-8' for none).
    body_encoding: str | None = 'base64'
    #: queue receiving messages no binding routes (None: drop them).
    deadletter_queue: str | None = None
    #: honour per-message ``expiration`` (Kombu's virtual transports ignore it).
    honor_expiration: bool = True
    #: seconds between polls of a store without a wake-up signal (None: the transport's).
    polling_interval: float | None = None

    #: the mapping this value was built from (keys as given).
    raw: Mapping[str, Any] = dataclasses.field(
        default_factory=dict, repr=False, compare=False)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Put the masking repr in the subclass's own namespace before
        # @dataclass runs: it only adds a generated __repr__ where none is.
        if '__repr__' not in cls.__dict__:
            cls.__repr__ = TransportOptions.__repr__  # type: ignore[method-assign]

    def __post_init__(self) -> None:
        if self.polling_interval is not None:
            self.require(self.polling_interval >= 0, 'polling_interval must be >= 0')

    # -- building ----------------------------------------------------------

    @classmethod
    def field_names(cls) -> frozenset[str]:
        """The option names this class declares as fields."""
        try:
            return _field_names[cls]
        except KeyError:
            names = _field_names[cls] = frozenset(
                f.name for f in dataclasses.fields(cls) if f.name != 'raw')
            return names

    @classmethod
    def from_transport_options(cls: type[_T], options: Mapping[str, Any] | _T | None = None,
                               query: Mapping[str, Any] | None = None,
                               extra_known: frozenset[str] | tuple[str, ...] = (),
                               warn: bool = True) -> _T:
        """Build from ``transport_options``; ``query`` (URL parameters) fills missing keys.

        ``extra_known`` names keys a channel copies itself (a legacy
        ``from_transport_options`` tuple): accepted, not warned about.
        """
        if isinstance(options, cls):
            return options
        merged: dict[str, Any] = dict(query or {})
        merged.update(options or {})  # type: ignore[arg-type]  # not _T: returned above
        hints = typing.get_type_hints(cls)
        names = cls.field_names()
        known = names | cls.passthrough | COMMON_PASSTHROUGH | frozenset(extra_known)
        values: dict[str, Any] = {}
        for key, value in merged.items():
            name = cls.aliases.get(key, key)
            if name in names:
                scalar = _scalar_type(hints.get(name))
                values[name] = _coerce(key, value, scalar) if scalar else value
            elif warn and key not in known and (cls, key) not in _warned:
                _warned.add((cls, key))
                warnings.warn(
                    f'{cls.transport_name} transport: unknown transport option {key!r} '
                    f'is ignored', UserWarning, stacklevel=3)
        try:
            return cls(raw=merged, **values)
        except TypeError as exc:
            raise TransportOptionError(f'{cls.transport_name} transport: {exc}') from None

    def given(self, name: str) -> bool:
        """True if ``name`` was set by the user rather than left at its default."""
        return name in self.raw or any(
            alias in self.raw for alias, target in self.aliases.items() if target == name)

    def replace(self: _T, **changes: Any) -> _T:
        return dataclasses.replace(self, **changes)

    def require(self, condition: bool, message: str) -> None:
        """Raise :class:`TransportOptionError` with ``message`` unless ``condition``."""
        if not condition:
            raise TransportOptionError(f'{self.transport_name} transport: {message}')

    # -- reading -----------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style access: a field's value, else the raw option, else ``default``."""
        name = self.aliases.get(key, key)
        if name in self.field_names():
            return getattr(self, name)
        return self.raw.get(key, default)

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            if not f.repr:
                continue
            value = getattr(self, f.name)
            if f.name in self.secret_fields and value:
                value = '**'
            parts.append(f'{f.name}={value!r}')
        return f'{type(self).__name__}({", ".join(parts)})'
