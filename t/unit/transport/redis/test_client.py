from __future__ import annotations

import redis

from kombu.transport.redis import (
    GlobalKeyPrefixMixin,
    PrefixedRedisPubSub,
    PrefixedStrictRedis,
    get_redis_ConnectionError,
    get_redis_error_classes,
)


class Prefixer(GlobalKeyPrefixMixin):
    global_keyprefix = 'pfx:'


def test_simple_commands_prefix_first_key():
    assert Prefixer()._prefix_args(['LPUSH', 'q', 'body']) == ['LPUSH', 'pfx:q', 'body']
    assert Prefixer()._prefix_args(['PING']) == ['PING']


def test_complex_commands():
    p = Prefixer()
    assert p._prefix_args(['DEL', 'a', 'b']) == ['DEL', 'pfx:a', 'pfx:b']
    assert p._prefix_args(['BRPOP', 'a', 'b', 1]) == ['BRPOP', 'pfx:a', 'pfx:b', 1]
    assert p._prefix_args(['EVALSHA', 'sha', 2, 'k1', 'k2', 'arg']) == [
        'EVALSHA', 'sha', 2, 'pfx:k1', 'k2', 'arg']


def test_prefixed_client_pipeline_and_pubsub_carry_prefix():
    client = PrefixedStrictRedis(global_keyprefix='app:')
    pipe = client.pipeline()
    assert pipe.global_keyprefix == 'app:'
    assert pipe._prefix_args(['SADD', 'k', 'v']) == ['SADD', 'app:k', 'v']
    pubsub = client.pubsub()
    assert isinstance(pubsub, PrefixedRedisPubSub)
    assert pubsub._prefix_args(['PSUBSCRIBE', '/0.ex']) == ['PSUBSCRIBE', 'app:/0.ex']
    client.close()


def test_error_classes():
    conn_errors, chan_errors = get_redis_error_classes()
    assert redis.exceptions.ConnectionError in conn_errors
    assert redis.exceptions.TimeoutError in conn_errors
    assert redis.exceptions.ResponseError in chan_errors
    assert get_redis_ConnectionError() is redis.exceptions.ConnectionError
