"""Redis transport (virtual), wire-compatible with upstream Kombu.

Connection strings::

    redis://[USER:PASSWORD@]HOST[:PORT][/DB]
    rediss://[USER:PASSWORD@]HOST[:PORT][/DB]?ssl_cert_reqs=required
    redis+socket:///path/to/redis.sock?virtual_host=DB
    sentinel://HOST1:26379;sentinel://HOST2:26379   (master_name option)

Features: direct, topic, fanout (PUB/SUB) and headers exchanges (binding
arguments as JSON in the binding table's pattern slot), priorities (one list
per ``priority_steps`` step), queue expiry (``x-expires``), message TTL
(``expiration``, ``x-message-ttl``) and dead-lettering
(``x-dead-letter-exchange``, on expiry and on reject), ack emulation with
visibility timeout.  Keys and envelopes are the same as upstream Kombu's, so
both can share one Redis.

What differs from upstream (all invisible on the wire):

* one reusable client and one dedicated connection per channel (no client
  object per command), hot-path commands packed by hand;
* binding tables cached (``binding_cache_ttl``, default 1 s), dropped at once
  on any bind/unbind in this process and re-read on a routing miss;
* consuming pops up to ``consume_batch_size`` messages (capped by prefetch)
  in one atomic Lua call that also records them as unacked -- a consumer
  killed right after the pop cannot lose them -- with fair round robin across
  queues within each priority step; BRPOP only when all are empty;
* acks are sent without waiting for their reply (read on the next round
  trip); acks given while a batch is delivered go together at its end; an
  ack whose reply was lost with its connection is kept by the process and
  sent again first thing on the next connection to that Redis (restores
  skip it meanwhile), so a Redis restart does not bring acked messages back;
* queue ``x-`` arguments (TTL, ``x-expires``, dead-lettering, ``x-max-length``)
  are also stored under ``_kombu.queue_args.<queue>`` when declared, so they
  apply in processes that publish or consume without declaring the queue;
* exchange declarations (type, durable, auto_delete, arguments) are stored
  under ``_kombu.exchange.<name>``, so a process that publishes to or
  restores through a topic, fanout or headers exchange it never declared
  routes by its real type (upstream treats it as direct);
* a lease thread renews the ``unacked_index`` scores of messages held by a
  live consumer, so the visibility-timeout sweep (ours or upstream's) only
  restores messages of dead consumers, each exactly once (atomic script);
* requeue puts the message back at the head; a failing callback gives the
  rest of its batch back; a fanout message reaches every subscribed queue;
* ``publish_replicas``: a publish returns once that many replicas have it
  (``WAIT``), so a Sentinel failover loses no acknowledged publish;
* unknown transport options are reported with a warning.

Priorities keep upstream's Redis semantics: one list per ``priority_steps``
step and priority 0 consumed first (as Celery documents for Redis).

Transport options: every upstream option (``visibility_timeout``,
``polling_interval``, ``max_connections``, ``socket_timeout``,
``socket_connect_timeout``, ``socket_keepalive``, ``socket_keepalive_options``,
``retry_on_timeout``, ``health_check_interval``, ``client_name``,
``unacked_restore_limit``, ``unacked_restore_interval``,
``unacked_restore_throttle``, ``unacked_key``, ``unacked_index_key``,
``unacked_mutex_key``, ``unacked_mutex_expire``, ``ack_emulation``, ``sep``,
``priority_steps``, ``fanout_prefix``, ``fanout_patterns``,
``global_keyprefix``, ``queue_order_strategy``, ``master_name``,
``sentinel_kwargs``, ``min_other_sentinels``) plus ``consume_batch_size``,
``binding_cache_ttl``, ``publish_replicas`` and ``publish_replicas_timeout``.
"""
from __future__ import annotations

import logging

from .batch import PublishBatch
from .channel import Channel
from .client import (
                     GlobalKeyPrefixMixin,
                     Mutex,
                     MutexHeld,
                     PrefixedRedisPipeline,
                     PrefixedRedisPubSub,
                     PrefixedStrictRedis,
                     error_classes_t,
                     get_redis_ConnectionError,
                     get_redis_error_classes,
)
from .keys import (
                     BINDING_EXPIRES_FACTOR,
                     BINDING_SWEEP_INTERVAL,
                     DEFAULT_DB,
                     DEFAULT_HEALTH_CHECK_INTERVAL,
                     DEFAULT_PORT,
                     DEFAULT_REAUTH_CHECK_INTERVAL,
                     MIN_BINDING_TTL,
                     PRIORITY_STEPS,
                     REFRESH_BINDING,
                     SUBCLIENT_MAX_MISSED_HEALTH_CHECKS,
                     SWEEP_BINDINGS,
)
from .poller import MultiChannelPoller
from .qos import QoS
from .sentinel import SentinelChannel, SentinelManagedSSLConnection, SentinelTransport
from .transport import Transport

logger = logging.getLogger('kombu.transport.redis')

__all__ = (
    'Transport', 'SentinelTransport', 'Channel', 'SentinelChannel', 'QoS',
    'MultiChannelPoller', 'PrefixedStrictRedis', 'PrefixedRedisPipeline',
    'PrefixedRedisPubSub', 'GlobalKeyPrefixMixin', 'PublishBatch', 'MutexHeld', 'Mutex',
    'get_redis_error_classes', 'get_redis_ConnectionError', 'error_classes_t',
    'SentinelManagedSSLConnection', 'BINDING_EXPIRES_FACTOR', 'BINDING_SWEEP_INTERVAL',
    'DEFAULT_DB', 'DEFAULT_HEALTH_CHECK_INTERVAL', 'DEFAULT_PORT',
    'DEFAULT_REAUTH_CHECK_INTERVAL', 'MIN_BINDING_TTL', 'PRIORITY_STEPS', 'REFRESH_BINDING',
    'SUBCLIENT_MAX_MISSED_HEALTH_CHECKS', 'SWEEP_BINDINGS', 'logger',
)
