"""Serialization: turn message bodies into bytes/text and back.

Serializers live in a :class:`SerializerRegistry`; :data:`registry` is the
process default used by :func:`dumps`/:func:`loads`. ``dumps`` returns
``(content_type, content_encoding, payload)`` exactly as Kombu 5 does, so
messages interoperate: json and yaml give ``str``, pickle and msgpack
``bytes``; with no serializer, ``bytes`` go out unchanged as
``application/data``/``binary`` and ``str`` as ``text/plain``/``utf-8``.

Insecure serializers (pickle, yaml, msgpack) can always encode, but decoding
them is refused unless re-enabled (:func:`enable_insecure_serializers`) or
listed in the consumer's ``accept``.
"""
from __future__ import annotations

import codecs
import logging
import os
import pickle
import threading
from collections import namedtuple
from io import BytesIO
from typing import Any, Callable, Collection, Iterable, Mapping

from .exceptions import ContentDisallowed, DecodeError, EncodeError, SerializerNotInstalled
from .utils.encoding import str_to_bytes

__all__ = ('pickle', 'loads', 'dumps', 'register', 'unregister')

logger = logging.getLogger(__name__)

#: Content encodings that mean "bytes, do not decode to text".
SKIP_DECODE = frozenset(['binary', 'ascii-8bit'])
#: Content types always accepted, whatever ``accept`` says (they are never decoded).
TRUSTED_CONTENT = frozenset(['application/data', 'application/text'])
NOTSET = object()

pickle_load = pickle.load
#: Protocol used by the pickle serializer (env ``PICKLE_PROTOCOL`` overrides).
pickle_protocol = int(os.environ.get('PICKLE_PROTOCOL', 4))

codec = namedtuple('codec', ('content_type', 'content_encoding', 'encoder'))

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any], Any]

# Serializer name -> the pip extra that installs what it needs.
_EXTRAS = {'yaml': 'yaml', 'msgpack': 'msgpack'}


