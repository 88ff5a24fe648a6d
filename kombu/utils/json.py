"""JSON with Kombu's typed envelope (wire format of Kombu 5.3+).

Values JSON cannot represent are written as ``{"__type__": marker,
"__value__": encoded}``:

=========== ============ ==============================================
type        marker       value
=========== ============ ==============================================
datetime    ``datetime`` ``dt.isoformat()``
date        ``date``     ``d.isoformat()``
time        ``time``     ``t.isoformat()``
Decimal     ``decimal``  ``str(d)``
UUID        ``uuid``     ``{"hex": u.hex}``
bytes       ``bytes``    the text, when the bytes are valid UTF-8
bytes       ``base64``   base64 text otherwise
=========== ============ ==============================================

:func:`register_type` adds types (``marker=None`` for a plain conversion
with no envelope, e.g. to keep pre-5.3 behaviour for a type).
"""
from __future__ import annotations

import base64
import json
import uuid
from datetime import date, datetime, time
from decimal import Decimal
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, Callable, TypeVar

__all__ = ('JSONEncoder', 'dumps', 'loads', 'object_hook', 'register_type', 'textual_types')

textual_types: tuple[type, ...] = ()
try:
    from django.utils.functional import Promise  # lazy translation strings
except ImportError:
    pass
else:  # pragma: no cover
    textual_types += (Promise,)

EncoderT = Callable[[Any], Any]
DecoderT = Callable[[Any], Any]
T = TypeVar('T')
EncodedT = TypeVar('EncodedT')

# type -> (marker or None, encoder); insertion order matters (datetime before date).
_encoders: dict[type, tuple[str | None, EncoderT]] = {}
# marker -> decoder
_decoders: dict[str, DecoderT] = {
    'bytes': lambda o: o.encode('utf-8'),
    'base64': lambda o: base64.b64decode(o.encode('utf-8')),
}


def _as(marker: str, value: Any) -> dict[str, Any]:
    return {'__type__': marker, '__value__': value}


class JSONEncoder(json.JSONEncoder):
    """Encoder that knows the registered types, bytes and ``__json__()``."""

    def default(self, o: Any) -> Any:
        reducer = getattr(o, '__json__', None)
        if reducer is not None:
            return reducer()
        if isinstance(o, textual_types):
            return str(o)
        entry = _encoders.get(type(o))
        if entry is None:
            for t, candidate in _encoders.items():
                if isinstance(o, t):
                    entry = candidate
                    break
        if entry is not None:
            marker, encoder = entry
            return encoder(o) if marker is None else _as(marker, encoder(o))
        if isinstance(o, bytes):
            # Two markers: readable text when possible, base64 otherwise.
            try:
                return _as('bytes', o.decode('utf-8'))
            except UnicodeDecodeError:
                return _as('base64', base64.b64encode(o).decode('utf-8'))
        return super().default(o)


def object_hook(o: dict[str, Any]) -> Any:
    """Turn a ``{"__type__", "__value__"}`` envelope back into its value."""
    if len(o) == 2 and '__type__' in o and '__value__' in o:
        decoder = _decoders.get(o['__type__'])
        if decoder is None:
            raise ValueError(f'Unsupported __type__ {o["__type__"]!r} in JSON envelope')
        return decoder(o['__value__'])
    return o


# Built once: json.dumps/json.loads build a new encoder/decoder per call
# whenever ``cls``/``object_hook`` is passed, which is every call here.
_encoder = JSONEncoder()
_decoder = json.JSONDecoder(object_hook=object_hook)
# Hot paths below call the C encoder/scanner directly (what the stdlib does
# inside encode()/decode(), minus building an encoder per call and the
# whitespace regexes).  Anything unusual goes through the stdlib path, which
# then decides the result or the exact error.
_scan_hooked = _decoder.scan_once  # type: ignore[attr-defined]
_scan_plain = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
try:
    # No circular-reference markers: a shared markers dict is not thread
    # safe; a cycle ends in RecursionError and is retried by the stdlib path.
    _c_encode = c_make_encoder(  # type: ignore[misc]
        None, _encoder.default, encode_basestring_ascii, None, ': ', ', ',
        False, False, True)
except (TypeError, ValueError):  # pragma: no cover - no C speedups
    _c_encode = None


def dumps(s: Any, _dumps: Callable[..., str] = json.dumps, cls: type = JSONEncoder,
          default_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> str:
    """Serialize ``s`` to a JSON ``str``."""
    if _dumps is json.dumps and cls is JSONEncoder and not default_kwargs and not kwargs:
        if _c_encode is not None:  # the C encoder directly (once per published message)
            try:
                return ''.join(_c_encode(s, 0))
            except Exception:
                pass  # the stdlib path raises its own (exact) error, or succeeds
        return _encoder.encode(s)
    return _dumps(s, cls=cls, **dict(default_kwargs or {}, **kwargs))


def loads(s: str | bytes | bytearray | memoryview, _loads: Callable[..., Any] = json.loads,
          decode_bytes: bool = True, object_hook: Callable[[dict[str, Any]], Any] = object_hook,
          ) -> Any:
    """Deserialize JSON from ``str`` or UTF-8 bytes/bytearray/memoryview."""
    if type(s) is bytes:  # the common case first
        if decode_bytes:
            s = s.decode('utf-8')
    elif isinstance(s, memoryview):
        s = s.tobytes().decode('utf-8')
    elif isinstance(s, bytearray):
        s = s.decode('utf-8')
    elif decode_bytes and isinstance(s, bytes):
        s = s.decode('utf-8')
    if _loads is json.loads and object_hook is _default_hook and type(s) is str:
        # A typed envelope needs the key "__type__" in the text, literally or
        # with \\u escapes; without either, the hook returns every dict as is.
        scan = _scan_hooked if ('__type__' in s or '\\u' in s) else _scan_plain
        try:
            obj, end = scan(s, 0)
        except StopIteration:  # leading whitespace or no value: decode() judges
            return _decoder.decode(s)
        # trailing whitespace or extra data: decode() again
        return obj if end == len(s) else _decoder.decode(s)
    return _loads(s, object_hook=object_hook)


_default_hook = object_hook


def register_type(t: type[T], marker: str | None, encoder: Callable[[T], EncodedT],
                  decoder: Callable[[EncodedT], T] = lambda d: d,  # type: ignore[assignment,return-value]
                  ) -> None:
    """Teach :func:`dumps`/:func:`loads` a type.

    ``marker=None`` writes ``encoder(value)`` without an envelope (decoding
    is then up to the application).
    """
    _encoders[t] = (marker, encoder)
    if marker is not None:
        _decoders[marker] = decoder


def _register_default_types() -> None:
    # datetime before date: a datetime is also a date.
    register_type(datetime, 'datetime', datetime.isoformat, datetime.fromisoformat)
    register_type(date, 'date', lambda o: o.isoformat(),
                  lambda o: datetime.fromisoformat(o).date())
    register_type(time, 'time', lambda o: o.isoformat(), time.fromisoformat)
    register_type(Decimal, 'decimal', str, Decimal)
    register_type(uuid.UUID, 'uuid', lambda o: {'hex': o.hex}, lambda o: uuid.UUID(**o))


_register_default_types()
