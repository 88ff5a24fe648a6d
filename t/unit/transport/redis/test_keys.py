from __future__ import annotations

import datetime
import json

import pytest

from kombu.transport.redis import keys as K


@pytest.mark.parametrize('priority,step', [(0, 0), (2, 0), (3, 3), (5, 3), (6, 6), (9, 9),
                                           (255, 9)])
def test_priority_step(priority, step):
    assert K.priority_step(K.PRIORITY_STEPS, priority) == step


def test_queue_key_matches_upstream_layout():
    assert K.queue_key('celery', 0) == 'celery'
    assert K.queue_key('celery', 3) == 'celery\x06\x163'
    assert K.queue_key('q', 6, sep=':') == 'q:6'


def test_binding_member_round_trip():
    member = K.binding_member('rk', None, 'q')
    assert member == 'rk\x06\x16\x06\x16q'
    assert K.parse_binding(member.encode()) == ('rk', '', 'q')
    assert K.binding_member(None, '*.x', 'q', sep='|') == '|*.x|q'


def test_queue_from_brpop_key():
    assert K.queue_from_key(b'celery\x06\x169') == 'celery'
    assert K.queue_from_key('plain') == 'plain'


def test_fanout_topics():
    assert K.fanout_topic('/0.', 'ex', 'rk') == '/0.ex/rk'
    assert K.fanout_topic('/0.', 'ex', '') == '/0.ex'
    assert K.fanout_topic('', 'ex', 'rk', patterns=False) == 'ex'


def test_envelope_codec_fast_path_and_typed_values():
    env = {'body': 'e30=', 'headers': {'n': 1}, 'properties': {'delivery_tag': 't'}}
    assert json.loads(K.dumps(env)) == env
    assert K.loads(K.dumps(env).encode()) == env
    when = datetime.datetime(2026, 11, 26, 12, 0, 0)
    typed = {'headers': {'eta': when}}
    encoded = K.dumps(typed)  # falls back to Kombu's typed JSON
    assert '__type__' in encoded
    assert K.loads(encoded) == typed


def test_unacked_entry_is_upstream_triple():
    assert json.loads(K.unacked_entry({'a': 1}, 'ex', 'rk')) == [{'a': 1}, 'ex', 'rk']


def test_binding_epoch_moves():
    before = K.binding_epoch[0]
    K.bump_binding_epoch()
    assert K.binding_epoch[0] != before


def test_pack_command_matches_redis_py():
    import redis
    args = ('EVALSHA', 'a' * 40, 2, 'k1', b'k2', 1.5, 'ünï', 100)
    assert K.pack_command(*args) == b''.join(redis.Connection().pack_command(*args))
