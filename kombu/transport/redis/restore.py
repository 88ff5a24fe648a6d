"""Unacked bookkeeping and exactly-once restore, mixed into the channel."""
from __future__ import annotations

import copy
import logging
from time import time
from typing import TYPE_CHECKING, Any, Iterable

from . import keys as K
from .qos import QoS as RedisQoS

logger = logging.getLogger('kombu.transport.redis')


def mark_redelivered(payload: dict) -> dict:
    payload = copy.copy(payload)
    headers = payload.get('headers')
    if isinstance(headers, dict):
        payload['headers'] = dict(headers, redelivered=True)
    props = payload.get('properties')
    if isinstance(props, dict):
        props = payload['properties'] = dict(props)
        info = props.get('delivery_info')
        if isinstance(info, dict):
            props['delivery_info'] = dict(info, redelivered=True)
    return payload


if TYPE_CHECKING:
    from kombu.transport.virtual import Channel as _VirtualChannel

    from .contracts import UnackedStore

    class _ChannelBase(_VirtualChannel, UnackedStore):
        """Checked as part of the virtual channel, with what it needs of Redis's."""
else:
    _ChannelBase = object  # the Redis channel supplies the rest


class RestoreMixin(_ChannelBase):
    """Writes of the ``unacked`` hash and ``unacked_index`` sorted set."""

    def _record_commands(self, tag: str, payload: dict, exchange: str,
                         routing_key: str) -> list[tuple]:
        return [('HSET', self._unacked, tag, K.unacked_entry(payload, exchange, routing_key)),
                ('ZADD', self._unacked_index, repr(time()), tag)]

    def _record_unacked(self, tag: str, payload: dict, exchange: str, routing_key: str) -> None:
        self._run(self._record_commands(tag, payload, exchange or '', routing_key or ''))

    def _remove_unacked(self, tags: list[str], client: Any = None) -> None:
        if tags:
            self._send_deferred([('HDEL', self._unacked, *tags),
                                 ('ZREM', self._unacked_index, *tags)], tags)

    def _renew_leases(self, tags: list[str], acks: list[str], now: float) -> int:
        """From the lease thread: uses the thread-safe pooled client."""
        if self.closed or self.connection is None:
            return 0  # closing: its deliveries are given back, not renewed
        pipe = self._sync.pipeline(transaction=False)
        if acks:
            pipe.hdel(self._unacked, *acks)
            pipe.zrem(self._unacked_index, *acks)
        if tags:
            # XX: never resurrect an entry acked or restored meanwhile
            pipe.zadd(self._unacked_index, dict.fromkeys(tags, now), xx=True)
        pipe.execute()
        return len(tags)

    # -- restore -----------------------------------------------------------------

    def _restore_command(self, tag: str, payload: dict, exchange: str, routing_key: str,
                         ceil: str, leftmost: bool, queue: str | None = None) -> tuple | None:
        qos = self._qos
        if isinstance(qos, RedisQoS) and qos.ack_pending(tag):
            return None  # acked, Redis not told yet: it must not come back
        try:
            queues = [queue] if queue else self._restore_queues(exchange, routing_key, payload)
        except Exception:
            logger.critical('Could not restore message: %r', tag, exc_info=True)
            return None
        pri = self._get_message_priority(payload, reverse=False)
        keys = [self._unacked, self._unacked_index] + [self._qkey(q, pri) for q in queues if q]
        return self._script_cmd('restore', keys, [
            tag, ceil, K.dumps(mark_redelivered(payload)), '1' if leftmost else '0'])

    def _restore_queues(self, exchange: str, routing_key: str, payload: dict) -> Any:
        """Where a message goes back to: headers exchanges route on its headers."""
        if exchange:
            route = getattr(self.typeof(exchange), 'route', None)
            if route is not None:
                return route(exchange, routing_key, payload.get('headers'))
        return self._lookup(exchange, routing_key)

    def _restore_messages(self, messages: Iterable[Any], leftmost: bool = False,
                          client: Any = None) -> int:
        """Give delivered messages back to their queues (each at most once)."""
        if not self.ack_emulation:
            for message in messages:
                super()._restore(message)
            return 0
        commands = []
        for message in messages:
            info = message.delivery_info or {}
            cmd = self._restore_command(
                message.delivery_tag, message._raw, info.get('exchange') or '',
                info.get('routing_key') or '', '+inf', leftmost,
                getattr(message, '_source_queue', None))
            if cmd is not None:
                commands.append(cmd)
        return sum(self._run(commands)) if commands else 0

    def _restore_tags_from_redis(self, tags: list[str], ceil: float | None,
                                 leftmost: bool = False) -> int:
        if not tags:
            return 0
        entries = self._execute('HMGET', self._unacked, *tags)
        limit = '+inf' if ceil is None else repr(ceil)
        commands = []
        for tag, raw in zip(tags, entries):
            if raw is None:
                continue
            try:
                payload, exchange, routing_key = K.loads(raw)
            except (TypeError, ValueError):
                logger.critical('Could not restore message: %r', raw[:4096], exc_info=True)
                continue
            cmd = self._restore_command(tag, payload, exchange, routing_key, limit, leftmost)
            if cmd is not None:
                commands.append(cmd)
        return sum(self._run(commands)) if commands else 0

    def _restore_overdue(self, ceil: float, start: int = 0, num: int | None = 10,
                         skip: Iterable[str] = ()) -> int:
        """Restore messages whose lease ended before ``ceil`` (epoch seconds)."""
        args: list[Any] = ['ZRANGE', self._unacked_index, repr(ceil), '-inf', 'BYSCORE', 'REV']
        if num:
            args += ['LIMIT', start, num]
        skip = set(skip)
        tags = [t.decode() if isinstance(t, bytes) else t for t in self._execute(*args)]
        return self._restore_tags_from_redis([t for t in tags if t not in skip], ceil)

    def _restore(self, message: Any, leftmost: bool = False) -> None:
        self._restore_messages([message], leftmost=leftmost)

    def _restore_at_beginning(self, message: Any) -> None:
        # requeue: the message is consumed next, as in AMQP
        self._restore_messages([message])

    def _do_restore_message(self, payload: dict, exchange: str, routing_key: str,
                            pipe: Any, leftmost: bool = False) -> None:
        """Upstream-compatible helper: push ``payload`` on ``pipe`` as redelivered."""
        payload = mark_redelivered(payload)
        for queue in self._lookup(exchange, routing_key):
            pri = self._get_message_priority(payload, reverse=False)
            (pipe.lpush if leftmost else pipe.rpush)(self._q_for_pri(queue, pri), K.dumps(payload))
