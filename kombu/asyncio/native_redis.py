"""Native ``redis.asyncio`` I/O for the message path of the Redis transport.

Publish (LPUSH to the queue list of the message's priority step, routed by
the ``_kombu.binding.*`` tables), the atomic pop that records each message in
the ``unacked`` hash and ``unacked_index`` zset (the sync transport's own
POP_BATCH script) and acks (HDEL + ZREM, one batch at a time on a connection
of the client's kept for them) run on one ``redis.asyncio`` client:
the key layout and scripts are the sync transport's (``keys.py``), so sync
consumers, upstream Kombu and Celery share the queues.

What is rare or needs the sync transport's bookkeeping -- declares and
binds, fanout exchanges (PUB/SUB), queues with ``x-expires``, messages with
an ``expiration``, ``publish_replicas``, publishing to a queue that has (or
may have) ``x-`` arguments (message TTL, ``x-max-length``...), expired
messages met by a pop and rejects to a queue that may dead-letter (the sync
``_expired`` and ``_reject_message``), requeue/restore (the sync
``_restore_messages``, marking redelivered), the visibility-timeout sweep --
runs through the sync channel on the connection's worker thread.

The driver remembers the messages it handed out and nobody settled: closing
the channel gives them back, as the sync channel's QoS does for its own.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Iterable

from redis import exceptions as rexc

from kombu.transport.redis import keys as K
from kombu.transport.redis.errors import reraise
from kombu.transport.virtual import ttl
from kombu.transport.virtual.ttl import EXPIRES_AT

__all__ = ('RedisDriver', 'native_redis_for')

#: Connection parameters of the sync pool that ``redis.asyncio`` takes as they are.
_PLAIN_PARAMS = ('host', 'port', 'db', 'username', 'password', 'socket_timeout',
                 'socket_connect_timeout', 'socket_keepalive', 'health_check_interval',
                 'client_name')


def native_redis_for(channel: Any) -> RedisDriver | None:
    """A native driver for a sync Redis ``channel``, or None when it needs the adapter."""
    import redis
    import redis.asyncio
    params = channel._connparams()
    # TLS, unix sockets, Sentinel and key prefixes keep the sync client's handling.
    if params.get('connection_class') is not redis.Connection or channel.global_keyprefix:
        return None
    if not channel.ack_emulation:
        return None
    # Tasks beyond the sync option's max_connections wait for a connection
    # (redis-py's own pool raises MaxConnectionsError past its cap instead).
    pool = redis.asyncio.BlockingConnectionPool(
        max_connections=channel.max_connections or 10, timeout=None,
        **{k: params[k] for k in _PLAIN_PARAMS if params.get(k) is not None})
    client = redis.asyncio.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True  # closing the client disconnects the pool
    return RedisDriver(channel, client)


class RedisDriver:
    native = True
    #: a client of its own made from the sync channel's parameters: a
    #: recovery makes a new sync connection, then a new driver on it
    native_connection = False

    def __init__(self, channel: Any, client: Any) -> None:
        self.sync = channel
        self.client = client
        self._pop = client.register_script(K.POP_BATCH)
        self._tables: dict[str, tuple[int, float, list[tuple[str, ...]]]] = {}
        self._next_sweep = 0.0
        self._ack_batch: _AckBatch | None = None
        self._flushes: set[asyncio.Task] = set()
        self._ack_conn: Any = None
        self._ack_lock = asyncio.Lock()
        #: handed out, not settled: given back when the channel closes
        self._held: dict[str, Any] = {}

    # -- publish ---------------------------------------------------------------

    def can_publish(self, message: dict, exchange: str) -> bool:
        """True when the native path gives the same result as the sync one."""
        sync = self.sync
        if sync._expires or sync.publish_replicas or 'expiration' in message['properties']:
            return False
        if not exchange:
            return True
        decl = sync.state.exchanges.get(exchange)
        # declared here (so typeof needs no I/O) and keyed (direct/topic)
        return decl is not None and sync.exchange_types[decl['type']] in sync._keyed_types

    async def queues_for(self, exchange: str, routing_key: str) -> list[str]:
        if not exchange:
            return [routing_key] if routing_key else []
        sync = self.sync
        cached = self._tables.get(exchange)
        epoch, now = K.binding_epoch[0], time.monotonic()
        # as the sync channel: re-read after binding_cache_ttl, or at once
        # after a bind/unbind in this process
        if cached is None or cached[0] != epoch or now >= cached[1]:
            members = await self.client.smembers(sync.keyprefix_queue % exchange)
            cached = (epoch, now + sync.binding_cache_ttl,
                      [K.parse_binding(v, sync.sep) for v in members])
            self._tables[exchange] = cached
        return list(sync.typeof(exchange).lookup(cached[2], exchange, routing_key, None) or ())

    async def publish(self, message: dict, exchange: str, routing_key: str) -> bool:
        """Deliver natively; False when nothing is bound (the sync path decides then).

        Once: ``publish(retry=True)`` retries, reconnecting (see
        :mod:`kombu.asyncio.republish`).
        """
        try:
            return await self._publish(message, exchange, routing_key)
        except (rexc.ConnectionError, rexc.TimeoutError) as exc:
            reraise(exc, 'LPUSH')

    async def _publish(self, message: dict, exchange: str, routing_key: str) -> bool:
        queues = await self.queues_for(exchange, routing_key)
        if not queues:
            self._tables.pop(exchange, None)  # a binding made since: read again next time
            return False
        if any(self.may_have_policy(queue) for queue in queues):
            return False  # expiry stamps, x-max-length: the sync _put_message
        sync = self.sync
        sync._inplace_augment_message(message, exchange, routing_key)
        priority = sync._get_message_priority(message, reverse=False)
        body = K.dumps(message)
        if len(queues) == 1:
            await self.client.lpush(sync._qkey(queues[0], priority), body)
        else:
            async with self.client.pipeline(transaction=False) as pipe:
                for queue in queues:
                    pipe.lpush(sync._qkey(queue, priority), body)
                await pipe.execute()
        return True

    def may_have_policy(self, queue: str) -> bool:
        """False only when ``queue`` is known to have no ``x-`` arguments.

        Reads what the sync channel knows without I/O; an unknown queue goes
        the sync way once, which loads (and caches) its stored arguments.
        """
        sync = self.sync
        if sync.connection.state.policies.get(queue) is not None:
            return True
        cached = sync._loaded_policies.get(queue)
        return cached is None or time.monotonic() >= cached[0] or cached[1] is not None

    # -- consume ---------------------------------------------------------------

    def can_consume(self, queues: Iterable[Any]) -> bool:
        from .messaging import pushed_only
        return not pushed_only(self.sync, list(queues))  # the sync consumer subscribes

    async def pop(self, queues: list[str], budget: int, no_ack: bool,
                  accept: Any = None, prefetch: int | None = None,
                  channel: Any = None, owner: Any = None) -> list[Any]:
        """Atomically pop up to ``budget`` messages, recorded as unacked unless no_ack.

        Expired ones are dead-lettered and dropped (by the sync code, on
        ``channel``'s runner) instead of handed out.
        """
        while True:
            out, expired = await self._pop_once(queues, budget, no_ack, accept,
                                                channel is not None)
            if expired:
                await channel.run(self._drop_expired, expired, not no_ack)
            if out or not expired:  # all expired: the next ones may be live
                return out

    async def _pop_once(self, queues: list[str], budget: int, no_ack: bool, accept: Any,
                        drop_expired: bool) -> tuple[list[Any], list[tuple[str, dict]]]:
        sync = self.sync
        keys = [sync._unacked, sync._unacked_index, *sync._consume_keys(queues)]
        args: list[Any] = [repr(time.time()), budget, len(queues), sync._pop_order]
        args += ['0' if no_ack else '1'] * len(queues)
        try:
            flat = await self._pop(keys=keys, args=args)
        except (rexc.ConnectionError, rexc.TimeoutError) as exc:
            reraise(exc, 'pop')
        out = []
        expired = []
        now = ttl.clock()
        for i in range(0, len(flat), 2):
            payload = K.loads(flat[i + 1])
            queue = queues[int(flat[i]) - 1]
            deadline = payload['properties'].get(EXPIRES_AT)
            if drop_expired and deadline is not None and now >= deadline:
                expired.append((queue, payload))
                continue
            message = sync.Message(payload=payload, channel=sync)
            message._source_queue = queue
            message.accept = accept
            if not no_ack:
                self._held[message.delivery_tag] = message
            out.append(message)
        return out, expired

    def _drop_expired(self, expired: list[tuple[str, dict]], recorded: bool) -> None:
        # worker thread: dead-letter (the sync _expired), then forget the unacked entry
        for queue, payload in expired:
            self.sync._expired(queue, payload)
        if recorded:
            self.sync._remove_unacked([p['properties']['delivery_tag'] for _, p in expired])

    async def ack(self, tags: Iterable[str]) -> None:
        """Drop ``tags`` from the unacked hash and index; returns once Redis did.

        Acks made in the same event-loop turn (tasks acking concurrently)
        share one round trip, sent by a task of its own: a cancelled acker
        neither stops it nor fails the others waiting on it.
        """
        loop = asyncio.get_running_loop()
        batch = self._ack_batch
        if batch is None:
            # the task's first step runs after the callbacks ready now:
            # acks made meanwhile join this batch
            batch = self._ack_batch = _AckBatch()
            task = loop.create_task(self._flush(batch))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        tags = list(tags)
        settled = {tag: self._held.pop(tag) for tag in tags if tag in self._held}
        batch.tags.extend(tags)
        waiter = loop.create_future()
        batch.waiters.append(waiter)
        try:
            await waiter
        except Exception:
            # not acked: given back with the rest (held longest: first)
            self._held = {**settled, **self._held}
            raise

    async def _flush(self, batch: _AckBatch) -> None:
        async with self._ack_lock:  # one flush at a time, on one connection
            if self._ack_batch is batch:
                self._ack_batch = None  # later acks start the next batch
            await self._flush_locked(batch)

    async def _flush_locked(self, batch: _AckBatch) -> None:
        try:
            try:
                await self._forget(batch.tags)
            except (rexc.ConnectionError, rexc.TimeoutError):
                # once more on a new connection (a killed client; idempotent):
                # an ack lost with the connection brings its message back
                await self._forget(batch.tags)
        except (rexc.ConnectionError, rexc.TimeoutError) as exc:
            try:
                reraise(exc, 'ack')
            except Exception as translated:
                batch.settle(translated)
        except BaseException as exc:
            batch.settle(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            batch.settle(None)

    async def _forget(self, tags: list[str]) -> None:
        # HDEL + ZREM sent together on a connection kept for acks (acks made
        # while a flush is in flight join the next batch): no pool checkout
        # or pipeline object per ack
        sync = self.sync
        conn = self._ack_conn
        if conn is None:
            conn = self._ack_conn = self.client.connection_pool.make_connection()
        try:
            await conn.connect()  # nothing to do while connected
            await conn.send_packed_command(conn.pack_commands(
                [('HDEL', sync._unacked, *tags), ('ZREM', sync._unacked_index, *tags)]))
            await conn.read_response()
            await conn.read_response()
        except BaseException:
            await conn.disconnect()  # a reply may be left unread on it
            raise

    async def reject(self, messages: list[Any], channel: Any) -> None:
        """Drop ``messages``; those of a queue that may dead-letter go there first."""
        routed = [m for m in messages if self.may_have_policy(m._source_queue)]
        if routed:
            await channel.run(self._dead_letter_rejected, routed)
        await self.ack(m.delivery_tag for m in messages)

    def _dead_letter_rejected(self, messages: list[Any]) -> None:
        for message in messages:  # worker thread: the sync reject's dead-lettering
            self.sync._reject_message(message)

    async def cancel(self, channel: Any, owner: Any = None) -> None:
        return None  # nothing is pushed: a consumer that stops popping is done

    async def requeue(self, messages: list[Any], channel: Any) -> None:
        """Give ``messages`` back, each to the head of its queue."""
        await channel.run(self.restore, self._take_newest_first(messages))

    def _take_newest_first(self, messages: list[Any]) -> list[Any]:
        # newest first, so that they are consumed again in the order they were received
        order = {tag: n for n, tag in enumerate(self._held)}
        messages = sorted(messages, key=lambda m: order.get(m.delivery_tag, -1), reverse=True)
        for message in messages:
            self._held.pop(message.delivery_tag, None)
        return messages

    async def abandon(self, channel: Any) -> None:
        """After a recovery gave ``channel`` a new connection and driver: what
        this one handed out and nobody settled goes back to its queue through
        the new one (marked redelivered; on another server after a failover
        there is nothing to restore: the old server's visibility timeout
        does), then this client is closed."""
        held = self._take_newest_first(list(self._held.values()))
        restore = getattr(channel.channel, '_restore_messages', None)  # still Redis?
        if held and restore is not None:
            await channel.run(restore, held)
        await self._close_client()

    async def maintain(self, channel: Any, held: Iterable[Any]) -> None:
        """Every quarter visibility timeout: renew the leases of the messages
        we hold, and restore other consumers' overdue ones (the sync sweep)."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + max(self.sync.visibility_timeout / 4, 1.0)
        await self.renew(m.delivery_tag for m in held)
        await channel.run(self.restore_visible)

    async def renew(self, tags: Iterable[str]) -> None:
        """Extend the leases of messages still being worked on (no visibility restore)."""
        now = time.time()
        tags = list(tags)
        if tags:
            await self.client.zadd(self.sync._unacked_index, dict.fromkeys(tags, now), xx=True)

    def restore(self, messages: list[Any]) -> int:
        """Give ``messages`` back to their queues (sync code: runs on the worker thread)."""
        return int(self.sync._restore_messages(messages))

    def restore_visible(self) -> Any:
        """The visibility-timeout sweep of the sync QoS (worker thread)."""
        return self.sync.qos.restore_visible()

    async def close(self, channel: Any) -> None:
        """Give back what was handed out and not settled, then close the client."""
        if self._held:
            await self.requeue(list(self._held.values()), channel)
        await self._close_client()

    async def _close_client(self) -> None:
        # redis-py 5.0.1 renamed close() to aclose()
        close = getattr(self.client, 'aclose', None) or self.client.close
        try:
            if self._ack_conn is not None:
                await self._ack_conn.disconnect()
            await close()
        except (rexc.ConnectionError, rexc.TimeoutError, OSError):
            pass  # already gone


class _AckBatch:
    """Tags acked in one event-loop turn, and the ackers waiting for Redis."""

    __slots__ = ('tags', 'waiters')

    def __init__(self) -> None:
        self.tags: list[str] = []
        self.waiters: list[asyncio.Future] = []

    def settle(self, exc: BaseException | None) -> None:
        for waiter in self.waiters:
            if waiter.done():  # its acker was cancelled
                continue
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)
