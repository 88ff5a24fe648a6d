"""``transport_options`` of the Redis and Sentinel transports, as typed values.

Every key Kombu 5.7 reads for Redis is a field here, with Kombu's name and
default; the virtual base builds the value once per connection, warns once
about a key none of them declares, and copies the keys a user gave onto the
channel, where Kombu's code (and Celery) read them as attributes
(``channel.visibility_timeout``).  The channel's class attributes stay the
defaults a subclass may override.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

from kombu.transport.virtual.options import TransportOptions

from . import keys as K

__all__ = ('RedisOptions', 'SentinelOptions', 'CONNECTION_KEYS', 'own_fields')

#: Options handed to redis-py's connection pool (read from the channel).
CONNECTION_KEYS = (
    'max_connections', 'socket_timeout', 'socket_connect_timeout', 'socket_keepalive',
    'socket_keepalive_options', 'health_check_interval', 'retry_on_timeout', 'client_name',
)


@dataclasses.dataclass(frozen=True)
class RedisOptions(TransportOptions):
    """The Redis transport's options (Kombu's names and defaults, plus this package's)."""

    transport_name: ClassVar[str] = 'redis'
    #: read by the transport or Kombu's Connection, not copied onto the channel
    #: (``credential_provider`` goes to ``Connection(credential_provider=...)``).
    passthrough: ClassVar[frozenset[str]] = frozenset({
        'brpop_timeout', 'credential_provider', 'reauth_check_interval', 'max_retries',
        'interval_start', 'interval_step', 'interval_max', 'retry_policy', 'confirm_publish',
        'connect_timeout',
    })

    # -- acknowledgement emulation -------------------------------------------
    ack_emulation: bool = True
    visibility_timeout: float = 3600
    unacked_key: str = 'unacked'
    unacked_index_key: str = 'unacked_index'
    unacked_mutex_key: str = 'unacked_mutex'
    unacked_mutex_expire: int = 300
    unacked_restore_limit: int | None = None
    unacked_restore_interval: float = 10
    unacked_restore_throttle: float = 10

    # -- keys and routing ------------------------------------------------------
    sep: str = K.SEP
    priority_steps: Any = dataclasses.field(default_factory=lambda: list(K.PRIORITY_STEPS))
    #: True: ``/{db}.`` topics; a string: that prefix; False: none (Kombu < 4).
    fanout_prefix: bool | str = True
    fanout_patterns: bool = True
    global_keyprefix: str = ''
    queue_order_strategy: str = 'round_robin'

    # -- redis-py connections -------------------------------------------------
    socket_timeout: float | None = None
    socket_connect_timeout: float | None = None
    socket_keepalive: bool | None = None
    socket_keepalive_options: Mapping[int, Any] | None = None
    retry_on_timeout: bool | None = None
    max_connections: int = 10
    health_check_interval: float = K.DEFAULT_HEALTH_CHECK_INTERVAL
    client_name: str | None = None

    # -- this package's own ----------------------------------------------------
    consume_batch_size: int = 100
    binding_cache_ttl: float = 1.0
    publish_replicas: int = 0
    publish_replicas_timeout: int = 1000


@dataclasses.dataclass(frozen=True)
class SentinelOptions(RedisOptions):
    """Redis options plus the Sentinel keys (``master_name`` is required to connect)."""

    transport_name: ClassVar[str] = 'sentinel'
    #: ``sentinel_kwargs`` usually carries the sentinels' own password.
    secret_fields: ClassVar[frozenset[str]] = frozenset({'sentinel_kwargs'})

    master_name: str | None = None
    min_other_sentinels: int = 0
    sentinel_kwargs: Mapping[str, Any] | None = None
    sentinel_fanout_compat: bool = False


def own_fields(options: type[TransportOptions], base: type[TransportOptions]) -> tuple[str, ...]:
    """Field names ``options`` declares beyond ``base`` (a channel's legacy tuple)."""
    inherited = base.field_names()
    return tuple(f.name for f in dataclasses.fields(options)
                 if f.name != 'raw' and f.name not in inherited)
