from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kombu.transport.virtual import exchange as vexchange
from kombu.transport.virtual.exchange import (
    STANDARD_EXCHANGE_TYPES,
    DirectExchange,
    ExchangeType,
    FanoutExchange,
    HeadersExchange,
    TopicExchange,
    topic_to_regex,
)

from .helpers import bodies, make_transport, publish


@pytest.fixture
def channel():
    t = make_transport()
    yield t.create_channel(t)
    t.close_connection(t)


def reference_topic_match(binding: list[str], key: list[str]) -> bool:
    """AMQP topic matching over word lists (the spec, written naively)."""
    if not binding:
        return not key
    head, rest = binding[0], binding[1:]
    if head == '#':
        return any(reference_topic_match(rest, key[i:]) for i in range(len(key) + 1))
    if not key:
        return False
    return (head == '*' or head == key[0]) and reference_topic_match(rest, key[1:])


@pytest.mark.parametrize('binding,key,expected', [
    ('*.stock.#', 'usd.stock', True),
    ('*.stock.#', 'eur.stock.db', True),
    ('*.stock.#', 'stock.nasdaq', False),
    ('#', '', True),
    ('#', 'a.b.c', True),
    ('a.#', 'a', True),
    ('a.#', 'ab', False),
    ('#.a', 'a', True),
    ('#.a', 'x.y.a', True),
    ('a.#.b', 'a.b', True),
    ('a.#.b', 'a.x.y.b', True),
    ('a.#.b', 'ab', False),
    ('a.*', 'a', False),
    ('a.*', 'a.b', True),
    ('a.*', 'a.b.c', False),
    ('*', 'a', True),
    ('*', 'a.b', False),
    ('a.b', 'a.b', True),
    ('a.b', 'aXb', False),  # '.' is not a regex wildcard
    ('a+b', 'a+b', True),   # nor are other regex characters
    ('#.#', 'a', True),
    ('#.*.#', 'a.b.c', True),
])
def test_topic_matching(binding, key, expected):
    assert bool(re.match(topic_to_regex(binding), key, re.S)) is expected


word = st.sampled_from(['a', 'b', 'cd', '*', '#'])
key_word = st.sampled_from(['a', 'b', 'cd'])


@settings(max_examples=400, deadline=None)
@given(st.lists(word, min_size=1, max_size=5), st.lists(key_word, min_size=1, max_size=5))
def test_topic_matches_reference(binding, key):
    expected = reference_topic_match(binding, key)
    assert bool(re.match(topic_to_regex('.'.join(binding)), '.'.join(key), re.S)) is expected


def test_standard_types():
    assert STANDARD_EXCHANGE_TYPES == {
        'direct': DirectExchange, 'topic': TopicExchange,
        'fanout': FanoutExchange, 'headers': HeadersExchange}
    assert TopicExchange.wildcards.keys() == {'*', '#'}
    assert ExchangeType.type is None
    with pytest.raises(NotImplementedError):
        ExchangeType(None).lookup([], 'x', 'rk', None)


def test_equivalent():
    prev = {'type': 'direct', 'durable': True, 'auto_delete': False, 'arguments': None}
    e = DirectExchange(None)
    assert e.equivalent(prev, 'x', 'direct', True, False, {})
    assert not e.equivalent(prev, 'x', 'direct', False, False, {})
    assert not e.equivalent(prev, 'x', 'direct', True, False, {'a': 1})


def test_prepare_bind():
    assert DirectExchange(None).prepare_bind('q', 'x', 'rk', None) == ('rk', None, 'q')
    rk, pattern, q = TopicExchange(None).prepare_bind('q', 'x', 'a.*', None)
    assert (rk, q) == ('a.*', 'q') and re.match(pattern, 'a.b')
    assert TopicExchange(None).key_to_pattern('a.#') == topic_to_regex('a.#')
    rk, pattern, q = HeadersExchange(None).prepare_bind('q', 'x', '', {'x-match': 'any', 'a': 1})
    assert json.loads(pattern) == {'x-match': 'any', 'a': 1}