class _UnknownSerializer(SerializerNotInstalled, KeyError):
    """No serializer by that name (a KeyError too, as Kombu raised one)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def _not_installed(name: str, what: str = 'encoder') -> SerializerNotInstalled:
    extra = _EXTRAS.get(name)
    hint = f'. Install it with: pip install "kombu[{extra}]"' if extra else ''
    return SerializerNotInstalled(f'No {what} installed for {name}{hint}')


def pickle_loads(s: Any, load: Callable[[Any], Any] = pickle_load) -> Any:
    """Unpickle from bytes or any buffer (memoryview, bytearray)."""
    return load(BytesIO(s))


def unpickle(s: Any) -> Any:
    """Unpickle ``s`` (``str`` is encoded to bytes first)."""
    return pickle_loads(str_to_bytes(s))


def parenthesize_alias(first: str, second: str) -> str:
    """Return ``'first (second)'``, or just ``second`` if ``first`` is empty."""
    return f'{first} ({second})' if first else second


class SerializerRegistry:
    """The serializers known to a process (or to a test, in isolation)."""

    def __init__(self) -> None:
        self._encoders: dict[str, codec] = {}
        self._decoders: dict[str, Decoder] = {}
        self._default_encode: Encoder | None = None
        self._default_content_type: str | None = None
        self._default_content_encoding: str | None = None
        #: Content types refused when a consumer gives no ``accept`` list.
        self._disabled_content_types: set[str] = set()
        self.type_to_name: dict[str, str] = {}
        self.name_to_type: dict[str, str] = {}
        # Called once on the first lookup miss (loads plug-in entry points).
        self._on_miss: Callable[[], None] | None = None
        self._miss_lock = threading.Lock()

    def register(self, name: str, encoder: Encoder | None, decoder: Decoder | None,
                 content_type: str, content_encoding: str = 'utf-8') -> None:
        """Register ``name`` for ``content_type``.

        ``encoder(data)`` returns the payload (``str`` or ``bytes``);
        ``decoder(payload)`` returns the data. Either may be ``None`` to
        register only one direction. ``content_encoding`` is the character
        set of the payload, or ``'binary'``.
        """
        if encoder:
            self._encoders[name] = codec(content_type, content_encoding, encoder)
        if decoder:
            self._decoders[content_type] = decoder
        self.type_to_name[content_type] = name
        self.name_to_type[name] = content_type

    def _missed(self) -> bool:
        # Load plug-ins once; a thread racing the loader waits for it to finish.
        if self._on_miss is None:
            return False
        with self._miss_lock:
            hook, self._on_miss = self._on_miss, None
            if hook is not None:
                try:
                    hook()
                except Exception:  # a broken plug-in must not break built-in serializers
                    logger.exception('Cannot load serializer entry points')
        return True

    def _content_type(self, name: str) -> str:
        if '/' in name:
            return name
        try:
            return self.name_to_type[name]
        except KeyError:
            if self._missed() and name in self.name_to_type:
                return self.name_to_type[name]
            raise _UnknownSerializer(f'No serializer registered as {name!r}') from None

    def enable(self, name: str) -> None:
        """Allow decoding ``name`` (a serializer name or content type) by default."""
        self._disabled_content_types.discard(self._content_type(name))

    def disable(self, name: str) -> None:
        """Refuse decoding ``name`` unless a consumer's ``accept`` lists it."""
        self._disabled_content_types.add(self._content_type(name))

    def unregister(self, name: str) -> None:
        """Remove serializer ``name``; raises SerializerNotInstalled if unknown."""
        try:
            content_type = self.name_to_type.pop(name)
        except KeyError:
            raise SerializerNotInstalled(f'No encoder/decoder installed for {name}') from None
        self._decoders.pop(content_type, None)
        self._encoders.pop(name, None)
        self.type_to_name.pop(content_type, None)

    def _set_default_serializer(self, name: str) -> None:
        """Make ``name`` the serializer used when ``dumps`` gets none (and data isn't text)."""
        try:
            (self._default_content_type, self._default_content_encoding,
             self._default_encode) = self._encoders[name]
        except KeyError:
            raise _not_installed(name) from None

    def _codec(self, serializer: str) -> codec:
        try:
            return self._encoders[serializer]
        except KeyError:
            if self._missed() and serializer in self._encoders:
                return self._encoders[serializer]
            raise _not_installed(serializer) from None

    def dumps(self, data: Any, serializer: str | None = None) -> tuple[str, str, Any]:
        """Serialize ``data``; return ``(content_type, content_encoding, payload)``.

        With no ``serializer``: ``bytes`` pass through as
        ``application/data``/``binary``, ``str`` becomes UTF-8
        ``text/plain``, anything else uses the default (json).
        ``serializer='raw'`` sends bytes/str as is (see :func:`raw_encode`).

        Raises:
            SerializerNotInstalled: ``serializer`` is unknown or its library is missing.
            EncodeError: the serializer failed on ``data``.
        """
        if serializer:
            if serializer == 'raw':
                return raw_encode(data)
            try:
                content_type, content_encoding, encoder = self._encoders[serializer]
            except KeyError:
                content_type, content_encoding, encoder = self._codec(serializer)
        elif isinstance(data, bytes):
            return 'application/data', 'binary', data
        elif isinstance(data, str):
            return 'text/plain', 'utf-8', _encode_text(data)
        else:
            encoder = self._default_encode
            content_type = self._default_content_type
            content_encoding = self._default_content_encoding
        try:
            payload = encoder(data)
        except SerializerNotInstalled:
            raise
        except Exception as exc:
            raise EncodeError(exc) from exc
        return content_type, content_encoding, payload

    def loads(self, data: Any, content_type: str | bytes | None,
              content_encoding: str | None, accept: Collection[str] | None = None,
              force: bool = False, _trusted_content: Collection[str] = TRUSTED_CONTENT) -> Any:
        """Deserialize ``data`` according to its content type.

        ``accept`` is the set of content types the consumer allows (see
        :func:`prepare_accept_content`); with ``accept=None`` the registry's
        disabled types are refused instead, unless ``force``. A content type
        with no decoder is decoded as text in ``content_encoding`` (unless
        ``binary``), else returned as is.

        Raises:
            ContentDisallowed: the content type is not allowed.
            DecodeError: the payload is corrupt (original error chained).
            SerializerNotInstalled: the serializer's library is missing.
        """
        content_type = self.check_content_allowed(content_type, accept, force, _trusted_content)
        if not data:
            return data
        decode = self._decoders.get(content_type)
        if decode is None and self._on_miss is not None and self._missed():
            decode = self._decoders.get(content_type)
        if decode is not None:
            try:
                return decode(data)
            except (SerializerNotInstalled, DecodeError):
                raise
            except Exception as exc:
                raise DecodeError(exc) from exc
        content_encoding = (content_encoding or 'utf-8').lower()
        if content_encoding not in SKIP_DECODE and not isinstance(data, str):
            try:
                return codecs.decode(data, content_encoding)
            except Exception as exc:
                raise DecodeError(exc) from exc
        return data

    def check_content_allowed(self, content_type: str | bytes | None,
                              accept: Collection[str] | None = None, force: bool = False,
                              _trusted_content: Collection[str] = TRUSTED_CONTENT) -> str:
        """Raise :exc:`ContentDisallowed` unless :meth:`loads` may decode the type.

        Returns the content type as text (``application/data`` when empty).
        """
        if not content_type:
            content_type = 'application/data'
        elif not isinstance(content_type, str):
            content_type = content_type.decode(errors='replace')
        if accept is not None:
            if content_type not in accept and content_type not in _trusted_content:
                raise self._for_untrusted_content(content_type, 'untrusted')
        elif content_type in self._disabled_content_types and not force:
            raise self._for_untrusted_content(content_type, 'disabled')
        return content_type

    def _for_untrusted_content(self, ctype: str, why: str) -> ContentDisallowed:
        return ContentDisallowed(
            f'Refusing to deserialize {why} content of type '
            f'{parenthesize_alias(self.type_to_name.get(ctype, ctype), ctype)}')


