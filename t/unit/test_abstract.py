from __future__ import annotations

import pickle
from copy import copy

import pytest

from kombu.abstract import MaybeChannelBound, Object
from kombu.exceptions import NotBoundError
from kombu.utils.functional import ChannelPromise
from t.unit.recording import RecordingChannel


class Point(Object):
    attrs = (('x', int), ('y', None), ('label', str))
    label = 'origin'


class Entity(MaybeChannelBound):
    attrs = (('name', None),)

    def __init__(self, name=None, channel=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.bound_calls = 0
        self.maybe_bind(channel)

    def when_bound(self):
        self.bound_calls += 1


def test_object_coerces_declared_attrs_and_keeps_defaults():
    p = Point(x='3', y=[1], unknown='ignored')
    assert p.x == 3 and p.y == [1]
    assert p.label == 'origin'          # class default kept when value is None
    assert not hasattr(p, 'unknown')    # undeclared keywords are ignored, as in Kombu


def test_object_as_dict_copy_and_pickle_roundtrip():
    p = Point(x=1, y={'a': 1}, label='here')
    assert p.as_dict() == {'x': 1, 'y': {'a': 1}, 'label': 'here'}
    c = copy(p)
    assert c is not p and c.as_dict() == p.as_dict()
    restored = pickle.loads(pickle.dumps(p))
    assert type(restored) is Point and restored.as_dict() == p.as_dict()


def test_object_as_dict_recurses_into_nested_objects():
    outer = Point(x=1, y=Point(x=2))
    assert outer.as_dict()['y'] is outer.y
    assert outer.as_dict(recurse=True)['y'] == {'x': 2, 'y': None, 'label': 'origin'}


def test_unbound_channel_raises_not_bound():
    e = Entity('e')
    assert not e.is_bound
    with pytest.raises(NotBoundError):
        e.channel
    assert repr(e) == '<unbound Entity>'


def test_bind_returns_bound_copy_and_leaves_original():
    chan = RecordingChannel()
    e = Entity('e')
    bound = e.bind(chan)
    assert bound is not e and bound.is_bound and bound.channel is chan
    assert bound.bound_calls == 1
    assert not e.is_bound
    assert e(chan).channel is chan       # __call__ binds too
    assert repr(bound) == f'<Entity bound to chan:{chan.channel_id}>'


def test_maybe_bind_binds_in_place_once():
    a, b = RecordingChannel(), RecordingChannel()
    e = Entity('e')
    assert e.maybe_bind(a) is e and e.channel is a
    e.maybe_bind(b)
    assert e.channel is a and e.bound_calls == 1


def test_revive_rebinds_only_when_bound():
    a, b = RecordingChannel(), RecordingChannel()
    unbound = Entity('u')
    unbound.revive(b)
    assert not unbound.is_bound
    e = Entity('e', channel=a)
    e.revive(b)
    assert e.channel is b and e.bound_calls == 2


def test_channel_promise_is_evaluated_once_on_first_use():
    chan = RecordingChannel()
    made = []

    def make():
        made.append(1)
        return chan

    e = Entity('e').bind(ChannelPromise(make))
    assert made == []
    assert e.channel is chan and e.channel is chan
    assert made == [1]


def test_can_cache_declaration_defaults_false():
    assert Entity('x').can_cache_declaration is False
