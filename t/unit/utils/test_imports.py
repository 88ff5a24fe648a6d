from __future__ import annotations

import pytest

from kombu.utils.imports import symbol_by_name
from kombu.utils.url import parse_url


def test_colon_and_dot_forms():
    assert symbol_by_name('kombu.utils.url:parse_url') is parse_url
    assert symbol_by_name('kombu.utils.url.parse_url') is parse_url


def test_module_only():
    import kombu.utils.url as mod
    assert symbol_by_name('kombu.utils.url') is mod
    assert symbol_by_name('kombu') is __import__('kombu')


def test_object_passthrough_and_aliases():
    assert symbol_by_name(parse_url) is parse_url
    assert symbol_by_name('pu', aliases={'pu': 'kombu.utils.url:parse_url'}) is parse_url


def test_relative_with_package():
    assert symbol_by_name('.url:parse_url', package='kombu.utils') is parse_url


def test_errors_and_default():
    with pytest.raises(ImportError):
        symbol_by_name('kombu.no_such_module:X')
    with pytest.raises(AttributeError):
        symbol_by_name('kombu.utils.url:no_such_name')
    sentinel = object()
    assert symbol_by_name('kombu.no_such_module:X', default=sentinel) is sentinel
    assert symbol_by_name('kombu.utils.url:nope', default=sentinel) is sentinel


def test_value_error_is_wrapped():
    def imp(name, package=None):
        raise ValueError('bad relative import')
    with pytest.raises(ValueError, match="Cannot import 'x.y:Z'"):
        symbol_by_name('x.y:Z', imp=imp)