def _encode_text(data: str) -> bytes:
    try:
        return data.encode('utf-8')
    except Exception as exc:  # lone surrogates
        raise EncodeError(exc) from exc


def raw_encode(data: Any) -> tuple[str, str, Any]:
    """The ``raw`` serializer: ``str`` as UTF-8, anything else sent as bytes."""
    if isinstance(data, str):
        return 'application/data', 'utf-8', _encode_text(data)
    return 'application/data', 'binary', data


#: The process-wide registry.
registry = SerializerRegistry()
dumps = registry.dumps
loads = registry.loads
check_content_allowed = registry.check_content_allowed
register = registry.register
unregister = registry.unregister


def register_json(target: SerializerRegistry | None = None) -> None:
    """Register ``json`` (``application/json``, with Kombu's typed envelope)."""
    from .utils import json as _json
    (target or registry).register('json', _json.dumps, _json.loads,
                                  content_type='application/json', content_encoding='utf-8')


def register_yaml(target: SerializerRegistry | None = None) -> None:
    """Register ``yaml`` (``application/x-yaml``; decoding uses ``safe_load``)."""
    target = target or registry
    try:
        import yaml
    except ImportError:
        def not_available(*args: Any, **kwargs: Any) -> Any:
            raise _not_installed('yaml', 'decoder')
        target.register('yaml', None, not_available, 'application/x-yaml')
        return

    def yaml_loads(s: Any) -> Any:
        # safe_load treats anything but str/bytes as a stream.
        if isinstance(s, memoryview):
            s = s.tobytes()
        elif isinstance(s, bytearray):
            s = bytes(s)
        return yaml.safe_load(s)

    target.register('yaml', yaml.safe_dump, yaml_loads,
                    content_type='application/x-yaml', content_encoding='utf-8')


