"""Fanout of the Redis Cluster channel over sharded pub/sub (Redis 7 ``SPUBLISH``/``SSUBSCRIBE``).

A fanout exchange has one shard channel (:meth:`.keys.Layout.fanout_channel`),
which lives on the master owning its slot: a publish is one ``SPUBLISH``
there, and a consumer of a queue bound to the exchange subscribes to it on a
connection of its own to that master (one per master, whatever the number of
exchanges), polled with the BRPOP connections (poll type ``SLISTEN <node>``).
Each consumed queue bound to the exchange gets a copy, as on ``redis://``:
only queues with a consumer at that moment get one, and a broadcast that is
requeued or left unacked when the channel closes is dropped, not stored.

A slot that moves unsubscribes its shard channels (Redis sends
``sunsubscribe``); a subscription answered ``MOVED`` or lost with its master
is dropped too: the next poll round subscribes again on the new owner.
Servers before Redis 7, or ``fanout_pubsub=False``, keep the copies in every
bound queue (:class:`~kombu.transport.virtual.FanoutExchange`'s default).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from time import monotonic
from typing import TYPE_CHECKING, Any

from redis.connection import Connection as RedisConnection

from kombu.transport.redis.poller import has_reply

from .errors import REDIRECTS, errors
from .poller import group_by_node

if TYPE_CHECKING:
    from .consume import ConsumeMixin as _ChannelBase
else:
    _ChannelBase = object

logger = logging.getLogger('kombu.transport.rediscluster')

__all__ = ('FanoutMixin', 'NodeSubscription')


@dataclass(eq=False)
class NodeSubscription:
    """A channel's pub/sub connection to one master and the shard channels it asked for."""

    #: named as a redis-py client's, for the redis poller's socket registry.
    connection: RedisConnection
    channels: set[str] = field(default_factory=set)
    #: when it last gave us anything (a message, a pong), and was last pinged.
    seen_at: float = field(default_factory=monotonic)
    pinged_at: float = 0.0


