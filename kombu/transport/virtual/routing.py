"""Routing, expiry, dead-lettering and priorities: the part of a virtual
channel between ``basic_publish`` and the store's ``_put``/``_get`` hooks.

:class:`RoutingMixin` is mixed into :class:`kombu.transport.virtual.Channel`;
its methods are overridable hooks like the rest of the channel.
"""
from __future__ import annotations

import logging
import warnings
from queue import Empty
from typing import TYPE_CHECKING, Any, Sequence

from . import ttl
from .message import next_delivery_tag
from .state import QueuePolicy

if TYPE_CHECKING:
    from .exchange import ExchangeType
    from .state import BrokerState

__all__ = ('RoutingMixin', 'UndeliverableWarning', 'UNDELIVERABLE_FMT')

UNDELIVERABLE_FMT = """\
Message could not be delivered: No queues bound to exchange {exchange!r} \
using binding key {routing_key!r}.
"""

EXPIRES_AT = ttl.EXPIRES_AT

logger = logging.getLogger('kombu.transport.virtual.base')


# Stands in for a message's properties when its expiration is ignored.
_NO_PROPERTIES: dict[str, Any] = {}

class UndeliverableWarning(UserWarning):
    """A message could not be routed to any queue."""


#: '.1', '.2', ...: fanout copies' tag suffixes, prebuilt.
_TAG_SUFFIXES = tuple(f'.{n}' for n in range(64))


def queue_priority(message: dict[str, Any], max_priority: int) -> int:
    """Return the priority of ``message`` on a queue with ``x-max-priority``.

    As RabbitMQ does: missing or invalid is 0, above the maximum is the maximum.
    """
    try:
        priority = int(message['properties'].get('priority') or 0)
    except (TypeError, ValueError):
        return 0
    return max(0, min(priority, max_priority))


