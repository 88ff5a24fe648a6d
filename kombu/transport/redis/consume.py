"""Consuming side of the Redis channel: batch pops, BRPOP and fanout LISTEN."""
from __future__ import annotations

import logging
from collections import deque
from queue import Empty
from time import monotonic, time
from typing import TYPE_CHECKING, Any

import redis
from redis import exceptions as rexc
from redis.connection import AbstractConnection
from vine import promise

from kombu.exceptions import LimitExceeded
from kombu.transport.virtual.ttl import EXPIRES_AT
from kombu.utils.scheduling import priority_cycle

from . import keys as K
from .errors import reraise
from .qos import QoS as RedisQoS

logger = logging.getLogger('kombu.transport.redis')


if TYPE_CHECKING:
    from kombu.transport.virtual import Channel as _VirtualChannel

    from .contracts import ConsumeHost

    class _ChannelBase(_VirtualChannel, ConsumeHost):
        """Checked as part of the virtual channel, with what it needs of Redis's."""
else:
    _ChannelBase = object  # the Redis channel supplies the rest


class ConsumeMixin(_ChannelBase):
    """Mixed into :class:`~kombu.transport.redis.Channel`."""

    #: the connection whose BRPOP (LISTEN) reply is awaited; False/None: none.
    _in_poll: AbstractConnection | bool | None = False
    _in_listen: AbstractConnection | bool | None = False
    _brpop_sent_at: float | None = None
    #: when the PUB/SUB connection last gave us anything (a message, a pong)
    _listen_seen_at = 0.0
    _brpop_id: tuple[Any, Any] = (None, None)
    #: popped (and recorded as unacked) but not handed over yet: drain_events
    #: delivers one message per call, the rest of a batch waits here.
    _held: deque[tuple[str, dict]]

    @property
    def _pop_order(self) -> str:
        # 'priority'/'sorted' cycles never rotate: drain queues in order
        return 'seq' if isinstance(self._queue_cycle, priority_cycle) else 'rr'

    # -- consumers ---------------------------------------------------------------

    def basic_consume(self, queue: str, no_ack: bool, *args: Any, **kwargs: Any) -> Any:
        if queue in self._fanout_queues:
            exchange, _ = self._fanout_queues[queue]
            self.active_fanout_queues.add(queue)
            self._fanout_to_queue[exchange] = queue
            for topic in self._get_subscribe_topics(queue):
                queues = self._topic_queues.setdefault(topic, [])
                if queue not in queues:
                    queues.append(queue)
        self._queue_policy(queue)  # x-expires declared elsewhere: touched while consumed
        if no_ack:
            self._no_ack_queues.add(queue)
        else:
            self._no_ack_queues.discard(queue)
        ret = super().basic_consume(queue, no_ack, *args, **kwargs)
        self._update_queue_cycle()
        return ret

    def basic_cancel(self, consumer_tag: str) -> Any:
        # a message may be read for this consumer while reading: cancel after
        # the read completes (celery/celery#1773)
        connection = self.connection
        if connection:
            if connection.cycle._in_protected_read:
                return connection.cycle.after_read.add(
                    promise(self._basic_cancel, (consumer_tag,)))
            return self._basic_cancel(consumer_tag)
        return None

    def _basic_cancel(self, consumer_tag: str) -> Any:
        queue = self._tag_to_queue.get(consumer_tag)
        if queue is None:
            return None
        if queue in self.active_fanout_queues:
            self.active_fanout_queues.discard(queue)
            self._unsubscribe_from(queue)
        fanout = self._fanout_queues.get(queue)
        if fanout is not None and self._fanout_to_queue.get(fanout[0]) == queue:
            self._fanout_to_queue.pop(fanout[0], None)
            for other in self.active_fanout_queues:
                if self._fanout_queues.get(other, (None,))[0] == fanout[0]:
                    self._fanout_to_queue[fanout[0]] = other
        self._no_ack_queues.discard(queue)
        ret = super().basic_cancel(consumer_tag)
        self._update_queue_cycle()
        try:
            self._give_back_held(queue)
        except (*self.connection_errors, LimitExceeded):  # type: ignore[misc]  # kept unacked: restored later
            logger.warning('could not give back held messages of %r', queue, exc_info=True)
        if self._in_poll:
            try:  # it may pop from the cancelled queue: take it back
                self._abort_brpop()
            except self.connection_errors:
                logger.debug('BRPOP in flight lost with its connection', exc_info=True)
        return ret

    # -- batch pop -----------------------------------------------------------------

    def _budget(self) -> int:
        est = self.qos.can_consume_max_estimate()
        cap = max(int(self.consume_batch_size or 1), 1)
        return cap if est is None else max(min(est, cap), 1)

    def _pop(self, queues: list[str], budget: int, record: list[bool],
             acks: list[str] | None = None) -> list[tuple[str, dict]]:
        """Atomically pop up to ``budget`` messages (priority, then round robin)."""
        keys = [self._unacked, self._unacked_index, *self._consume_keys(queues)]
        args: list[Any] = [repr(time()), budget, len(queues), self._pop_order]
        args += ['1' if r else '0' for r in record]
        if acks:
            args += acks
        try:
            flat = self._script('pop', keys, args)
        except BaseException:
            self._acks_unconfirmed(acks or [])  # sent again on reconnect
            raise
        return [(queues[int(flat[i]) - 1], K.loads(flat[i + 1]))
                for i in range(0, len(flat), 2)]

    def _mark_recorded(self, payload: dict) -> None:
        qos = self.qos
        if not isinstance(qos, RedisQoS):
            return  # no ack emulation: nothing recorded
        try:
            qos._recorded.add(payload['properties']['delivery_tag'])
        except (KeyError, TypeError):
            pass

    def _drop_unclaimed(self) -> None:
        """Forget recorded deliveries nobody appended (dropped, expired...)."""
        qos = self._qos
        recorded = qos._recorded if isinstance(qos, RedisQoS) else None
        if recorded:
            tags = list(recorded)
            recorded.clear()
            self._remove_unacked(tags)

    def _pop_and_deliver(self) -> bool:
        active = self.active_queues
        queues = self._queue_cycle.consume(len(active))
        if not queues:
            return False
        record = [self.ack_emulation and q not in self._no_ack_queues for q in queues]
        qos = self.qos
        acks = qos.take_acks() if isinstance(qos, RedisQoS) else None
        items = self._pop(queues, self._budget(), record, acks)
        self._touch_expires(queues)
        if not items:
            return False
        self._deliver_batch(items)
        return True

    def _deliver_held(self) -> bool:
        """Hand over the next held message (drain_events: one per call)."""
        held = self._held
        active = self._active_queues
        while held:
            item = held.popleft()
            if item[0] not in active:  # its consumer went meanwhile
                self._give_back([item])
            else:
                try:
                    if self._deliver_batch([item]):
                        return True
                except BaseException:
                    self._give_back_held()  # as for a batch: the rest back at the head
                    raise
        return False

    def _give_back_held(self, queue: str | None = None) -> None:
        """Put held messages (of ``queue``, or all) back at the head of their queues."""
        held = self._held
        if not held:
            return
        back = [item for item in held if queue is None or item[0] == queue]
        kept = [item for item in held if queue is not None and item[0] != queue]
        held.clear()
        held.extend(kept)
        self._give_back(back)
        qos = self.qos
        if not held and isinstance(qos, RedisQoS):
            qos.flush_acks()  # acks waited for the held messages; nothing to carry them now

    def _deliver_batch(self, items: list[tuple[str, dict]]) -> bool:
        """Hand over ``items`` (one of them inside drain_events); True if any was."""
        # Inside drain_events (the poller's protected read) one message is
        # handed over per call; on the Hub the whole batch goes at once.
        one = self.connection.cycle._in_protected_read
        vqos = self.qos
        # without ack emulation (plain virtual QoS): no acks to buffer, nothing recorded
        qos = vqos if isinstance(vqos, RedisQoS) else None
        if qos is not None:
            qos._buffer_acks += 1
        done = 0
        delivered = False
        try:
            deliver = self.connection._deliver
            for queue, payload in items:
                done += 1
                self._queue_cycle.rotate(queue)
                record = qos is not None and self.ack_emulation \
                    and queue not in self._no_ack_queues
                if EXPIRES_AT in payload['properties'] and self._expired(queue, payload):
                    # dead-lettered: marked so that _drop_unclaimed (below) removes its
                    # unacked entry, else a later restore would bring it back
                    if record:
                        self._mark_recorded(payload)
                    continue
                if record:
                    self._mark_recorded(payload)
                deliver(payload, queue)
                delivered = True
                if one and done < len(items):
                    self._held.extend(items[done:])
                    break
        except BaseException:
            # a callback failed: messages popped but not handed out go back
            # to the head of their queues instead of being lost
            if qos is not None:
                qos.flush_acks()
            self._give_back(items[done:])  # waits, so the acks are applied too
            raise
        finally:
            if qos is not None:
                qos._buffer_acks -= 1
                # acks wait while held messages remain: sent with the last one's
                # delivery (or carried by the next pop), one write per batch
                if not qos._buffer_acks and not self._held:
                    qos.flush_acks()  # sent now, replies read on the next trip
            self._drop_unclaimed()
        return delivered

    def _give_back(self, items: list[tuple[str, dict]]) -> None:
        if not items:
            return
        commands: list[tuple] = []
        tags = []
        for queue, payload in reversed(items):  # the first ends up at the head
            tags.append((payload.get('properties') or {}).get('delivery_tag'))
            commands.append(('RPUSH', self._qkey(
                queue, self._get_message_priority(payload, reverse=False)), K.dumps(payload)))
        replies = self._execute_many(commands)
        # Only a message pushed back leaves the unacked hash: one Redis refused
        # (OOM) stays recorded there, so restore brings it back later.
        back = [tag for tag, r in zip(tags, replies)
                if tag is not None and not isinstance(r, Exception)]
        if back and self.ack_emulation:
            self._run([('HDEL', self._unacked, *back), ('ZREM', self._unacked_index, *back)])
        for r in replies:
            if isinstance(r, rexc.ResponseError):
                self._refused(r, 'RPUSH')
            if isinstance(r, Exception):
                raise r

    # -- BRPOP -------------------------------------------------------------------------

    def _brpop_start(self, timeout: float | None = None) -> None:
        if timeout is None:
            timeout = self.brpop_timeout
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return
        keys = self._consume_keys(queues)
        conn = _pinned(self.client)
        try:
            if self._brpop_id[0] is not conn:
                # remembered so close() can cut a waiting BRPOP short (CLIENT UNBLOCK)
                conn.send_command('CLIENT', 'ID')
                self._brpop_id = (conn, conn.read_response())
            self._in_poll = conn
            self._brpop_sent_at = monotonic()
            conn.send_command('BRPOP', *keys, timeout or 0)
        except self.connection_errors as exc:
            self._in_poll = None
            reraise(exc, 'BRPOP')

    def _brpop_reply(self) -> tuple[str, dict]:
        """Read the reply of the BRPOP in flight: (queue, payload), or Empty."""
        conn = _pinned(self.client)
        try:
            try:
                reply = conn.read_response()
            except self.connection_errors as exc:
                conn.disconnect()
                reraise(exc, 'BRPOP')
        finally:
            self._in_poll = None
            self._brpop_sent_at = None
        if not reply:
            raise Empty()
        key, item = reply
        key = key.decode() if isinstance(key, bytes) else key
        return K.queue_from_key(key[len(self.global_keyprefix):], self.sep), K.loads(item)

    def _brpop_read(self, **options: Any) -> bool:
        queue, payload = self._brpop_reply()
        if self._closing or not self.connection or queue not in self._active_queues \
                or not self.qos.can_consume():
            # nobody may take it now (cancelled, closing, paused): back to the head
            self._rescue(queue, payload)
            return False
        items = [(queue, payload)]
        record = self.ack_emulation and queue not in self._no_ack_queues
        try:
            items += self._record_and_pop_more(payload, record)
        except BaseException:
            self._rescue(queue, payload)
            raise
        self._deliver_batch(items)
        return True

    def _abort_brpop(self) -> None:
        """Take back the BRPOP in flight (cancel, close, pause).

        It is unblocked and its reply read; a message it popped meanwhile goes
        back to the head of its queue, so that nothing is lost or held by a
        consumer that may not take it.
        """
        if not self._in_poll:
            return
        conn, client_id = self._brpop_id
        if conn is self._in_poll and client_id is not None and not self._teardown_failed:
            try:
                self._execute('CLIENT', 'UNBLOCK', client_id)
            except self.connection_errors:
                pass
        if self._closing and self._teardown_failed:
            # the peer stopped answering (just now, or before): do not wait for it
            self._drop_brpop()
            return
        try:
            queue, payload = self._brpop_reply()
        except Empty:
            return
        self._rescue(queue, payload)

    def _drop_brpop(self) -> None:
        """Forget the BRPOP in flight without reading it (its peer is gone).

        A message it may have popped stays out of its queue: it was popped by
        a connection Redis still believes alive, which no client can read.
        """
        conn, self._in_poll, self._brpop_sent_at = self._in_poll, None, None
        if conn and not isinstance(conn, bool):
            conn.disconnect()

    def _listen_half_open(self) -> bool:
        """The PUB/SUB connection missed its pongs and has nothing to read."""
        conn, interval = self._in_listen, self.health_check_interval
        if not interval or not conn or isinstance(conn, bool):
            return False
        silent_for = monotonic() - self._listen_seen_at
        if silent_for <= interval * (K.SUBCLIENT_MAX_MISSED_HEALTH_CHECKS + 1):
            return False
        try:
            return not conn.can_read(timeout=0)
        except self.connection_errors:
            return True

    def _drop_half_open(self, conn: AbstractConnection | bool | None) -> None:
        """Drop ``conn`` (BRPOP or LISTEN) whose peer went silent; resume on a new one.

        The channel's other connections go too (commands, the pool): they lead
        to the same peer, and a command on one would wait for that peer as
        long (no socket timeout by default).  Acks whose replies it held are sent again on
        the next connection.
        """
        if conn is self._in_poll:
            self._in_poll, self._brpop_sent_at = None, None
        if conn is self._in_listen:
            self._in_listen = None
        if conn and not isinstance(conn, bool):
            conn.disconnect()  # on the Hub this also removes its reader
        if self._hot_lock.acquire(blocking=False):  # not while another thread uses it
            try:
                if self._hot is not None:
                    self._hot.disconnect()
            finally:
                self._hot_lock.release()
        if self._pool is not None:  # the visibility sweep's and the lease thread's
            self._pool.disconnect()

    def _pause_if_full(self) -> None:
        """At the prefetch limit: hold no BRPOP that would pop for us."""
        if self._in_poll and not self.qos.can_consume():
            self._abort_brpop()

    def _rescue(self, queue: str, payload: dict) -> None:
        """BRPOP took ``payload`` but it could not be recorded: put it back."""
        try:
            self._give_back([(queue, payload)])
        except Exception:
            logger.critical('Could not give back message %r to queue %r',
                            payload, queue, exc_info=True)

    def _record_and_pop_more(self, payload: dict, record: bool) -> list[tuple[str, dict]]:
        """Record the BRPOP'd message and fetch more, in one round trip."""
        commands: list[tuple] = []
        if record:
            props = payload.get('properties') or {}
            info = props.get('delivery_info') or {}
            tag = props.get('delivery_tag')
            if tag is not None:
                commands += self._record_commands(
                    tag, payload, info.get('exchange') or '', info.get('routing_key') or '')
        extra = self._budget() - 1
        queues: list[str] = []
        if extra > 0:
            queues = list(self._queue_cycle.consume(len(self.active_queues)))
        if queues:
            keys = [self._unacked, self._unacked_index, *self._consume_keys(queues)]
            flags = ['1' if self.ack_emulation and q not in self._no_ack_queues else '0'
                     for q in queues]
            commands.append(self._script_cmd(
                'pop', keys, [repr(time()), extra, len(queues), self._pop_order, *flags]))
        if not commands:
            return []
        replies = self._run(commands)
        if not queues:
            return []
        flat = replies[-1]
        return [(queues[int(flat[i]) - 1], K.loads(flat[i + 1]))
                for i in range(0, len(flat), 2)]

    def _poll_error(self, type: str, **options: Any) -> None:
        if type == 'LISTEN':
            self.subclient.parse_response()
        else:
            _pinned(self.client).read_response()

    # -- fanout over PUB/SUB ----------------------------------------------------------

    def _get_publish_topic(self, exchange: str, routing_key: str) -> str:
        return K.fanout_topic(self.keyprefix_fanout, exchange, routing_key, self.fanout_patterns)

    def _get_publish_topics(self, exchange: str, routing_key: str) -> list[str]:
        return [self._get_publish_topic(exchange, routing_key)]

    def _get_subscribe_topic(self, queue: str) -> str:
        exchange, routing_key = self._fanout_queues[queue]
        return self._get_publish_topic(exchange, routing_key)

    def _get_subscribe_topics(self, queue: str) -> list[str]:
        exchange, routing_key = self._fanout_queues[queue]
        return self._get_publish_topics(exchange, routing_key)

    def _subscribe(self) -> None:
        topics = [t for q in self.active_fanout_queues for t in self._get_subscribe_topics(q)]
        if not topics:
            return
        c = self.subclient
        conn = _pinned(c)
        if conn._sock is None:
            conn.connect()
        self._in_listen = conn
        self._listen_seen_at = monotonic()
        c.psubscribe(*topics)

    def _unsubscribe_from(self, queue: str) -> None:
        topics = []
        for topic in self._get_subscribe_topics(queue):
            queues = self._topic_queues.get(topic, [])
            if queue in queues:
                queues.remove(queue)
            if not queues:  # still wanted by another queue of this channel?
                self._topic_queues.pop(topic, None)
                topics.append(topic)
        if not topics:
            return
        c = self.subclient
        if c.connection and c.connection._sock:
            c.punsubscribe(topics)

    def _handle_message(self, client: Any, r: Any) -> dict:
        message_type = r[0].decode() if isinstance(r[0], bytes) else r[0]
        if message_type == 'pmessage':
            pattern, channel, data = r[1], r[2], r[3]
        else:
            pattern, channel, data = None, r[1], r[2]
        if message_type in ('unsubscribe', 'punsubscribe'):
            client.handle_message(r)
        return {'type': r[0], 'pattern': pattern, 'channel': channel, 'data': data}

    def _receive(self) -> bool:
        c = self.subclient
        ret = []
        try:
            ret.append(self._receive_one(c))
        except Empty:
            pass
        while c.connection is not None and c.connection.can_read(timeout=0):
            ret.append(self._receive_one(c))
        return any(ret)

    def _receive_one(self, c: Any) -> Any:
        try:
            response = c.parse_response()
        except self.connection_errors as exc:
            self._in_listen = None
            reraise(exc, 'LISTEN')
        self._listen_seen_at = monotonic()
        if not isinstance(response, (list, tuple)):
            return None
        payload = self._handle_message(c, response)
        kind = payload['type']
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if not kind.endswith('message') or not payload['data']:
            return None
        channel = payload['channel']
        channel = channel.decode() if isinstance(channel, bytes) else channel
        if channel[0] == '/':
            _, _, channel = channel.partition('.')
        try:
            message = K.loads(payload['data'])
        except (TypeError, ValueError):
            logger.warning('Cannot process event on channel %r: %s',
                           channel, repr(payload)[:4096], exc_info=True)
            raise Empty() from None
        if self._fanout_seen_before(message):
            return None
        pattern = payload['pattern']
        if pattern is not None:
            pattern = pattern.decode() if isinstance(pattern, bytes) else pattern
            queues = self._topic_queues.get(pattern)
            if queues:
                return self._deliver_fanout_copies(message, list(queues))
        return self._deliver_fanout_message(message, channel.split('/', 1)[0])

    def _fanout_seen_before(self, message: dict) -> bool:
        """True for a copy already delivered (a message published on two topics)."""
        return False

    def _deliver_fanout_copies(self, message: dict, queues: list[str]) -> bool:
        """One copy per subscribed queue, each with its own delivery tag."""
        deliver = self.connection._deliver
        for i, queue in enumerate(queues):
            deliver(message if i == 0 else self._copy_message(message), queue)
        return True

    def _deliver_fanout_message(self, message: dict, exchange: str) -> bool:
        queue = self._fanout_to_queue.get(exchange)
        if queue is None:
            return False
        self.connection._deliver(message, queue)
        return True


def _pinned(client: redis.Redis | redis.client.PubSub) -> AbstractConnection:
    """The connection the poller pinned to ``client`` (BRPOP or LISTEN)."""
    conn = client.connection
    if conn is None:  # closed meanwhile: as a lost connection, for the retry logic
        raise rexc.ConnectionError('Redis channel connection is closed')
    return conn
