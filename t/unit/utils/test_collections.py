from __future__ import annotations

import pytest

from kombu.utils.collections import EqualityDict, HashedSeq, eqhash


class Key:
    def __init__(self, value):
        self.value = value

    def __eqhash__(self):
        return hash(('Key', self.value))


def test_hashed_seq():
    s = HashedSeq(1, 2)
    assert list(s) == [1, 2]
    assert hash(s) == hash((1, 2))
    assert {s: 'x'}[HashedSeq(1, 2)] == 'x'


def test_eqhash():
    assert eqhash('a') == hash('a')
    assert eqhash(Key(1)) == hash(('Key', 1))


def test_equality_dict_uses_eqhash():
    d = EqualityDict()
    d[Key(1)] = 'one'
    assert d[Key(1)] == 'one'
    del d[Key(1)]
    with pytest.raises(KeyError):
        d[Key(1)]
    d['plain'] = 2
    assert d['plain'] == 2
