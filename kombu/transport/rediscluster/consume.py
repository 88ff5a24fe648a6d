"""Consuming side of the Redis Cluster channel: batch pops, one BRPOP per node, batched acks.

What :class:`~.poller.ClusterPoller` asks of a channel (the names redis's
poller uses, with cluster meanings): ``_held``/``_deliver_held`` (messages of
a batch not handed over yet), ``_pop_and_deliver`` (one non-blocking batch
pop of every consumed queue, in one pipeline: a round trip per node),
``_consume_groups``/``_wait_on``/``_brpop_start``/``_brpop_read`` (the BRPOP
of each node's group, on a connection of its own).

A message BRPOP takes is not recorded as unacked until its reply is read (the
window redis:// has too); its record is written with the next batch of the
same queue, in one script run.  Acks of a consumer wait (``ack_batch_size``)
and go in the pipeline of the next pop round (in its queue's POP, or on their
own), before the poller blocks, when a consumer is cancelled and when the
channel closes: a crash meanwhile redelivers acked messages, it loses none.
A pop round takes no more than the prefetch limit allows: with fewer slots
than queues, the next queues in turn, one message each.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING, Any

from redis import exceptions as rexc
from redis.connection import Connection as RedisConnection

from kombu.transport import virtual
from kombu.transport.redis.poller import has_reply

from . import keys as K
from .errors import REDIRECTS, errors
from .poller import by_queue, group_by_node, interleave, next_turn

if TYPE_CHECKING:
    from kombu.transport.virtual.claims import SettlesFreshClaims

    class _ChannelBase(SettlesFreshClaims, virtual.Channel):
        client: Any
        layout: K.Layout
        _claimed_in: dict[str, str]
        _pop: Any
        _ack: Any
        acks: Any

        def writer(self) -> Any: ...

        def _sweep_if_due(self) -> None: ...
else:
    _ChannelBase = object

logger = logging.getLogger('kombu.transport.rediscluster')

_ABORT_ERRORS: tuple[type[BaseException], ...] = (
    *errors.connection_errors, rexc.ResponseError)

__all__ = ('ConsumeMixin', 'NodeWait')


@dataclass(eq=False)
class NodeWait:
    """A channel's blocking connection to one node, and the BRPOP in flight on it."""

    #: named as a redis-py client's, for the redis poller's socket registry.
    connection: Any
    client_id: Any
    #: the queue whose lists the BRPOP in flight waits on (None: no BRPOP sent).
    queue: str | None = None
    #: when the BRPOP in flight was sent, and its timeout.
    sent_at: float = 0.0
    timeout: float = 0.0


