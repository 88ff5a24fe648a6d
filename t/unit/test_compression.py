from __future__ import annotations

import importlib
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kombu import compression
from kombu.compression import (
    CompressionError,
    CompressionRegistry,
    compress,
    decompress,
    encoders,
    get_decoder,
    get_encoder,
)
from kombu.exceptions import DecodeError, EncodeError


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


METHODS = {
    'application/x-gzip': ['gzip', 'zlib'],
    'application/x-bz2': ['bzip2', 'bzip'],
    'application/x-lzma': ['lzma', 'xz'],
    'application/x-brotli': ['brotli'],
    'application/zstd': ['zstd', 'zstandard'],
}
# brotli and zstd are optional extras (both are in the ``test`` extra).
OPTIONAL = {'application/x-brotli': ('brotli', 'brotlicffi'),
            'application/zstd': ('compression.zstd', 'backports.zstd', 'zstandard')}
for _ctype, _modules in OPTIONAL.items():
    if not any(_importable(m) for m in _modules):
        del METHODS[_ctype]


def test_all_methods_registered():
    assert set(encoders()) == set(METHODS)


@pytest.mark.parametrize('content_type', sorted(METHODS))
def test_aliases_resolve_to_content_type(content_type):
    for alias in METHODS[content_type] + [content_type]:
        encoder, resolved = get_encoder(alias)
        assert resolved == content_type
        assert get_decoder(alias) is get_decoder(content_type)


@pytest.mark.parametrize('content_type', sorted(METHODS))
def test_roundtrip_and_str_input(content_type):
    body, ctype = compress('héllo' * 100, content_type)
    assert ctype == content_type and isinstance(body, bytes)
    assert decompress(body, ctype) == 'héllo'.encode() * 100
    assert decompress(memoryview(body), ctype) == 'héllo'.encode() * 100


def test_gzip_is_plain_zlib_stream():
    # Kombu's "application/x-gzip" is zlib.compress output; peers depend on it.
    body, _ = compress(b'hello', 'gzip')
    assert body == zlib.compress(b'hello')


def test_zstd_frames_from_other_encoders_decode():
    zstandard = pytest.importorskip('zstandard')
    streamed = zstandard.ZstdCompressor().compressobj()
    frame = streamed.compress(b'x' * 1000) + streamed.flush()  # no content size in header
    assert decompress(frame, 'zstd') == b'x' * 1000


@pytest.mark.parametrize('content_type', sorted(METHODS))
def test_corrupt_body_is_decode_error(content_type):
    with pytest.raises(CompressionError) as excinfo:
        decompress(b'definitely not compressed', content_type)
    assert isinstance(excinfo.value, DecodeError)
    assert excinfo.value.__cause__ is not None


@pytest.mark.parametrize('content_type', sorted(METHODS))
def test_truncated_body_is_decode_error(content_type):
    body, _ = compress(bytes(range(256)) * 20, content_type)
    with pytest.raises(DecodeError):
        decompress(body[: len(body) // 2], content_type)


def test_unknown_method():
    with pytest.raises(DecodeError, match='nope'):
        decompress(b'x', 'nope')
    with pytest.raises(KeyError):  # what Kombu raised
        get_decoder('nope')
    with pytest.raises(EncodeError, match='registered:'):
        compress(b'x', 'nope')
    with pytest.raises(KeyError):
        get_encoder('nope')


def test_isolated_registry_and_module_register():
    reg = CompressionRegistry()
    reg.register(lambda b: b[::-1], lambda b: bytes(b)[::-1], 'application/x-rev',
                 aliases=['rev'])
    assert reg.compress(b'abc', 'rev') == (b'cba', 'application/x-rev')
    assert reg.decompress(b'cba', 'application/x-rev') == b'abc'
    assert 'application/x-rev' not in encoders()
    try:
        compression.register(lambda b: b, lambda b: b, 'application/x-id', aliases=['id'])
        assert compress(b'a', 'id') == (b'a', 'application/x-id')
        assert 'application/x-id' in compression._encoders
    finally:
        for table in (compression._encoders, compression._decoders):
            table.pop('application/x-id', None)
        compression._aliases.pop('id', None)


@pytest.mark.parametrize('content_type', sorted(METHODS))
@given(data=st.binary(max_size=2048))
def test_roundtrip_property(content_type, data):
    body, ctype = compress(data, content_type)
    assert decompress(body, ctype) == data


# -- bounded decompression (decompression bombs) ---------------------------------

from kombu.compression import DEFAULT_MAX_DECOMPRESSED_SIZE  # noqa: E402
from kombu.exceptions import DecompressionLimitExceeded, LimitExceeded  # noqa: E402

BOMB_SIZE = 64 * 1024 * 1024


@pytest.fixture(scope='module')
def bombs():
    """64 MiB of zeros compressed by every method (a few KiB each)."""
    zeros = bytes(BOMB_SIZE)
    return {ctype: compress(zeros, ctype)[0] for ctype in METHODS}


@pytest.mark.parametrize('content_type', sorted(METHODS))
def test_bomb_stops_at_the_limit_without_inflating_it_all(content_type, bombs):
    import time
    import tracemalloc
    bomb = bombs[content_type]
    assert len(bomb) < BOMB_SIZE // 100
    limit = 4 * 1024 * 1024
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(DecompressionLimitExceeded) as info:
            decompress(bomb, content_type, max_size=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2
    # The limit, one chunk, the join and the codec's own window (lzma keeps
    # an 8 MiB dictionary) at most: never the 64 MiB.
    assert peak < 2 * limit + 16 * 1024 * 1024, peak
    exc = info.value
    assert isinstance(exc, DecodeError) and isinstance(exc, LimitExceeded)
    assert exc.limit == limit and exc.content_type == content_type
    assert str(limit) in str(exc) and 'max_decompressed_size' in str(exc)


@pytest.mark.parametrize('content_type', sorted(METHODS))
def test_limit_is_inclusive_and_default_is_documented_size(content_type):
    data = b'0123456789' * 1000
    body, _ = compress(data, content_type)
    assert decompress(body, content_type, max_size=len(data)) == data
    with pytest.raises(DecompressionLimitExceeded):
        decompress(body, content_type, max_size=len(data) - 1)
    assert DEFAULT_MAX_DECOMPRESSED_SIZE == 576 * 1024 * 1024


@pytest.mark.parametrize('content_type', sorted(METHODS))
def test_truncated_body_is_a_compression_error(content_type):
    body, _ = compress(bytes(range(256)) * 400, content_type)
    for cut in (body[:-4], body[:len(body) // 2]):
        with pytest.raises(CompressionError):
            decompress(cut, content_type)


def test_gzip_method_reads_gzip_framing_too():
    import gzip
    assert decompress(gzip.compress(b'abc' * 10), 'gzip') == b'abc' * 10


def test_concatenated_streams_are_all_read():
    import bz2
    import lzma
    assert decompress(bz2.compress(b'a') + bz2.compress(b'b'), 'bzip2') == b'ab'
    assert decompress(lzma.compress(b'a') + lzma.compress(b'b'), 'lzma') == b'ab'


def test_custom_codec_without_bounded_decoder_is_checked_after():
    reg = CompressionRegistry()
    reg.register(lambda b: b, lambda b: b * 10, 'x/ten')
    assert reg.decompress(b'ab', 'x/ten', max_size=20) == b'ab' * 10
    with pytest.raises(DecompressionLimitExceeded):
        reg.decompress(b'ab', 'x/ten', max_size=19)