def register_pickle(target: SerializerRegistry | None = None) -> None:
    """Register ``pickle`` (``application/x-python-serialize``)."""
    def pickle_dumps(obj: Any, dumper: Callable[..., bytes] = pickle.dumps) -> bytes:
        return dumper(obj, protocol=pickle_protocol)

    (target or registry).register('pickle', pickle_dumps, unpickle,
                                  content_type='application/x-python-serialize',
                                  content_encoding='binary')


def register_msgpack(target: SerializerRegistry | None = None) -> None:
    """Register ``msgpack`` (``application/x-msgpack``)."""
    pack: Encoder
    unpack: Decoder
    try:
        import msgpack
        from msgpack import packb, unpackb
    except (ImportError, ValueError):
        def not_available(*args: Any, **kwargs: Any) -> Any:
            raise _not_installed('msgpack', 'decoder')
        pack = unpack = not_available
    else:
        if msgpack.version >= (0, 4):
            def pack(s: Any) -> bytes:
                return packb(s, use_bin_type=True)

            def unpack(s: Any) -> Any:
                return unpackb(s, raw=False)
        else:  # pragma: no cover
            def version_mismatch(*args: Any, **kwargs: Any) -> Any:
                raise SerializerNotInstalled('msgpack requires msgpack-python >= 0.4.0')
            pack = unpack = version_mismatch
    (target or registry).register('msgpack', pack, unpack,
                                  content_type='application/x-msgpack',
                                  content_encoding='binary')


def enable_insecure_serializers(choices: Any = NOTSET) -> None:
    """Allow decoding pickle, yaml and msgpack (or the names/types in ``choices``)."""
    choices = ['pickle', 'yaml', 'msgpack'] if choices is NOTSET else choices
    if choices is not None:
        for choice in choices:
            try:
                registry.enable(choice)
            except KeyError:
                pass


def disable_insecure_serializers(allowed: Any = NOTSET) -> None:
    """Refuse decoding every serializer except json (or those in ``allowed``).

    Producers can still encode with them; a consumer's ``accept`` list
    overrides this.
    """
    allowed = ['json'] if allowed is NOTSET else allowed
    for content_type in list(registry._decoders):
        registry.disable(content_type)
    if allowed is not None:
        for name in allowed:
            registry.enable(name)


def prepare_accept_content(content_types: Iterable[str] | None,
                           name_to_type: Mapping[str, str] | None = None) -> set[str] | None:
    """Turn serializer names in ``content_types`` into content types (a set).

    Do it once per consumer, not per message.

    Raises:
        SerializerNotInstalled: a name is not a registered serializer.
    """
    if content_types is None:
        return None
    if not name_to_type:
        name_to_type = registry.name_to_type
        if registry._on_miss is not None and any(
                '/' not in n and n not in name_to_type for n in content_types):
            registry._missed()
    try:
        return {n if '/' in n else name_to_type[n] for n in content_types}
    except KeyError as exc:
        raise SerializerNotInstalled(
            f'No encoder/decoder installed for {exc.args[0]}') from None


def _load_entrypoint_serializers() -> None:
    # Third-party serializers (entry point group ``kombu.serializers``, value
    # ``(encoder, decoder, content_type, content_encoding)``). Loaded on the
    # first lookup miss rather than at import: scanning metadata is slow.
    from .utils.compat import entrypoints
    for ep, args in entrypoints('kombu.serializers'):
        register(ep.name, *args)


register_json()
register_pickle()
register_yaml()
register_msgpack()
registry._set_default_serializer('json')
# Insecure serializers are refused by default (as in Kombu since 3.0).
disable_insecure_serializers()
registry._on_miss = _load_entrypoint_serializers
