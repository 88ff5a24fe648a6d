"""The public surface of kombu.transport.redis matches Kombu 5.7's."""
from __future__ import annotations

import inspect

import kombu.transport.redis as R

CLASSES = {
    'QoS': ['append', 'restore_unacked', 'ack', 'reject', 'pipe_or_acquire',
            'restore_visible', 'restore_by_tag', 'unacked_key', 'unacked_index_key',
            'unacked_mutex_key', 'unacked_mutex_expire', 'visibility_timeout',
            'restore_at_shutdown'],
    'MultiChannelPoller': ['close', 'add', 'discard', 'on_poll_start', 'on_poll_init',
                           'maybe_restore_messages', 'maybe_refresh_binding_expiry',
                           'maybe_check_subclient_health', 'maybe_check_brpop_health',
                           'maybe_reauth', 'on_readable', 'handle_event', 'get', 'fds',
                           'eventflags'],
    'PublishBatch': ['publish', 'add', 'flush', 'discard', 'close'],
    'Channel': ['supports_batch_publish', 'basic_consume', 'basic_cancel', 'maybe_reauth',
                'priority', 'create_publish_batch', 'sweep_bindings',
                'maybe_refresh_binding_expiry', 'prepare_queue_arguments', 'get_table',
                'close', 'conn_or_acquire', 'pool', 'async_pool', 'client', 'subclient',
                'active_queues', 'QoS', 'supports_fanout', 'keyprefix_queue',
                'keyprefix_binding_deadlines', 'keyprefix_binding_permanent',
                'keyprefix_fanout', 'sep', 'ack_emulation', 'unacked_key',
                'unacked_index_key', 'unacked_mutex_key', 'unacked_mutex_expire',
                'unacked_restore_limit', 'unacked_restore_interval',
                'unacked_restore_throttle', 'visibility_timeout', 'priority_steps',
                'socket_timeout', 'socket_connect_timeout', 'socket_keepalive',
                'socket_keepalive_options', 'retry_on_timeout', 'max_connections',
                'health_check_interval', 'client_name', 'fanout_prefix', 'fanout_patterns',
                'global_keyprefix', 'queue_order_strategy', 'from_transport_options',
                'connection_class', 'connection_class_ssl'],
    'Transport': ['supports_batch_publish', 'driver_version', 'register_with_event_loop',
                  'on_readable', 'Channel', 'polling_interval', 'brpop_timeout',
                  'default_port', 'driver_type', 'driver_name', 'implements'],
    'SentinelChannel': ['from_transport_options', 'connection_class',
                        'connection_class_ssl', 'sentinel_fanout_compat'],
    'SentinelTransport': ['default_port', 'Channel'],
    'GlobalKeyPrefixMixin': ['parse_response', 'execute_command', 'pipeline',
                             'PREFIXED_SIMPLE_COMMANDS', 'PREFIXED_COMPLEX_COMMANDS'],
    'PrefixedStrictRedis': ['pubsub'],
    'PrefixedRedisPubSub': ['parse_response', 'execute_command', 'PUBSUB_COMMANDS'],
}

NAMES = ['MutexHeld', 'PrefixedRedisPipeline', 'Mutex', 'get_redis_error_classes',
         'get_redis_ConnectionError', 'BINDING_EXPIRES_FACTOR', 'BINDING_SWEEP_INTERVAL',
         'DEFAULT_DB', 'DEFAULT_HEALTH_CHECK_INTERVAL', 'DEFAULT_PORT',
         'DEFAULT_REAUTH_CHECK_INTERVAL', 'MIN_BINDING_TTL', 'PRIORITY_STEPS',
         'REFRESH_BINDING', 'SUBCLIENT_MAX_MISSED_HEALTH_CHECKS', 'SWEEP_BINDINGS',
         'error_classes_t', 'logger']


def test_every_public_name_and_member_exists():
    missing = [n for n in NAMES if not hasattr(R, n)]
    for cls, members in CLASSES.items():
        klass = getattr(R, cls, None)
        if klass is None:
            missing.append(cls)
            continue
        missing += [f'{cls}.{m}' for m in members if not hasattr(klass, m)]
    assert missing == []


def test_defaults_match_upstream():
    c = R.Channel
    assert (c.sep, c.visibility_timeout, c.unacked_key, c.unacked_index_key,
            c.unacked_mutex_key, c.unacked_mutex_expire, c.max_connections,
            c.keyprefix_queue, c.keyprefix_fanout, c.queue_order_strategy) == (
        '\x06\x16', 3600, 'unacked', 'unacked_index', 'unacked_mutex', 300, 10,
        '_kombu.binding.%s', '/{db}.', 'round_robin')
    assert R.PRIORITY_STEPS == [0, 3, 6, 9] and R.DEFAULT_PORT == 6379
    assert R.SentinelTransport.default_port == 26379
    assert R.Transport.brpop_timeout == 1 and R.Transport.polling_interval is None
    # headers: beyond upstream (its arguments ride in the binding's pattern slot)
    assert R.Transport.implements.exchange_type == frozenset(
        {'direct', 'topic', 'fanout', 'headers'})
    assert R.Transport.implements.asynchronous


def test_signatures():
    assert list(inspect.signature(R.Mutex).parameters) == ['client', 'name', 'expire']
    assert list(inspect.signature(R.PublishBatch).parameters) == ['channel', 'max_size']
    params = inspect.signature(R.QoS.restore_visible).parameters
    assert [(p, params[p].default) for p in ('start', 'num', 'interval')] == [
        ('start', 0), ('num', 10), ('interval', 10)]
