"""RedisOptions: every key Kombu 5.7 reads for Redis, typed, built once, unknown keys warned."""
from __future__ import annotations

import warnings

import pytest

from kombu import Connection
from kombu.transport.redis import Channel, SentinelChannel
from kombu.transport.redis.options import RedisOptions, SentinelOptions
from kombu.transport.virtual import options as voptions
from kombu.transport.virtual.options import TransportOptionError

#: the Redis transport options Kombu 5.7 documents or reads, with a value each
KOMBU_REDIS_KEYS = {
    'visibility_timeout': 60, 'fanout_prefix': True, 'fanout_patterns': True,
    'global_keyprefix': 'p:', 'socket_timeout': 2.0, 'socket_connect_timeout': 1.0,
    'socket_keepalive': True, 'socket_keepalive_options': {1: 1}, 'retry_on_timeout': False,
    'max_connections': 5, 'health_check_interval': 10, 'client_name': 'w1',
    'priority_steps': [0, 5, 9], 'sep': ':', 'queue_order_strategy': 'priority',
    'unacked_key': 'u', 'unacked_index_key': 'ui', 'unacked_mutex_key': 'um',
    'unacked_mutex_expire': 30, 'unacked_restore_limit': 5,
    'unacked_restore_interval': 3, 'unacked_restore_throttle': 2, 'ack_emulation': True,
    'polling_interval': 2, 'brpop_timeout': 1, 'credential_provider': None,
    'max_retries': 3, 'interval_start': 0, 'interval_step': 1, 'interval_max': 1,
}
SENTINEL_KEYS = {'master_name': 'mymaster', 'sentinel_kwargs': {'password': 's3cr3t'},
                 'min_other_sentinels': 1, 'sentinel_fanout_compat': True}


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(voptions, '_warned', set())


def options_without_warnings(url, transport_options):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        return Connection(url, transport_options=transport_options).transport.options


def test_every_kombu_key_is_known_and_read():
    opts = options_without_warnings('redis://localhost:1/0', KOMBU_REDIS_KEYS)
    assert isinstance(opts, RedisOptions) and Channel.Options is RedisOptions
    for key in KOMBU_REDIS_KEYS:
        if key in RedisOptions.field_names():
            assert getattr(opts, key) == KOMBU_REDIS_KEYS[key], key
            assert key in Channel.from_transport_options or key == 'polling_interval'


def test_sentinel_keys_and_secret_masked():
    opts = options_without_warnings('sentinel://localhost:1', SENTINEL_KEYS)
    assert isinstance(opts, SentinelOptions) and SentinelChannel.Options is SentinelOptions
    assert (opts.master_name, opts.min_other_sentinels) == ('mymaster', 1)
    assert 's3cr3t' not in repr(opts) and 'sentinel_kwargs=' in repr(opts)
    for key in SENTINEL_KEYS:
        assert key in SentinelChannel.from_transport_options


def test_unknown_key_warned_once_per_process():
    with pytest.warns(UserWarning, match="redis transport: unknown transport option 'visibilty"):
        Connection('redis://localhost:1', transport_options={'visibilty_timeout': 1}).transport
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        Connection('redis://localhost:1', transport_options={'visibilty_timeout': 1}).transport


def test_strings_from_a_query_are_coerced():
    opts = RedisOptions.from_transport_options({
        'visibility_timeout': '30', 'ack_emulation': 'false', 'max_connections': '7',
        'socket_timeout': '1.5', 'fanout_prefix': 'custom/'})
    assert (opts.visibility_timeout, opts.ack_emulation, opts.max_connections,
            opts.socket_timeout, opts.fanout_prefix) == (30.0, False, 7, 1.5, 'custom/')
    with pytest.raises(TransportOptionError, match='max_connections'):
        RedisOptions.from_transport_options({'max_connections': 'many'})


def test_defaults_match_the_channel_attributes():
    opts = RedisOptions()
    for name in Channel.from_transport_options:
        if name in RedisOptions.field_names() and name != 'body_encoding':
            assert getattr(opts, name) == getattr(Channel, name), name


def test_transport_reads_given_options_else_channel_defaults():
    t = Connection('redis://localhost:1', transport_options={
        'health_check_interval': '3', 'retry_on_timeout': True}).transport
    assert t._option('health_check_interval') == 3.0
    assert t._option('unacked_restore_interval') == Channel.unacked_restore_interval
    assert t.supports_batch_publish is False
