"""Compression of message bodies.

Methods are identified on the wire by content type (the ``compression``
message header), and can also be named by alias:

=========================  ==========================
content type               aliases
=========================  ==========================
``application/x-gzip``     ``gzip``, ``zlib``
``application/x-bz2``      ``bzip2``, ``bzip``
``application/x-lzma``     ``lzma``, ``xz``
``application/x-brotli``   ``brotli`` (needs brotli)
``application/zstd``       ``zstd``, ``zstandard``
=========================  ==========================

zstd uses the standard library's :mod:`compression.zstd` (Python 3.14+),
``backports.zstd``, or the ``zstandard`` package, whichever is present; all
write standard zstd frames.

Decompression is bounded: :func:`decompress` inflates in chunks of
:data:`CHUNK_SIZE` and raises :exc:`~kombu.exceptions.DecompressionLimitExceeded`
(a :exc:`~kombu.exceptions.DecodeError`) as soon as the output passes
``max_size`` (default :data:`DEFAULT_MAX_DECOMPRESSED_SIZE`), so a small
"decompression bomb" never allocates more than the limit. The gzip method
reads zlib streams (what Kombu writes) and gzip-framed ones alike.
"""
from __future__ import annotations

import sys
import zlib
from typing import Any, Callable, Iterable

from .exceptions import DecodeError, DecompressionLimitExceeded, EncodeError
from .utils.encoding import ensure_bytes

__all__ = ('register', 'encoders', 'get_encoder', 'get_decoder', 'compress', 'decompress',
           'DEFAULT_MAX_DECOMPRESSED_SIZE', 'DecompressionLimitExceeded')

Codec = Callable[[bytes], bytes]
#: ``(body, max_size) -> body``: inflates at most ``max_size`` bytes, else raises.
BoundedCodec = Callable[[bytes, int], bytes]

#: The largest body a broker Kombu speaks to can hold is 512 MiB (Redis'
#: ``proto-max-bulk-len``, RabbitMQ's ``max_message_size`` ceiling); no honest
#: producer needs more once decompressed, so the default allows that plus 64 MiB.
DEFAULT_MAX_DECOMPRESSED_SIZE = (512 + 64) * 1024 * 1024
#: Output bytes inflated per step: the most allocated past the limit.
CHUNK_SIZE = 1024 * 1024


class CompressionError(DecodeError):
    """A compressed body could not be decompressed (corrupt or truncated)."""


class UnknownCompression(KeyError, DecodeError):
    """No compression method by that name or content type.

    A KeyError too, which is what Kombu raised.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


class UnknownCompressionMethod(KeyError, EncodeError):
    """Asked to compress with a method that is not registered (also a KeyError)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


