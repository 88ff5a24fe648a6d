from __future__ import annotations

import io
import sys

from kombu.utils import encoding
from kombu.utils.encoding import (
    bytes_to_str,
    default_encode,
    ensure_bytes,
    from_utf8,
    get_default_encoding_file,
    safe_repr,
    safe_str,
    set_default_encoding_file,
    str_to_bytes,
)


def test_str_to_bytes_and_back():
    assert str_to_bytes('é') == 'é'.encode()
    assert str_to_bytes(b'x') == b'x'
    assert str_to_bytes(3) == 3
    assert ensure_bytes is str_to_bytes
    assert bytes_to_str('é'.encode()) == 'é'
    assert bytes_to_str('x') == 'x'
    assert bytes_to_str(b'\xff') == '\ufffd'


def test_noops():
    assert from_utf8('x') == 'x'
    obj = object()
    assert default_encode(obj) is obj


def test_default_encoding_file_roundtrip():
    old = get_default_encoding_file()
    f = io.StringIO()
    try:
        set_default_encoding_file(f)
        assert get_default_encoding_file() is f
        assert encoding.default_encoding_file is f
        assert encoding.default_encoding() == sys.getfilesystemencoding()
    finally:
        set_default_encoding_file(old)


class BadRepr:
    def __repr__(self):
        raise ValueError('no repr')

    def __str__(self):
        raise ValueError('no str')


def test_safe_str():
    assert safe_str('x') == 'x'
    assert safe_str(b'\xc3\xa9') == 'é'
    assert safe_str(3) == '3'
    assert safe_str(['a']) == "['a']"
    assert '<Unrepresentable' in safe_str(BadRepr())


def test_safe_repr():
    assert safe_repr('x') == "'x'"
    assert '<Unrepresentable' in safe_repr(BadRepr())
