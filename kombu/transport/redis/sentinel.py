"""Redis Sentinel: discover the master by name and follow failovers."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import redis
from redis import sentinel

from kombu.utils.url import url_to_parts

from . import keys as K
from .channel import Channel
from .options import RedisOptions, SentinelOptions, own_fields
from .transport import Transport


class SentinelManagedSSLConnection(sentinel.SentinelManagedConnection, redis.SSLConnection):
    """Sentinel-discovered master, reached over TLS."""


class SentinelChannel(Channel):
    """Channel whose pools resolve the master through Redis Sentinel.

    URL: ``sentinel://h1:26379;sentinel://h2:26379`` plus the transport option
    ``master_name``; ``sentinel_kwargs`` go to the sentinel connections (for
    a password on the sentinels themselves).
    """

    Options = SentinelOptions
    from_transport_options = Channel.from_transport_options + own_fields(
        SentinelOptions, RedisOptions)

    connection_class = sentinel.SentinelManagedConnection
    connection_class_ssl = SentinelManagedSSLConnection

    master_name: str | None = None
    min_other_sentinels = 0
    sentinel_kwargs: dict | None = None
    #: During a rolling upgrade from Kombu < 5.4 (whose Sentinel channels used
    #: the literal fanout prefix ``/{db}.``): publish fanout messages on both
    #: the current topic (``/0.exchange``) and the legacy one, subscribe to
    #: both, and deliver a message that arrives on both once.
    sentinel_fanout_compat = False
    #: how many delivery tags a compat channel remembers for de-duplication
    fanout_compat_history = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._sentinel_managers: list[Any] = []
        self._legacy_fanout_prefix: str | None = None
        self._fanout_seen: OrderedDict[str, None] = OrderedDict()
        super().__init__(*args, **kwargs)

    def _get_publish_topics(self, exchange: str, routing_key: str) -> list[str]:
        topics = super()._get_publish_topics(exchange, routing_key)
        legacy = self._legacy_fanout_prefix
        if legacy is not None:
            topics.append(K.fanout_topic(legacy, exchange, routing_key, self.fanout_patterns))
        return topics

    def _fanout_seen_before(self, message: dict) -> bool:
        if self._legacy_fanout_prefix is None:
            return False
        tag = (message.get('properties') or {}).get('delivery_tag')
        if tag is None:  # not from Kombu: nothing to match it by, never dropped
            return False
        seen = self._fanout_seen
        if tag in seen:
            return True
        seen[tag] = None
        if len(seen) > self.fanout_compat_history:
            seen.popitem(last=False)
        return False

    def _sentinels(self, connparams: dict[str, Any]) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        for url in getattr(self.connection.client, 'alt', None) or ():
            parts = url_to_parts(url)
            if parts.scheme == 'sentinel':
                found.append((parts.hostname or '127.0.0.1',
                              parts.port or self.connection.default_port))
        if not found:
            found.append((connparams['host'], connparams['port']))
        return found

    def _sentinel_managed_pool(self, asynchronous: bool = False) -> Any:
        if not self.master_name:
            raise ValueError("'master_name' transport option must be specified.")
        params = self._connparams(asynchronous)
        sentinels = self._sentinels(params)
        extra = {k: v for k, v in params.items() if k not in ('host', 'port')}
        manager = sentinel.Sentinel(
            sentinels, min_other_sentinels=self.min_other_sentinels,
            sentinel_kwargs=self.sentinel_kwargs, **extra)
        self._sentinel_managers.append(manager)
        master_kwargs = {k: extra[k] for k in ('username', 'password') if k in extra}
        return manager.master_for(self.master_name, redis.Redis, **master_kwargs).connection_pool

    def _get_pool(self, asynchronous: bool = False) -> Any:
        params = self._connparams(asynchronous=asynchronous)
        unformatted = self.keyprefix_fanout
        self.keyprefix_fanout = unformatted.format(db=params['db'])
        if self.sentinel_fanout_compat and unformatted != self.keyprefix_fanout:
            self._legacy_fanout_prefix = unformatted  # the literal '/{db}.' of Kombu < 5.4
        return self._sentinel_managed_pool(asynchronous)

    def _disconnect_pools(self) -> None:
        super()._disconnect_pools()
        managers, self._sentinel_managers = self._sentinel_managers, []
        for manager in managers:
            close = getattr(manager, 'close', None)
            if close is not None:
                try:
                    close()
                except Exception:
                    pass


class SentinelTransport(Transport):
    """Redis Sentinel transport."""

    default_port = 26379
    Channel = SentinelChannel