class CompressionRegistry:
    """Compression methods by content type, plus aliases."""

    def __init__(self) -> None:
        self._aliases: dict[str, str] = {}
        self._encoders: dict[str, Codec] = {}
        self._decoders: dict[str, Codec] = {}
        self._bounded: dict[str, BoundedCodec] = {}

    def register(self, encoder: Codec, decoder: Codec, content_type: str,
                 aliases: Iterable[str] | None = None,
                 bounded_decoder: BoundedCodec | None = None) -> None:
        """Register ``encoder``/``decoder`` (bytes -> bytes) for ``content_type``.

        ``bounded_decoder(body, max_size)`` is used by :meth:`decompress`
        when given; without it the plain ``decoder`` runs and its output is
        checked against the limit afterwards (which bounds what is handed on,
        not the memory used to inflate it).
        """
        self._encoders[content_type] = encoder
        self._decoders[content_type] = decoder
        if bounded_decoder is not None:
            self._bounded[content_type] = bounded_decoder
        else:
            self._bounded.pop(content_type, None)
        if aliases:
            self._aliases.update((alias, content_type) for alias in aliases)

    def encoders(self) -> list[str]:
        """Return the content types of the registered methods."""
        return list(self._encoders)

    def get_encoder(self, t: str) -> tuple[Codec, str]:
        """Return ``(encoder, content_type)`` for an alias or content type."""
        t = self._aliases.get(t, t)
        try:
            return self._encoders[t], t
        except KeyError:
            raise UnknownCompressionMethod(self._unknown(t)) from None

    def get_decoder(self, t: str) -> Codec:
        """Return the decoder for an alias or content type."""
        try:
            return self._decoders[self._aliases.get(t, t)]
        except KeyError:
            raise UnknownCompression(self._unknown(t)) from None

    def _unknown(self, t: str) -> str:
        known = ', '.join(sorted(self._encoders))
        return f'Unknown compression method {t!r} (registered: {known})'

    def compress(self, body: bytes | str, content_type: str) -> tuple[bytes, str]:
        """Compress ``body``; return ``(compressed, content_type)``."""
        encoder, content_type = self.get_encoder(content_type)
        return encoder(ensure_bytes(body)), content_type

    def decompress(self, body: Any, content_type: str,
                   max_size: int | None = None) -> bytes:
        """Decompress ``body``, inflating at most ``max_size`` bytes.

        Raises:
            DecompressionLimitExceeded: the body expands past ``max_size``
                (default :data:`DEFAULT_MAX_DECOMPRESSED_SIZE`).
            CompressionError: the body is corrupt or truncated.
            UnknownCompression: no such method.
        """
        decoder = self.get_decoder(content_type)
        limit = DEFAULT_MAX_DECOMPRESSED_SIZE if max_size is None else max_size
        bounded = self._bounded.get(self._aliases.get(content_type, content_type))
        try:
            if bounded is not None:
                return bounded(body, limit)
            out = decoder(body)
        except DecompressionLimitExceeded:
            raise DecompressionLimitExceeded(content_type, limit) from None
        except Exception as exc:
            raise CompressionError(
                f'Cannot decompress {content_type} body: {exc!r}') from exc
        if len(out) > limit:
            raise DecompressionLimitExceeded(content_type, limit)
        return out


#: The process-wide registry.
registry = CompressionRegistry()
register = registry.register
encoders = registry.encoders
get_encoder = registry.get_encoder
get_decoder = registry.get_decoder
compress = registry.compress
decompress = registry.decompress
# Kombu kept these as module globals; some code reaches into them.
_aliases = registry._aliases
_encoders = registry._encoders
_decoders = registry._decoders


class _Output:
    """Collects inflated chunks, refusing to grow past ``limit``."""

    __slots__ = ('chunks', 'size', 'limit')

    def __init__(self, limit: int) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = limit

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            # content_type is filled in by CompressionRegistry.decompress.
            raise DecompressionLimitExceeded('compressed', self.limit)
        self.chunks.append(chunk)

    def value(self) -> bytes:
        return self.chunks[0] if len(self.chunks) == 1 else b''.join(self.chunks)


def _step(limit: int, out: _Output) -> int:
    # Never ask for more than one byte past the limit: enough to tell.
    return max(1, min(CHUNK_SIZE, limit - out.size + 1))


def _zlib_bounded(body: bytes, limit: int) -> bytes:
    out = _Output(limit)
    # wbits 32+15: a zlib or a gzip header, detected from the stream.
    obj = zlib.decompressobj(47)
    data = body
    while not obj.eof:
        chunk = obj.decompress(data, _step(limit, out))
        out.add(chunk)
        data = obj.unconsumed_tail
        if not data and not chunk and not obj.eof:
            raise zlib.error('incomplete or truncated stream')
    return out.value()


def _streaming_bounded(factory: Callable[[], Any], what: str) -> BoundedCodec:
    """A bounded codec for bz2/lzma/zstd-style decompressor objects.

    These take ``decompress(data, max_length)`` and expose ``needs_input``,
    ``eof`` and ``unused_data``; concatenated streams are read one after the
    other, as the one-shot functions do.
    """
    def bounded(body: bytes, limit: int) -> bytes:
        out = _Output(limit)
        data = body
        while True:
            obj = factory()
            out.add(obj.decompress(data, _step(limit, out)))
            while not obj.eof and not obj.needs_input:
                out.add(obj.decompress(b'', _step(limit, out)))
            if not obj.eof:
                raise EOFError(f'truncated {what} stream')
            data = obj.unused_data
            if not data:
                return out.value()
    return bounded


