"""Ack emulation on Redis: the ``unacked`` hash and its ``unacked_index``.

A delivered message is recorded (by the pop script, atomically with the pop)
as ``unacked[tag] = [payload, exchange, routing_key]`` with score = time of
the last sign of life of its consumer in ``unacked_index``.  While the
consumer lives, a keeper thread keeps raising those scores, so the
visibility-timeout sweep (ours or upstream Kombu's) never restores a message
whose consumer is still working on it.  When the consumer dies the scores
stop moving and after ``visibility_timeout`` the sweep gives each message back
exactly once (the restore script is atomic and checks the entry is still
there and still overdue).
"""
from __future__ import annotations

import logging
import threading
import weakref
from collections import deque
from contextlib import nullcontext
from time import time
from typing import Any, Hashable, Iterable

from kombu.transport import virtual

from .client import Mutex, MutexHeld
from .errors import errors

logger = logging.getLogger('kombu.transport.redis')


class UnconfirmedAcks:
    """Acks whose removal Redis has not confirmed, per Redis (one per process).

    Acks go out without waiting for Redis' reply; when the connection dies
    before the reply is read, the ack may never have arrived.  The tags are
    kept here until some channel talking to the same Redis sends them again
    and reads the reply: that happens before any other command of that
    channel, so before anything is restored; restores also skip these tags.

    Each tag keeps the time its ack was sent: sent again, the ack removes the
    entry only if its lease is not newer (a sweep elsewhere may have given
    the message back and delivered it again under the same delivery tag,
    and that delivery's record must stay).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: target -> {tag: time the ack was sent}; truthy iff any ack waits
        self.by_target: dict[Hashable, dict[str, float]] = {}

    def add(self, target: Hashable, tags: Iterable[str], acked_at: float) -> None:
        with self._lock:
            waiting = self.by_target.setdefault(target, {})
            for tag in tags:
                waiting.setdefault(tag, acked_at)  # the first send counts
            if not waiting:
                del self.by_target[target]

    def get(self, target: Hashable) -> list[tuple[str, float]]:
        with self._lock:
            return list(self.by_target.get(target, {}).items())

    def confirm(self, target: Hashable, tags: Iterable[str]) -> None:
        with self._lock:
            waiting = self.by_target.get(target)
            if waiting is None:
                return
            for tag in tags:
                waiting.pop(tag, None)
            if not waiting:
                del self.by_target[target]

    def targets(self) -> list[Hashable]:
        with self._lock:
            return list(self.by_target)

    def holds(self, target: Hashable, tag: str) -> bool:
        waiting = self.by_target.get(target)
        return waiting is not None and tag in waiting

    def clear(self) -> None:
        with self._lock:
            self.by_target.clear()


#: The process' acks in doubt (a forked child starts without its parent's).
unconfirmed_acks = UnconfirmedAcks()


class QoS(virtual.QoS):
    """Redis ack emulation with piggy-backed acks and live-consumer leases."""

    restore_at_shutdown = True
    channel: Any  # the Redis channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._vrestore_count = 0
        #: tags the pop script already recorded server-side
        self._recorded: set[str] = set()
        #: acked tags not yet removed from Redis (thread-safe deque)
        self._pending_acks: deque[str] = deque()
        #: >0 while the poller delivers a batch: acks go together at its end
        self._buffer_acks = 0

    # -- delivery bookkeeping ----------------------------------------------

    def append(self, message: Any, delivery_tag: str) -> None:
        if delivery_tag in self._recorded:
            self._recorded.discard(delivery_tag)
        else:  # not popped by our script (e.g. fanout): record it now
            delivery = message.delivery_info
            self.channel._record_unacked(
                delivery_tag, message._raw, delivery['exchange'], delivery['routing_key'])
        super().append(message, delivery_tag)
        self.channel.connection._keep_alive(self)

    def ack(self, delivery_tag: str) -> None:
        # Sent without waiting for the reply (read on the next round trip):
        # at once, or, for acks given while a batch is delivered, together
        # when the batch's delivery ends (in the same turn of the loop).
        self._pending_acks.append(delivery_tag)
        super().ack(delivery_tag)
        if not (self._buffer_acks or self.channel._held) or len(self._pending_acks) >= 256:
            self.flush_acks()

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        # the base restores (requeue: our restore script also drops the
        # unacked entry) or dead-letters (then the entry goes like an ack)
        super().reject(delivery_tag, requeue=requeue)
        if not requeue:
            self._pending_acks.append(delivery_tag)
            if not self._buffer_acks:
                self.flush_acks()

    def take_acks(self, limit: int = 1024) -> list[str]:
        acks: list[str] = []
        pop = self._pending_acks.popleft
        try:
            while len(acks) < limit:
                acks.append(pop())
        except IndexError:
            pass
        return acks

    def flush_acks(self, client: Any = None) -> None:
        if getattr(self.channel, '_pool', None) is None and self.channel.closed:
            # closed: its unacked were given back, and a redelivery keeps the
            # delivery tag, so an ack arriving now must not be applied later
            self._pending_acks.clear()
            return
        acks = self.take_acks()
        if acks:
            # never raises a connection error: what it could not confirm
            # stays in unconfirmed_acks and is sent again on reconnect
            self.channel._remove_unacked(acks, client=client)

    def ack_pending(self, tag: str) -> bool:
        """Whether an ack of ``tag`` was given but not confirmed by Redis."""
        return tag in self._pending_acks or self.channel._ack_in_doubt(tag)

    def live_tags(self) -> list[str]:
        for _ in range(3):
            try:
                dirty = self._dirty
                return [t for t in list(self._delivered) if t not in dirty]
            except RuntimeError:  # resized by the consuming thread; retry
                continue
        return []

    # -- restoring ------------------------------------------------------------

    def restore_unacked(self, client: Any = None) -> list[tuple[BaseException, Any]]:
        self._flush()
        # newest first: each goes to the head, so the oldest is consumed first
        messages = list(reversed(self._delivered.values()))
        self._delivered.clear()
        try:
            self.flush_acks(client)
            if messages:
                self.channel._restore_messages(messages, client=client)
        except Exception as exc:
            return [(exc, m) for m in messages]
        return []

    def restore_by_tag(self, tag: str, client: Any = None, leftmost: bool = False) -> None:
        try:
            message = self._delivered[tag]
        except KeyError:
            self.channel._restore_tags_from_redis([tag], None, leftmost=leftmost)
        else:
            self.channel._restore_messages([message], leftmost=leftmost, client=client)

    def restore_visible(self, start: int = 0, num: int | None = 10,  # type: ignore[override]
                        interval: int = 10) -> int:
        """Give back messages whose consumer stopped renewing their lease."""
        self._vrestore_count += 1
        if (self._vrestore_count - 1) % (interval or 1):
            return 0
        channel = self.channel
        ceil = time() - self.visibility_timeout
        with errors('restore_visible'), channel.conn_or_acquire() as client:
            try:
                with Mutex(client, channel.unacked_mutex_key, self.unacked_mutex_expire):
                    return channel._restore_overdue(ceil, start, num, set(self._delivered))
            except MutexHeld:
                return 0

    @property
    def unacked_key(self) -> str:
        return self.channel.unacked_key

    @property
    def unacked_index_key(self) -> str:
        return self.channel.unacked_index_key

    @property
    def unacked_mutex_key(self) -> str:
        return self.channel.unacked_mutex_key

    @property
    def unacked_mutex_expire(self) -> int:
        return self.channel.unacked_mutex_expire

    @property
    def visibility_timeout(self) -> float:
        return self.channel.visibility_timeout

    def pipe_or_acquire(self, pipe: Any = None, client: Any = None) -> Any:
        """Compatibility helper: a pipeline on ``client`` unless ``pipe`` given."""
        if pipe is not None:
            return nullcontext(pipe)
        return _PipelineOn(self.channel, client)


class _PipelineOn:
    def __init__(self, channel: Any, client: Any) -> None:
        self.channel, self.client = channel, client

    def __enter__(self) -> Any:
        self._cm = self.channel.conn_or_acquire(self.client)
        return self._cm.__enter__().pipeline()

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)


class LeaseKeeper:
    """Background thread renewing the leases of delivered, unacked messages.

    It also flushes acks still waiting to ride on the next round trip, so an
    acked message can never come back because its consumer went quiet.
    One per transport; it exits with the transport.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._qos: weakref.WeakSet[QoS] = weakref.WeakSet()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def watch(self, qos: QoS) -> None:
        if qos in self._qos and self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            self._qos.add(qos)
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name='kombu-redis-lease', daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()
            with self._lock:
                if not self._qos:  # nothing to watch: exit, watch() restarts us
                    self._thread = None
                    return

    def tick(self) -> None:
        for qos in list(self._qos):
            try:
                renew(qos)
            except Exception as exc:  # the consumer sees connection errors itself
                logger.debug('lease renewal failed: %r', exc)


def renew(qos: QoS, now: float | None = None) -> int:
    """Flush pending acks and raise the scores of ``qos``'s live deliveries."""
    channel = qos.channel
    if channel is None or getattr(channel, 'closed', True):
        return 0
    tags = qos.live_tags()
    acks = qos.take_acks()
    if not tags and not acks:
        return 0
    try:
        return channel._renew_leases(tags, acks, now if now is not None else time())
    except BaseException:
        channel._acks_unconfirmed(acks)
        raise


def iter_chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