class RoutingMixin:
    """Routing with memoized routes, per-queue copies, TTL stamps, DLX, priority."""

    #: set by the channel: no routing hook overridden, shortcuts allowed.
    _plain_routing = False

    if TYPE_CHECKING:
        deadletter_queue: str | None
        honor_expiration: bool
        max_priority: int
        min_priority: int
        default_priority: int
        _cache_routes: bool

        @property
        def state(self) -> BrokerState: ...
        def typeof(self, exchange: str, default: str = 'direct') -> ExchangeType: ...
        def get_table(self, exchange: str) -> Any: ...
        def _new_queue(self, queue: str, **kwargs: Any) -> None: ...
        def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None: ...
        def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]: ...
        def _size(self, queue: str) -> int: ...
        def _queue_policy(self, queue: str) -> QueuePolicy | None: ...
        def queue_delete(self, queue: str, if_unused: bool = False,
                         if_empty: bool = False, **kwargs: Any) -> int | None: ...

    # -- routing -------------------------------------------------------------

    def _lookup(self, exchange: str, routing_key: str,
                default: str | None = None) -> Sequence[str]:
        """Return the queues ``routing_key`` is routed to by ``exchange``.

        With no match, returns ``[default]`` (``deadletter_queue`` if None)
        when there is one, else an empty sequence.
        """
        if not exchange:  # the default exchange: the routing key names the queue
            if default is None:
                default = self.deadletter_queue
            target = routing_key or default
            return [target] if target else []
        queues: Sequence[str]
        if self._cache_routes:
            routes = self.state.routes
            try:
                queues = routes[exchange][routing_key]
            except KeyError:
                queues = self._lookup_and_remember(routes, exchange, routing_key)
        else:
            queues = self._lookup_table(exchange, routing_key)
        if not queues:
            return self._lookup_default(exchange, routing_key, default)
        return queues

    def _lookup_table(self, exchange: str, routing_key: str) -> Sequence[str]:
        try:
            return tuple(self.typeof(exchange).lookup(
                self.get_table(exchange), exchange, routing_key, None))
        except KeyError:
            return ()

    def _lookup_and_remember(self, routes: dict[str, dict[str, Sequence[str]]],
                             exchange: str, routing_key: str) -> Sequence[str]:
        # Take the memo dict *before* reading the table: if a binding changes
        # meanwhile, the dict is dropped and our stale result with it.
        memo = routes.get(exchange)
        if memo is None:
            if len(routes) > 10000:
                routes.clear()
            memo = routes.setdefault(exchange, {})
        queues = self._lookup_table(exchange, routing_key)
        if len(memo) > 10000:  # unbounded key spaces: start over
            memo.clear()
        memo[routing_key] = queues
        return queues

    def _lookup_default(self, exchange: str, routing_key: str,
                        default: str | None = None) -> Sequence[str]:
        if default is None:
            default = self.deadletter_queue
        if default is None:
            return ()
        warnings.warn(UndeliverableWarning(UNDELIVERABLE_FMT.format(
            exchange=exchange, routing_key=routing_key)), stacklevel=3)
        self._new_queue(default)
        return (default,)

    def _put_routed(self, queues: Sequence[str], message: dict[str, Any],
                    **kwargs: Any) -> None:
        """Put ``message`` on each of ``queues``, each queue getting its own copy."""
        if len(queues) == 1:
            return self._put_message(queues[0], message, **kwargs)
        props = message['properties']
        has_expiration = 'expiration' in props
        if self._plain_routing:
            queue_policy = self.connection.state.policies.get  # type: ignore[attr-defined]
        else:
            queue_policy = self._queue_policy
        put = self._put
        tag = str(props.get('delivery_tag') or next_delivery_tag())
        copy = message
        for n, queue in enumerate(queues):
            if n:
                # Own properties (tag, expiry stamp); the inner dicts are
                # shared and never mutated once published (see _restore).
                copy_props = props.copy()
                copy_props.pop(EXPIRES_AT, None)  # stamped for the previous queue
                copy_props['delivery_tag'] = (  # unique since the tag is
                    tag + _TAG_SUFFIXES[n] if n < 64 else f'{tag}.{n}')
                copy = message.copy()
                copy['properties'] = copy_props
            policy = queue_policy(queue)
            if policy is not None:
                self._put_with_policy(queue, copy, policy, **kwargs)
            else:
                if has_expiration:
                    self._stamp_expiry(copy['properties'], None)
                put(queue, copy, **kwargs)
        return None

    @staticmethod
    def _copy_message(message: dict[str, Any]) -> dict[str, Any]:
        props = dict(message['properties'])
        props['delivery_tag'] = next_delivery_tag()
        copy = dict(message)
        copy['properties'] = props
        return copy

    def _put_message(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        """Put one routed message: stamp its expiry, then call the ``_put`` hook."""
        policy = self._queue_policy(queue)
        if policy is not None:
            return self._put_with_policy(queue, message, policy, **kwargs)
        if 'expiration' in message['properties']:
            self._stamp_expiry(message['properties'], None)
        return self._put(queue, message, **kwargs)

    def _put_with_policy(self, queue: str, message: dict[str, Any], policy: QueuePolicy,
                         **kwargs: Any) -> None:
        """Put on a queue with x- arguments: expiry stamp and ``x-max-length``."""
        self._stamp_expiry(message['properties'], policy)
        max_length = policy.max_length
        if max_length is None:
            return self._put(queue, message, **kwargs)
        if policy.overflow.startswith('reject-publish'):
            if self._size(queue) >= max_length:
                if policy.overflow == 'reject-publish-dlx':
                    self._dead_letter(queue, message, 'maxlen')
                return None  # no publisher confirms here: the message is dropped
            return self._put(queue, message, **kwargs)
        self._put(queue, message, **kwargs)
        # drop-head: the oldest messages make room (dead-lettered if configured)
        for _ in range(self._size(queue) - max_length):
            try:
                head = self._get(queue)
            except Empty:
                break
            self._dead_letter(queue, head, 'maxlen')
        return None

    def _stamp_expiry(self, props: dict[str, Any], policy: QueuePolicy | None) -> None:
        # With honor_expiration off only the queue's x-message-ttl counts.
        deadline = ttl.expiry_deadline(
            props if self.honor_expiration else _NO_PROPERTIES, policy, ttl.clock())
        if deadline is None:
            props.pop(EXPIRES_AT, None)
        else:
            props[EXPIRES_AT] = deadline

    def _route(self, message: dict[str, Any], exchange: str, routing_key: str) -> None:
        """Route an already encoded envelope (dead-lettering) as a new message."""
        props = message['properties']
        props['delivery_tag'] = next_delivery_tag()
        delivery_info = props.setdefault('delivery_info', {})
        delivery_info['exchange'] = exchange
        delivery_info['routing_key'] = routing_key
        if exchange:
            self.typeof(exchange).deliver(message, exchange, routing_key)
        else:
            self._put_routed(self._lookup(exchange, routing_key), message)

    # -- expiry, dead-lettering, priority ---------------------------------------

    def _expired(self, queue: str, message: dict[str, Any]) -> bool:
        """Return true (after dead-lettering it) if ``message`` has expired."""
        deadline = message['properties'].get(EXPIRES_AT)
        if deadline is None or ttl.clock() < deadline:
            return False
        self._dead_letter(queue, message, 'expired')
        return True

    def _dead_letter(self, queue: str | None, message: dict[str, Any], reason: str) -> None:
        """Send ``message`` to the dead-letter exchange of ``queue``, if it has one."""
        policy = self._queue_policy(queue) if queue else None
        if policy is None or policy.dead_letter_exchange is None:
            return
        copy = ttl.dead_letter_copy(message, queue or '', reason, ttl.clock())
        routing_key = policy.dead_letter_routing_key
        if routing_key is None:
            routing_key = copy['properties']['delivery_info'].get('routing_key', '')
        self._route(copy, policy.dead_letter_exchange, routing_key)

    def _reject_message(self, message: Any) -> None:
        """A message was rejected without requeue: dead-letter it if configured."""
        raw = getattr(message, '_raw', None)
        if raw is not None:
            self._dead_letter(getattr(message, '_source_queue', None), raw, 'rejected')

    def _get_message_priority(self, message: dict[str, Any], reverse: bool = False) -> int:
        """Return the priority of ``message`` within ``min_priority..max_priority``."""
        try:
            priority = max(min(int(message['properties']['priority']), self.max_priority),
                           self.min_priority)
        except (TypeError, ValueError, KeyError):
            priority = self.default_priority
        return (self.max_priority - priority) if reverse else priority

    def _queue_priority(self, policy: QueuePolicy | None, message: dict[str, Any]) -> int:
        """Return the priority ``message`` gets on a queue (0 without x-max-priority)."""
        if policy is None or not policy.max_priority:
            return 0
        return queue_priority(message, policy.max_priority)

    def _touch_queue(self, queue: str) -> None:
        policy = self.state.policies.get(queue)
        if policy is not None and policy.expires is not None:
            self.state.last_used[queue] = ttl.clock()

    def _sweep_expired_queues(self) -> None:
        """Delete the ``x-expires`` queues unused for longer than their expiry."""
        state = self.state
        if not state.last_used:
            return
        now = ttl.clock()
        for queue, used in list(state.last_used.items()):
            policy = self._queue_policy(queue)
            if policy is None or policy.expires is None:
                state.last_used.pop(queue, None)
            elif not state.consumers.get(queue) and now - used >= policy.expires:
                logger.debug('Deleting expired queue %r', queue)
                self.queue_delete(queue)