class FanoutMixin(_ChannelBase):
    """Mixed into the Redis Cluster channel before :class:`~.consume.ConsumeMixin`."""

    #: fanout over sharded pub/sub when the cluster has it (Redis 7), else copies.
    fanout_pubsub: bool = True
    #: seconds between PINGs of a quiet pub/sub connection; one silent for three
    #: of them (a master stopped or cut off) is given up and made again on the
    #: slot's owner.  0: never.
    health_check_interval: float = 25.0

    def _init_fanout(self) -> None:
        #: consumed queue -> the fanout exchange it is bound to.
        self._fanout_queues: dict[str, str] = {}
        #: consumed queues fed by pub/sub.
        self._consumed_fanout: set[str] = set()
        self._subs: dict[str, NodeSubscription] = {}
        #: shard channel -> its exchange.
        self._exchange_of: dict[str, str] = {}
        #: delivery tags of broadcast copies not yet settled (never stored).
        self._broadcasts: set[str] = set()

    @property
    def active_fanout_queues(self) -> set[str]:  # type: ignore[override]
        return self._consumed_fanout

    @property
    def _sharded_fanout(self) -> bool:
        return bool(self.fanout_pubsub) and self.connection.sharded_pubsub()

    # -- bindings, consumers -----------------------------------------------------------

    def _bound_fanout(self, queue: str) -> str | None:
        """The fanout exchange ``queue`` is bound to in this connection's state, if any."""
        for key in list(self.state.queue_index.get(queue, ())):
            if self.typeof(key.exchange).type == 'fanout':
                return key.exchange
        return None

    def _note_unbind(self, exchange: str, queue: str) -> None:
        if self._fanout_queues.get(queue) == exchange:
            del self._fanout_queues[queue]
            self._consumed_fanout.discard(queue)

    def basic_consume(self, queue: str, no_ack: bool, *args: Any, **kwargs: Any) -> Any:
        exchange = self._bound_fanout(queue)
        if exchange is not None and self._sharded_fanout:
            self._fanout_queues[queue] = exchange
            self._consumed_fanout.add(queue)
        return super().basic_consume(queue, no_ack, *args, **kwargs)

    def basic_cancel(self, consumer_tag: str) -> Any:
        queue = self._tag_to_queue.get(consumer_tag)
        ret = super().basic_cancel(consumer_tag)
        if queue in self._consumed_fanout and queue not in self._active_queues:
            self._consumed_fanout.discard(queue)
            self._fanout_queues.pop(queue, None)
            self._unsubscribe_unused()
        return ret

    def close(self) -> None:
        try:
            super().close()
        finally:
            for node in list(self._subs):
                self._drop_sub(node)

    # -- publishing ------------------------------------------------------------------------

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str,
                    **kwargs: Any) -> None:
        if not self._sharded_fanout:
            return super()._put_fanout(  # type: ignore[misc,no-any-return]
                exchange, message, routing_key, **kwargs)
        with errors('publish', exchange):
            self.client.spublish(self.layout.fanout_channel(exchange), json.dumps(message))
        return None

    def _dropped_broadcast(self, message: Any) -> bool:
        """True for a pub/sub copy being restored: a broadcast is not stored."""
        tag = getattr(message, 'delivery_tag', None)
        if tag in self._broadcasts:
            self._broadcasts.discard(tag)
            return True
        return False

    def _unfetch(self, messages: list[Any]) -> None:
        kept: list[Any] = []
        dropped: list[Any] = []
        for message in messages:
            (dropped if self._dropped_broadcast(message) else kept).append(message)
        for message in dropped:
            self.qos.ack(message.delivery_tag)  # forgotten, as the others once put back
        super()._unfetch(kept)

    def _settle(self, tag: Any) -> None:
        self._broadcasts.discard(tag)
        super()._settle(tag)

    # -- subscribing (the poller calls these) ---------------------------------------------

    def _fanout_groups(self) -> dict[str, list[str]]:
        """The shard channels of the consumed fanout queues, grouped by owning master."""
        exchange_of = self._exchange_of
        exchange_of.clear()
        for queue in self._consumed_fanout:
            exchange = self._fanout_queues.get(queue)
            if exchange is not None:
                exchange_of[self.layout.fanout_channel(exchange)] = exchange
        client = self.client
        return group_by_node(sorted(exchange_of),
                             lambda name: client.get_node_from_key(name).name)

    def _subscription_on(self, node: str) -> NodeSubscription:
        sub = self._subs.get(node)
        if sub is not None:
            if sub.connection._sock is not None:
                return sub
            self._drop_sub(node)
        sub = self._subs[node] = NodeSubscription(self._node_connection(node))
        return sub

    def _ssubscribe(self, node: str, names: list[str]) -> None:
        sub = self._subs[node]
        try:
            for name in names:
                if name not in sub.channels:
                    # one per channel: a command of several would span slots
                    sub.connection.send_command('SSUBSCRIBE', name)
                    sub.channels.add(name)
        except errors.connection_errors:
            logger.debug('SSUBSCRIBE to %s failed', node, exc_info=True)
            self._drop_sub(node)
            self._slots_changed(moved=True)

    def _unsubscribe_unused(self) -> None:
        wanted = {name for names in self._fanout_groups().values() for name in names}
        for node, sub in list(self._subs.items()):
            unused = sub.channels - wanted
            if unused and not sub.channels & wanted:
                self._drop_sub(node)  # nothing left to hear there
                continue
            try:
                for name in unused:
                    sub.connection.send_command('SUNSUBSCRIBE', name)
                    sub.channels.discard(name)
            except errors.connection_errors:
                self._drop_sub(node)

    def _slisten_read(self, node: str, hand_over: bool = True) -> bool:
        """Read what ``node``'s subscription has; hold the copies, hand over one."""
        sub = self._subs.get(node)
        if sub is None:
            return False
        batches: list[tuple[str, list[Any]]] = []
        conn = sub.connection
        try:
            while True:
                reply = conn.read_response()
                sub.seen_at = monotonic()
                self._on_push(sub, reply, batches)
                if not conn.can_read(timeout=0):
                    break
        except REDIRECTS as exc:  # SSUBSCRIBE of a channel whose slot is elsewhere
            logger.debug('SSUBSCRIBE on %s redirected: %r', node, exc)
            self._drop_sub(node)
            self._slots_changed(moved=True)
        except errors.connection_errors:
            logger.debug('pub/sub connection to %s lost', node, exc_info=True)
            self._drop_sub(node)
            self._slots_changed(moved=True)
        return self._take_in(batches, hand_over) if batches else False

    def _drop_stale_subs(self, groups: dict[str, list[str]]) -> None:
        """Close the subscriptions of nodes that own none of our shard channels now."""
        for node in [n for n in self._subs if n not in groups]:
            self._drop_sub(node)

    def _check_subscriptions(self) -> None:
        """PING quiet subscriptions; give up those silent for three intervals."""
        interval = self.health_check_interval
        if not interval:
            return
        now = monotonic()
        for node, sub in list(self._subs.items()):
            quiet = now - sub.seen_at
            if quiet > 3 * interval and not has_reply(sub.connection):
                logger.warning('pub/sub connection to %s silent for %.0f s; reconnecting',
                               node, quiet)
                self._drop_sub(node)
                self._slots_changed(moved=True)
            elif quiet >= interval and now - sub.pinged_at >= interval:
                sub.pinged_at = now
                try:
                    sub.connection.send_command('PING')  # answered in pub/sub mode too
                except errors.connection_errors:
                    self._drop_sub(node)
                    self._slots_changed(moved=True)

    def _on_push(self, sub: NodeSubscription, reply: Any,
                 batches: list[tuple[str, list[Any]]]) -> None:
        if not isinstance(reply, list) or len(reply) < 3:
            return
        kind, name = reply[0], reply[1].decode()
        if kind == b'sunsubscribe':
            sub.channels.discard(name)
            if name in self._exchange_of:  # not ours: the slot moved away
                self._slots_changed(moved=True)
            return
        if kind != b'smessage':
            return  # a subscribe confirmation
        exchange = self._exchange_of.get(name)
        if exchange is None:
            return
        try:
            message = json.loads(reply[2])
        except ValueError:
            logger.warning('not a message on %r: %r', name, reply[2][:4096])
            return
        queues = [q for q in self._consumed_fanout if self._fanout_queues.get(q) == exchange]
        for i, queue in enumerate(queues):
            copy = message if i == 0 else self._copy_message(message)
            tag = (copy.get('properties') or {}).get('delivery_tag')
            if isinstance(tag, str):
                self._broadcasts.add(tag)
            batches.append((queue, [copy]))

    def _drop_sub(self, node: str) -> None:
        self._drop_node_connection(self._subs, node)