class ConsumeMixin(_ChannelBase):
    """Mixed into the Redis Cluster channel before ``virtual.Channel``."""

    #: most messages one pop takes (the prefetch limit bounds it too).
    consume_batch_size: int = 100
    #: acks waiting before they are sent on their own.
    ack_batch_size: int = 64
    #: BRPOP timeout (seconds) of a node whose group is one queue; a node
    #: owning several consumed queues waits ``polling_interval`` on each in turn.
    brpop_timeout: float = 1.0
    shared_brpop_timeout: float = 0.1
    #: seconds past its timeout a BRPOP may stay unanswered before its node is
    #: taken for gone (a partition or a stopped server sends no FIN); the poller
    #: then reconnects to the slot's owner, e.g. the replica promoted meanwhile.
    brpop_grace: float = 5.0
    _brpop_sent_at = None
    _closing = False
    #: fanout goes through copies in bound queues: nothing to LISTEN to.
    active_fanout_queues: frozenset[str] = frozenset()

    def _init_consume(self) -> None:
        #: node name -> the blocking connection of that node's group.
        self._waits: dict[str, NodeWait] = {}
        self._turns: dict[str, int] = {}
        self._sweep_turn = 0
        #: queue -> delivery tags acked but not yet dropped from its records.
        self._acks: dict[str, list[str]] = {}
        self._acks_lock = threading.Lock()  # acks may come from other threads

    @property
    def active_queues(self) -> list[str]:
        """The consumed queues read from their lists (pub/sub fanout queues excluded)."""
        fanout = self.active_fanout_queues
        queues = self._active_queues
        return [q for q in queues if q not in fanout] if fanout else queues

    @property
    def _held(self) -> Any:
        return self._prefetched

    @property
    def _in_poll(self) -> bool:
        return any(wait.queue is not None for wait in self._waits.values())

    @property
    def _cycle_of_connection(self) -> Any:
        return self.connection.cycle

    def maybe_refresh_binding_expiry(self) -> None:
        """Bindings never expire here (redis's poller calls it each round)."""

    def _pause_if_full(self) -> None:
        """A BRPOP reply that arrives while full is given back, not held (see _brpop_read)."""

    # -- consumers -----------------------------------------------------------------

    def basic_consume(self, queue: str, no_ack: bool, *args: Any, **kwargs: Any) -> Any:
        ret = super().basic_consume(queue, no_ack, *args, **kwargs)
        self._abort_waits()  # the node groups changed: wait on the new ones at once
        return ret

    def basic_cancel(self, consumer_tag: str) -> Any:
        ret = super().basic_cancel(consumer_tag)
        self._abort_waits()
        self._flush_acks_quietly()
        return ret

    def close(self) -> None:
        if self.closed:
            return
        self._closing = True
        try:
            super().close()  # cancels the consumers: their acks go, BRPOPs are taken back
        finally:
            for node in list(self._waits):
                self._drop_wait(node)

    # -- delivery ----------------------------------------------------------------------

    def _budget(self) -> int:
        estimate = self.qos.can_consume_max_estimate()
        cap = max(int(self.consume_batch_size or 1), 1)
        return cap if estimate is None else max(min(estimate, cap), 1)

    def _decode(self, item: bytes, queue: str, recorded: bool) -> Any:
        """A popped entry as an envelope; a recorded message's claim is noted."""
        try:
            message: Any = json.loads(item)
        except ValueError:  # not an envelope: the Message reports the DecodeError
            return item.decode('utf-8', 'replace')
        props = message.get('properties') if isinstance(message, dict) else None
        tag = props.get('delivery_tag') if isinstance(props, dict) else None
        if recorded and isinstance(tag, str):
            self._claimed_in[tag] = queue
            self._fresh_claims.append(tag)
        return message

    def _records(self, queue: str) -> bool:
        consumer = self._consumer_of.get(queue)
        return consumer is None or not consumer[0]  # no_ack consumers leave no record

    def _take_in(self, batches: list[tuple[str, list[Any]]], hand_over: bool) -> bool:
        """Hold popped batches (interleaved with what waits) and hand one over.

        Inside ``drain_events`` one message is handed over per call, and only
        if ``hand_over``; on the Hub every message goes at once.
        """
        qos = self.qos
        groups = []
        try:
            for queue, items in batches:
                recorded = self._records(queue)
                group = []
                for item in items:  # stored entries; a pub/sub copy comes decoded
                    raw = self._decode(item, queue, recorded) \
                        if item.__class__ is bytes else item
                    if self._expired_raw(queue, raw):
                        continue  # dead-lettered; its record is settled below
                    message = self._make_message(raw, queue)
                    qos.append(message, message.delivery_tag)
                    group.append((message, queue))
                groups.append(group)
            held = self._prefetched
            merged = interleave(by_queue(held) + groups)
            held.clear()
            held.extend(merged)
        finally:
            if self._fresh_claims:
                self._settle_fresh()
        if not held:
            return False
        if self._cycle_of_connection._in_protected_read:
            return hand_over and self._deliver_held()
        while held and self.connection is not None:
            self._deliver_held()
        return True

    def _deliver_held(self) -> bool:
        """Hand over the next held message (the prefetched branch of drain_events)."""
        if not self._prefetched:
            return False
        virtual.Channel.drain_events(self)
        return True

    # -- non-blocking batch pop ---------------------------------------------------------

    def _pop_args(self, queue: str, budget: int, held: list[bytes]) -> tuple[list, list]:
        layout = self.layout
        keys = [layout.unacked(queue), layout.unacked_index(queue), *layout.queue_keys(queue)]
        args = [time.time(), '1' if self._records(queue) else '0', budget, len(held), *held]
        return keys, args

    def _pop_and_deliver(self) -> bool:
        """Pop a share of the budget from every consumed queue in one pipeline."""
        queues = list(dict.fromkeys(self.active_queues))
        if not queues:
            return False
        self._sweep_turn = turn = (self._sweep_turn + 1) % len(queues)
        queues = queues[turn:] + queues[:turn]
        budget = self._budget()
        # fewer slots than queues (prefetch 1): the next ones in turn, one each, so
        # that no more is taken than the prefetch limit allows
        queues = queues[:budget]
        share = max(budget // len(queues), 1)
        replies, failed = self._round_trip(
            'receive', [(queue, *self._pop_args(queue, share, [])) for queue in queues])
        batches = [(queue, reply) for queue, reply in zip(queues, replies)
                   if reply and not isinstance(reply, Exception)]
        delivered = self._take_in(batches, hand_over=True) if batches else False
        if failed is not None and not delivered:
            with errors('receive'):
                raise failed
        return delivered

    def _round_trip(self, operation: str, pops: list[tuple[str, list, list]]
                    ) -> tuple[list[Any], BaseException | None]:
        """One pipeline (a round trip per node): the POPs of ``pops``, each with its
        queue's waiting acks, then the acks of every other queue.

        Returns the POP replies (an exception for one that failed) and the first
        error; the acks of a failed command wait for the next round.
        """
        with self._acks_lock:
            pending, self._acks = self._acks, {}
        if pending and self.writer() is not None:
            # WAIT must follow acks on their own connection: each queue's, not here
            for queue, tags in pending.items():
                self.acks.send(queue, tags)
            pending = {}
        layout = self.layout
        pipe = self.client.pipeline()
        sent: list[tuple[str, list[str]]] = []
        for queue, keys, args in pops:
            tags = pending.pop(queue, [])
            sent.append((queue, tags))
            pipe.execute_command('EVAL', K.POP, len(keys), *keys, *args, *tags,
                                 target_nodes=self._node_of(keys[0]))
        for queue, tags in pending.items():
            key = layout.unacked(queue)
            sent.append((queue, tags))
            pipe.execute_command('EVAL', K.ACK, 2, key, layout.unacked_index(queue), *tags,
                                 target_nodes=self._node_of(key))
        if not sent:
            return [], None
        try:
            with errors(operation):
                replies = pipe.execute(raise_on_error=False)
        except BaseException:
            for queue, tags in sent:
                self._return_acks(queue, tags)
            raise
        failed = None
        for (queue, tags), reply in zip(sent, replies):
            if isinstance(reply, Exception):
                self._return_acks(queue, tags)
                failed = failed or reply
        return replies[:len(pops)], failed

    def _node_of(self, key: str) -> Any:
        # Named for the pipeline: redis-py 8 would ask the server (COMMAND GETKEYS)
        # for the keys of every EVAL in it, a round trip each.
        return self.client.get_node_from_key(key)

    # -- one BRPOP per node ----------------------------------------------------------------

    def _consume_groups(self) -> dict[str, list[str]]:
        """The consumed queues grouped by the name of the node owning their slot."""
        client, layout = self.client, self.layout
        return group_by_node(
            self.active_queues,
            lambda queue: client.get_node_from_key(layout.queue_key(queue, 0)).name)

    def _wait_on(self, node: str) -> NodeWait:
        """The blocking connection of ``node`` (connected on first use)."""
        wait = self._waits.get(node)
        if wait is not None:
            if wait.connection._sock is not None:
                return wait
            self._drop_wait(node)
        conn = self._node_connection(node)
        try:
            conn.send_command('CLIENT', 'ID')  # for CLIENT UNBLOCK, when it is taken back
            if not conn.can_read(timeout=self.brpop_grace):  # accepted, never answered
                raise rexc.TimeoutError(f'{node} does not answer')
            client_id = conn.read_response()
        except BaseException:
            conn.disconnect()
            raise
        wait = self._waits[node] = NodeWait(conn, client_id)
        return wait

    def _node_connection(self, node: str) -> RedisConnection:
        """A connection of its own to ``node``, for the poller to wait on."""
        cluster_node = self.client.get_node(node_name=node)
        if cluster_node is None or cluster_node.redis_connection is None:
            raise rexc.ConnectionError(f'{node} is no longer a node of the cluster')
        kwargs = dict(cluster_node.redis_connection.connection_pool.connection_kwargs)
        kwargs['socket_timeout'] = None  # BRPOP waits; the poll decides how long
        conn = RedisConnection(**kwargs)
        conn.connect()
        return conn

    def _brpop_start(self, node: str, queues: list[str]) -> None:
        wait = self._waits[node]
        queue = next_turn(self._turns, node, queues)
        timeout = self.brpop_timeout
        if len(queues) > 1:  # the others of the group are swept between waits
            timeout = min(timeout, self.shared_brpop_timeout)
        try:
            wait.connection.send_command(*self._wait_command(queue, timeout))
        except errors.connection_errors:
            logger.debug('BRPOP to %s failed', node, exc_info=True)
            self._node_failed(node)
            return
        wait.queue, wait.sent_at, wait.timeout = queue, monotonic(), timeout

    def _drop_idle_waits(self, groups: dict[str, list[str]]) -> None:
        """Close the idle connections of nodes that own no consumed queue any more."""
        for node in [n for n, w in self._waits.items() if n not in groups and w.queue is None]:
            self._drop_wait(node)

    def _drop_silent_waits(self) -> None:
        """Give up the BRPOPs long overdue with nothing to read: their nodes are gone."""
        now = monotonic()
        for node, wait in list(self._waits.items()):
            if wait.queue is not None \
                    and now - wait.sent_at > wait.timeout + self.brpop_grace \
                    and not has_reply(wait.connection):
                logger.warning('BRPOP on %s got no reply for %.0f s; reconnecting',
                               node, now - wait.sent_at)
                self._node_failed(node)

    def _wait_command(self, queue: str, timeout: float) -> tuple[Any, ...]:
        """The blocking command of one wait on ``queue``.

        BRPOP takes the message it returns before it is recorded as unacked:
        if its reply is lost (the master killed, the connection dropped) the
        message is gone, so with ``replica_wait`` (durable mode) the wait is
        ``BLMOVE q0 q0 RIGHT RIGHT`` instead, which wakes on a message of the
        first priority step without moving it; the pop script then takes and
        records it.  Other steps are seen when the wait times out.
        """
        keys = self.layout.queue_keys(queue)
        if self.writer() is not None:
            return ('BLMOVE', keys[0], keys[0], 'RIGHT', 'RIGHT', timeout)
        return ('BRPOP', *keys, timeout)

    def _brpop_read(self, node: str, hand_over: bool = True) -> bool:
        """Read ``node``'s BRPOP reply: record its message, pop more, hold, hand over one."""
        wait = self._waits.get(node)
        if wait is None or wait.queue is None:
            return False
        queue, wait.queue = wait.queue, None
        try:
            reply = wait.connection.read_response()
        except REDIRECTS as exc:  # the slot moves or moved: the next round asks anew
            logger.debug('BRPOP on %s redirected: %r', node, exc)
            self._slots_changed(moved=isinstance(exc, rexc.MovedError))
            return False
        except errors.connection_errors:
            logger.debug('BRPOP connection to %s lost', node, exc_info=True)
            self._node_failed(node)
            return False
        except rexc.ResponseError as exc:
            with errors('receive', queue):
                raise exc
        if not reply:
            return False  # timed out
        if not isinstance(reply, list):  # BLMOVE woke us: the message is still queued
            if self._closing or queue not in self._active_queues or not self.qos.can_consume():
                return False
            share = max(self._budget() // max(len(self._waits), 1), 1)
            keys, args = self._pop_args(queue, share, [])
            with errors('receive', queue):
                more = self._pop(keys=keys, args=[*args, *self._take_acks(queue)])
            return self._take_in([(queue, more)], hand_over) if more else False
        key, item = reply
        if self._closing or queue not in self._active_queues or not self.qos.can_consume():
            self._rescue(key, item)  # nobody may take it now: back to the head
            return False
        share = max(self._budget() // max(len(self._waits), 1) - 1, 0)
        keys, args = self._pop_args(queue, share, [item])
        try:
            with errors('receive', queue):
                more = self._pop(keys=keys, args=[*args, *self._take_acks(queue)])
        except BaseException:
            self._rescue(key, item)
            raise
        return self._take_in([(queue, [item, *more])], hand_over)

    def _abort_waits(self) -> None:
        """Take back every BRPOP in flight; a message one took goes back to its queue."""
        for node, wait in list(self._waits.items()):
            if wait.queue is None:
                continue
            wait.queue = None
            try:
                target = self.client.get_node(node_name=node)
                if target is not None:
                    self.client.execute_command('CLIENT', 'UNBLOCK', wait.client_id,
                                                target_nodes=target)
                if not wait.connection.can_read(timeout=2):
                    raise rexc.TimeoutError('no reply to an unblocked BRPOP')
                reply = wait.connection.read_response()
            except _ABORT_ERRORS:
                # gone with its connection: a blocked client that disconnects pops nothing
                self._drop_wait(node)
                continue
            if isinstance(reply, list):  # a BRPOP's message (a BLMOVE takes none)
                self._rescue(*reply)

    def _rescue(self, key: bytes, item: bytes) -> None:
        try:
            self.client.rpush(key, item)
        except Exception:
            logger.critical('Could not give back message %r to %r', item, key, exc_info=True)

    def _drop_wait(self, node: str) -> None:
        self._drop_node_connection(self._waits, node)

    def _drop_node_connection(self, holders: dict[str, Any], node: str) -> None:
        """Forget ``holders[node]`` (a BRPOP or pub/sub connection): off the poll, closed."""
        holder = holders.pop(node, None)
        if holder is None:
            return
        if self.connection is not None:
            self._cycle_of_connection.forget(self, holder)
        holder.connection.disconnect()

    def _node_failed(self, node: str) -> None:
        """``node`` is unreachable (killed, failed over): forget it, learn the new owners."""
        self._drop_wait(node)
        self._slots_changed(moved=True)

    def _slots_changed(self, moved: bool) -> None:
        if self.connection is not None:
            self._cycle_of_connection.failed = True  # wait a polling interval, not spin
        if not moved:
            return
        try:
            self.client.nodes_manager.initialize()
        except Exception:  # the cluster is still electing: asked again next round
            logger.debug('slot map refresh failed', exc_info=True)

    # -- acks ------------------------------------------------------------------------------

    def _settle(self, tag: Any) -> None:
        queue = self._claimed_in.pop(tag, None)
        if queue is None:
            return
        if not self._consumers or self.closed:  # no consuming loop to carry it later
            self._ack_now(queue, [tag])
            return
        with self._acks_lock:
            tags = self._acks.setdefault(queue, [])
            tags.append(tag)
            full = len(tags) >= self.ack_batch_size
        if full:
            self._flush_acks()

    def _ack_now(self, queue: str, tags: list[str]) -> None:
        self.acks.send(queue, tags)

    def _take_acks(self, queue: str) -> list[str]:
        """The acks of ``queue`` to send with its next pop (none when they WAIT)."""
        if self.writer() is not None:
            return []  # WAIT must follow them on their own connection: _flush_acks
        with self._acks_lock:
            return self._acks.pop(queue, [])

    def _return_acks(self, queue: str, tags: list[str]) -> None:
        if tags:
            with self._acks_lock:
                self._acks.setdefault(queue, [])[:0] = tags

    def _flush_acks(self) -> None:
        """Send every waiting ack: one pipeline, a round trip per node."""
        _, failed = self._round_trip('ack', [])
        if failed is not None:
            with errors('ack'):
                raise failed

    def _flush_acks_quietly(self) -> None:
        try:
            self._flush_acks()
        except errors.connection_errors + errors.channel_errors:
            logger.warning('acks not sent yet (kept for the next try)', exc_info=True)
