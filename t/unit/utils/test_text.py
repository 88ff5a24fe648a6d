from __future__ import annotations

import re

import pytest

from kombu.utils.text import escape_regex, fmatch_best, fmatch_iter, version_string_as_tuple


def test_escape_regex():
    assert escape_regex('a.b*c\x00', white='.') == 'a.b\\*c\\000'
    assert re.match(escape_regex('x+y'), 'x+y')


def test_fmatch():
    assert fmatch_best('apple', ['appel', 'banana']) == 'appel'
    assert fmatch_best('zzz', ['appel']) is None
    assert [k for _, k in fmatch_iter('redis', ['rediss', 'amqp'])] == ['rediss']


@pytest.mark.parametrize('s,expected', [
    ('5.3.1', (5, 3, 1, '', '')),
    ('5.3.0a1', (5, 3, 0, 'a1', '')),
    ('5.3.0a1-40', (5, 3, 0, 'a1', '40')),
    ('5.3', (5, 3, 0, '', '')),
    ('5', (5, 0, 0, '', '')),
    ('1.2.3.rc1', (1, 2, 3, 'rc1', '')),
    ('1.2.3.rc1.5', (1, 2, 3, 'rc1', '5')),
    ('1.2.3-40', (1, 2, 3, '', '40')),
])
def test_version_string_as_tuple(s, expected):
    # Expected values are what Kombu 5.7 returns.
    assert tuple(version_string_as_tuple(s)) == expected
