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
"""
from __future__ import annotations

import sys
import zlib
from typing import Any, Callable, Iterable

from .exceptions import DecodeError, EncodeError
from .utils.encoding import ensure_bytes

__all__ = ('register', 'encoders', 'get_encoder', 'get_decoder', 'compress', 'decompress')

Codec = Callable[[bytes], bytes]


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

    def register(self, encoder: Codec, decoder: Codec, content_type: str,
                 aliases: Iterable[str] | None = None) -> None:
        """Register ``encoder``/``decoder`` (bytes -> bytes) for ``content_type``."""
        self._encoders[content_type] = encoder
        self._decoders[content_type] = decoder
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

    def decompress(self, body: Any, content_type: str) -> bytes:
        """Decompress ``body``; a corrupt body raises :exc:`CompressionError`."""
        decoder = self.get_decoder(content_type)
        try:
            return decoder(body)
        except Exception as exc:
            raise CompressionError(
                f'Cannot decompress {content_type} body: {exc!r}') from exc


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


def _zstd_codec() -> tuple[Codec, Codec] | None:
    if sys.version_info >= (3, 14):  # pragma: no cover
        try:
            from compression import zstd as std_zstd
            return std_zstd.compress, std_zstd.decompress
        except ImportError:
            pass
    try:
        from backports import zstd as backport_zstd  # type: ignore[import-not-found]
        return backport_zstd.compress, backport_zstd.decompress
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

    return zstandard.compress, zstd_decompress


def _register_builtin() -> None:
    register(zlib.compress, zlib.decompress, 'application/x-gzip', aliases=['gzip', 'zlib'])
    try:
        import bz2
    except ImportError:  # pragma: no cover
        pass
    else:
        register(bz2.compress, bz2.decompress, 'application/x-bz2', aliases=['bzip2', 'bzip'])
    try:
        import brotli
    except ImportError:
        try:
            import brotlicffi as brotli  # PyPy
        except ImportError:
            brotli = None
    if brotli is not None:
        register(brotli.compress, brotli.decompress, 'application/x-brotli', aliases=['brotli'])
    try:
        import lzma
    except ImportError:  # pragma: no cover
        pass
    else:
        register(lzma.compress, lzma.decompress, 'application/x-lzma', aliases=['lzma', 'xz'])
    zstd = _zstd_codec()
    if zstd is not None:
        register(zstd[0], zstd[1], 'application/zstd', aliases=['zstd', 'zstandard'])


_register_builtin()
