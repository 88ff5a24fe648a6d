"""The server-side scripts and lease renewal, driven directly on a channel."""
from __future__ import annotations

import json
import time

import pytest

from kombu import Connection
from kombu.transport.redis import keys as K
from kombu.transport.redis.qos import renew

pytestmark = pytest.mark.integration


def envelope(tag, body='Yg==', exchange='ex', routing_key='rk'):
    return json.dumps({'body': body, 'headers': {}, 'content-type': 'application/json',
                       'content-encoding': 'utf-8',
                       'properties': {'delivery_tag': tag, 'body_encoding': 'base64',
                                      'delivery_info': {'exchange': exchange,
                                                        'routing_key': routing_key}}})


@pytest.fixture
def channel(redis_url):
    with Connection(redis_url) as conn:
        yield conn.default_channel


def test_pop_batch_priority_then_round_robin_and_records(channel, rclient):
    for i in range(3):
        rclient.lpush('a', envelope(f'a{i}'))
        rclient.lpush('b', envelope(f'b{i}'))
    rclient.lpush('b\x06\x169', envelope('b-low'))
    rclient.lpush('a\x06\x163', envelope('a-mid'))
    items = channel._pop(['a', 'b'], 6, [True, False])
    tags = [(q, p['properties']['delivery_tag']) for q, p in items]
    # step 0 round robin first, then step 3; budget stops before step 9
    assert tags == [('a', 'a0'), ('b', 'b0'), ('a', 'a1'), ('b', 'b1'), ('a', 'a2'),
                    ('b', 'b2')]
    # only queue 'a' (flag 1) was recorded, atomically with the pop
    assert sorted(rclient.hkeys('unacked')) == [b'a0', b'a1', b'a2']
    entry = json.loads(rclient.hget('unacked', 'a0'))
    assert entry[1:] == ['ex', 'rk'] and entry[0]['properties']['delivery_tag'] == 'a0'
    assert rclient.zcard('unacked_index') == 3
    rest = channel._pop(['a', 'b'], 10, [True, True], acks=['a0', 'a1'])
    assert [p['properties']['delivery_tag'] for _, p in rest] == ['a-mid', 'b-low']
    # piggy-backed acks were applied in the same call
    assert sorted(rclient.hkeys('unacked')) == [b'a-mid', b'a2', b'b-low']


def test_restore_one_is_conditional_and_exactly_once(channel, rclient):
    now = time.time()
    rclient.hset('unacked', 't', K.unacked_entry(json.loads(envelope('t')), '', 'dest'))
    rclient.zadd('unacked_index', {'t': now})
    # lease newer than the ceiling: not restored
    assert channel._restore_tags_from_redis(['t'], now - 10) == 0
    assert rclient.hexists('unacked', 't')
    assert channel._restore_tags_from_redis(['t'], now + 1) == 1
    assert channel._restore_tags_from_redis(['t'], now + 1) == 0  # gone: once
    restored = json.loads(rclient.rpop('dest'))
    assert restored['headers']['redelivered'] is True
    assert restored['properties']['delivery_info']['redelivered'] is True
    assert rclient.zcard('unacked_index') == 0


def test_renew_moves_leases_and_flushes_acks(redis_url, rclient):
    with Connection(redis_url) as conn:
        channel = conn.channel()
        for tag in ('x', 'y'):
            rclient.lpush('lq', envelope(tag, routing_key='lq'))
        items = channel._pop(['lq'], 2, [True])
        qos = channel.qos
        for _, payload in items:
            channel._mark_recorded(payload)
            qos.append(channel.Message(payload, channel=channel),
                       payload['properties']['delivery_tag'])
        conn.transport._lease_keeper.stop()
        qos._buffer_acks += 1  # as while a batch is delivered: the ack waits
        qos.ack('x')
        qos._buffer_acks -= 1
        assert rclient.hexists('unacked', 'x')
        assert renew(qos, now=12345.0) == 1
        assert not rclient.hexists('unacked', 'x')
        assert rclient.zscore('unacked_index', 'y') == 12345.0
        qos.ack('y')  # sent without waiting for the reply...
        channel._execute('PING')  # ...which the next command reads
        assert rclient.hlen('unacked') == 0