def _brotli_bounded(brotli: Any) -> BoundedCodec | None:
    if not hasattr(brotli, 'Decompressor'):  # pragma: no cover
        return None

    def bounded(body: bytes, limit: int) -> bytes:
        out = _Output(limit)
        obj = brotli.Decompressor()
        out.add(obj.process(body, output_buffer_limit=_step(limit, out)))
        while not obj.is_finished():
            if obj.can_accept_more_data():
                raise brotli.error('truncated brotli stream')
            out.add(obj.process(b'', output_buffer_limit=_step(limit, out)))
        return out.value()

    try:  # brotlicffi and brotli < 1.1 cannot limit one step's output
        brotli.Decompressor().process(b'', output_buffer_limit=1)
    except TypeError:  # pragma: no cover
        return None
    except Exception:
        pass
    return bounded


def _zstandard_bounded(zstandard: Any) -> BoundedCodec:
    def bounded(body: bytes, limit: int) -> bytes:
        out = _Output(limit)
        reader = zstandard.ZstdDecompressor().stream_reader(body)
        while True:
            chunk = reader.read(_step(limit, out))
            if not chunk:
                break
            out.add(chunk)
        data = out.value()
        # The reader stops quietly at a truncated frame: compare with the size
        # the frame declares, or (frames from streaming encoders declare none)
        # let the unbounded decompressor, now known to stay under the limit,
        # tell whether the frame ended.
        expected = zstandard.get_frame_parameters(body).content_size
        if expected == zstandard.CONTENTSIZE_UNKNOWN:
            obj = zstandard.ZstdDecompressor().decompressobj()
            obj.decompress(body)
            if not obj.eof:
                raise zstandard.ZstdError('truncated zstd frame')
        elif expected != len(data):
            raise zstandard.ZstdError('truncated zstd frame')
        return data
    return bounded


def _zstd_codec() -> tuple[Codec, Codec, BoundedCodec] | None:
    if sys.version_info >= (3, 14):  # pragma: no cover
        try:
            from compression import zstd as std_zstd
            return (std_zstd.compress, std_zstd.decompress,
                    _streaming_bounded(std_zstd.ZstdDecompressor, 'zstd'))
        except ImportError:
            pass
    try:
        from backports import zstd as backport_zstd  # type: ignore[import-not-found]
        return (backport_zstd.compress, backport_zstd.decompress,
                _streaming_bounded(backport_zstd.ZstdDecompressor, 'zstd'))
    except ImportError:
        pass
    try:
        import zstandard
    except ImportError:
        return None

    def zstd_decompress(body: bytes) -> bytes:
        # A streaming decompressor: frames without a content size (written by
        # streaming encoders) are valid zstd but rejected by zstandard.decompress.
        obj = zstandard.ZstdDecompressor().decompressobj()
        out = obj.decompress(body)
        if not obj.eof:
            raise zstandard.ZstdError('truncated zstd frame')
        return out

    return zstandard.compress, zstd_decompress, _zstandard_bounded(zstandard)


def _register_builtin() -> None:
    register(zlib.compress, zlib.decompress, 'application/x-gzip', aliases=['gzip', 'zlib'],
             bounded_decoder=_zlib_bounded)
    try:
        import bz2
    except ImportError:  # pragma: no cover
        pass
    else:
        register(bz2.compress, bz2.decompress, 'application/x-bz2', aliases=['bzip2', 'bzip'],
                 bounded_decoder=_streaming_bounded(bz2.BZ2Decompressor, 'bzip2'))
    try:
        import brotli
    except ImportError:
        try:
            import brotlicffi as brotli  # PyPy
        except ImportError:
            brotli = None
    if brotli is not None:
        register(brotli.compress, brotli.decompress, 'application/x-brotli', aliases=['brotli'],
                 bounded_decoder=_brotli_bounded(brotli))
    try:
        import lzma
    except ImportError:  # pragma: no cover
        pass
    else:
        register(lzma.compress, lzma.decompress, 'application/x-lzma', aliases=['lzma', 'xz'],
                 bounded_decoder=_streaming_bounded(lzma.LZMADecompressor, 'lzma'))
    zstd = _zstd_codec()
    if zstd is not None:
        register(zstd[0], zstd[1], 'application/zstd', aliases=['zstd', 'zstandard'],
                 bounded_decoder=zstd[2])


_register_builtin()