def test_direct_routing(channel):
    channel.exchange_declare('ex', 'direct')
    channel.queue_bind('q1', 'ex', 'red')
    channel.queue_bind('q2', 'ex', 'red')
    channel.queue_bind('q3', 'ex', 'blue')
    publish(channel, 'r', 'ex', 'red')
    publish(channel, 'b', 'ex', 'blue')
    assert bodies(channel, 'q1') == [b'r']
    assert bodies(channel, 'q2') == [b'r']
    assert bodies(channel, 'q3') == [b'b']


def test_topic_routing_one_copy_per_queue(channel):
    channel.exchange_declare('ex', 'topic')
    channel.queue_bind('q', 'ex', '*.stock.#')
    channel.queue_bind('q', 'ex', 'usd.#')  # both match: still one copy
    channel.queue_bind('other', 'ex', 'stock.*')
    for key in ('usd.stock', 'eur.stock.db', 'stock.nasdaq'):
        publish(channel, key, 'ex', key)
    assert bodies(channel, 'q') == [b'usd.stock', b'eur.stock.db']
    assert bodies(channel, 'other') == [b'stock.nasdaq']


def test_topic_stored_pattern_is_ignored(channel):
    """Tables written by other versions may carry a different regex."""
    table = [('a.#', '^a\\..*?$', 'q')]
    assert TopicExchange(channel).lookup(table, 'ex', 'a', None) == ('q',)


def test_fanout_routing(channel):
    channel.exchange_declare('ex', 'fanout')
    channel.queue_bind('q1', 'ex', 'whatever')
    channel.queue_bind('q2', 'ex', '')
    publish(channel, 'x', 'ex', 'other')
    assert bodies(channel, 'q1') == [b'x']
    assert bodies(channel, 'q2') == [b'x']


def test_headers_routing(channel):
    channel.exchange_declare('ex', 'headers')
    channel.queue_bind('all', 'ex', '', {'x-match': 'all', 'format': 'pdf', 'type': 'report'})
    channel.queue_bind('any', 'ex', '', {'x-match': 'any', 'format': 'pdf', 'type': 'log'})
    channel.queue_bind('present', 'ex', '', {'flag': None})
    channel.queue_bind('default-all', 'ex', '', {'format': 'zip'})
    publish(channel, '1', 'ex', '', headers={'format': 'pdf', 'type': 'report'})
    publish(channel, '2', 'ex', '', headers={'format': 'pdf'})
    publish(channel, '3', 'ex', '', headers={'type': 'log', 'flag': 0})
    publish(channel, '4', 'ex', '', headers={'format': 'zip', 'x-other': 1})
    publish(channel, '5', 'ex', '', headers=None)
    assert bodies(channel, 'all') == [b'1']
    assert bodies(channel, 'any') == [b'1', b'2', b'3']
    assert bodies(channel, 'present') == [b'3']
    assert bodies(channel, 'default-all') == [b'4']


def test_headers_x_arguments(channel):
    channel.exchange_declare('ex', 'headers')
    channel.queue_bind('plain', 'ex', '', {'x-match': 'all', 'x-tag': 'a'})
    channel.queue_bind('with-x', 'ex', '', {'x-match': 'all-with-x', 'x-tag': 'a'})
    publish(channel, '1', 'ex', '', headers={'x-tag': 'b'})
    publish(channel, '2', 'ex', '', headers={'x-tag': 'a'})
    assert bodies(channel, 'plain') == [b'1', b'2']
    assert bodies(channel, 'with-x') == [b'2']


def test_headers_unroutable_goes_to_deadletter_queue(channel):
    channel.deadletter_queue = 'dead'
    channel.exchange_declare('ex', 'headers')
    channel.queue_bind('q', 'ex', '', {'a': 1})
    with pytest.warns(Warning):
        publish(channel, 'x', 'ex', '', headers={'a': 2})
    assert bodies(channel, 'dead') == [b'x']


def test_headers_lookup_without_headers(channel):
    e = HeadersExchange(channel)
    table = [('', json.dumps({'a': 1}), 'q1'), ('', json.dumps({}), 'q2'),
             ('', {'x-match': 'any'}, 'q3')]
    assert e.lookup(table, 'ex', '', None) == ('q2',)


def test_compiled_cache_bounded(channel):
    e = TopicExchange(channel)
    for i in range(10005):
        e._match(f'k{i}.*', 'x')
    assert len(e._compiled) <= 10001


def test_module_all():
    for name in vexchange.__all__:
        assert hasattr(vexchange, name)
