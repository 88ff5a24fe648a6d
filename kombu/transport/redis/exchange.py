"""Exchange types of the Redis channel.

Bindings live in Redis' shared ``_kombu.binding.<exchange>`` sets as
``routing_key, pattern, queue``; a headers binding keeps its arguments as
JSON in the pattern slot (upstream Kombu ignores bindings it cannot match).
"""
from __future__ import annotations

from time import monotonic
from typing import Any, Mapping, Sequence

from kombu.transport.virtual import exchange as vexchange
from kombu.transport.virtual.exchange import STANDARD_EXCHANGE_TYPES

from . import keys as K


class HeadersExchange(vexchange.HeadersExchange):
    """Headers routing on the shared binding table, re-read when nothing matches.

    The table is cached for ``binding_cache_ttl``; a miss may be a binding
    made by another process since, so it is read again once before the
    message counts as unroutable (as the keyed exchange types do).
    """

    def route(self, exchange: str, routing_key: str,
              headers: Mapping[str, Any] | None) -> Sequence[str]:
        channel: Any = self.channel  # the Redis channel (its binding-table cache)
        cached = channel._tables.get(exchange)
        table = channel.get_table(exchange)
        queues = self.lookup(table, exchange, routing_key, None, headers=headers)
        if not queues and cached is not None and cached[2] is table:
            channel._read_table(exchange, K.binding_epoch[0], monotonic())
            queues = self.lookup(channel.get_table(exchange), exchange, routing_key, None,
                                 headers=headers)
        return queues

    def deliver(self, message: dict[str, Any], exchange: str, routing_key: str,
                **kwargs: Any) -> None:
        channel = self.channel
        queues = self.route(exchange, routing_key, message.get('headers'))
        if not queues:
            queues = channel._lookup_default(exchange, routing_key)
        channel._put_routed(queues, message, **kwargs)


#: The exchange types of the Redis channel, by name.
EXCHANGE_TYPES = dict(STANDARD_EXCHANGE_TYPES, headers=HeadersExchange)
