from __future__ import annotations

from unittest.mock import Mock

import pytest

from kombu import matcher
from kombu.matcher import MatcherNotInstalled, MatcherRegistry, match, register, unregister


def test_glob_is_default():
    assert match('foo.bar', 'foo.*') is True
    assert match(b'foo.bar', b'foo.*', 'glob') is True
    assert match('foo.bar', 'baz.*') is False


def test_pcre_pattern_first():
    assert match('foo.bar', r'^foo\.b', 'pcre') is True
    assert match('xfoo', '^foo', 'pcre') is False
    assert match('FOO', 'foo', 'pcre', matcher_kwargs={'flags': 2}) is True  # re.IGNORECASE


def test_unknown_matcher():
    with pytest.raises(MatcherNotInstalled, match='nope'):
        match('a', 'a', 'nope')
    with pytest.raises(MatcherNotInstalled):
        unregister('nope')
    assert MatcherRegistry.MatcherNotInstalled is MatcherNotInstalled


def test_register_custom_matcher():
    register('exact', lambda data, pattern: data == pattern)
    try:
        assert match('a', 'a', 'exact') and not match('a', 'b', 'exact')
    finally:
        unregister('exact')
    with pytest.raises(MatcherNotInstalled):
        match('a', 'a', 'exact')


def test_isolated_registry_and_lazy_entry_points():
    reg = MatcherRegistry()
    hook = Mock(side_effect=lambda: reg.register('plug', lambda d, p: True))
    reg._on_miss = hook
    assert reg.match('a', 'b', 'plug') is True
    with pytest.raises(MatcherNotInstalled):
        reg.match('a', 'b', 'other')
    hook.assert_called_once_with()
    with pytest.raises(MatcherNotInstalled):
        reg._set_default_matcher('glob')
    assert matcher.registry._default_matcher is not None
