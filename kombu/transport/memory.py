"""In-memory transport: messages passed between threads of one process.

Features
========
* Type: Virtual
* Supports Direct: Yes
* Supports Topic: Yes
* Supports Fanout: Yes
* Supports Headers: Yes
* Supports Priority: Yes (queues declared with ``x-max-priority``, 0-255)
* Supports TTL: Yes (``expiration``, ``x-message-ttl``, ``x-expires``, dead-lettering)
* Supports max length: Yes (``x-max-length``, ``x-overflow``)

Connection String
=================
``memory://`` -- every connection of the process shares the same broker.

Thread safety
=============
A producer and a consumer may run in different threads.  ``drain_events``
blocks on a condition that every put, ack and new consumer signals, so a
waiting consumer wakes up at once instead of polling.
"""
from __future__ import annotations

import dataclasses
import heapq
import threading
from collections import defaultdict, deque
from itertools import count
from queue import Empty
from typing import Any, ClassVar

from . import base, virtual
from .virtual.options import TransportOptions
from .virtual.routing import queue_priority
from .virtual.state import QueuePolicy


class _Activity:
    """Wake-up signal for consumers waiting in ``drain_events``.

    ``generation`` changes on every signal; a waiter remembers it before
    polling and only sleeps if it is unchanged, so no signal is lost.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.generation = 0
        self.waiters = 0

    def notify(self) -> None:
        self.generation += 1
        if self.waiters:  # only pay for the lock when someone sleeps
            self.wake()

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def wait(self, timeout: float, token: int) -> None:
        with self.cond:
            # Count ourselves before checking: a put after the check sees us.
            self.waiters += 1
            try:
                if self.generation == token:
                    self.cond.wait(timeout)
            finally:
                self.waiters -= 1


activity = _Activity()


class _FifoQueue(deque):
    """A queue without priorities."""

    prioritized = False
    retired = False
    put = deque.append
    put_front = deque.appendleft
    get = deque.popleft


class _PriorityQueue:
    """A queue with ``x-max-priority``: higher priority first, FIFO within one."""

    prioritized = True
    retired = False

    def __init__(self, max_priority: int) -> None:
        self.max_priority = max_priority
        self._heap: list[tuple[int, int, dict[str, Any]]] = []
        self._tail = count()
        self._head = count(-1, -1)  # front inserts sort before every put
        self._lock = threading.Lock()

    def _priority(self, message: dict[str, Any]) -> int:
        return -queue_priority(message, self.max_priority)  # heapq pops the smallest

    def put(self, message: dict[str, Any]) -> None:
        with self._lock:
            heapq.heappush(self._heap, (self._priority(message), next(self._tail), message))

    def put_front(self, message: dict[str, Any]) -> None:
        with self._lock:
            heapq.heappush(self._heap, (self._priority(message), next(self._head), message))

    def get(self) -> dict[str, Any]:
        with self._lock:
            if not self._heap:
                raise IndexError('pop from an empty queue')
            return heapq.heappop(self._heap)[2]

    def clear(self) -> None:
        with self._lock:
            self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)


def _new_store(policy: QueuePolicy | None) -> _FifoQueue | _PriorityQueue:
    if policy is not None and policy.max_priority:
        return _PriorityQueue(policy.max_priority)
    return _FifoQueue()


@dataclasses.dataclass(frozen=True)
class MemoryOptions(TransportOptions):
    """memory:// reads only the options every virtual transport reads."""

    transport_name: ClassVar[str] = 'memory'


class Channel(virtual.Channel):
    """In-memory channel."""

    Options = MemoryOptions

    #: kept for compatibility with code that inspects it.
    events: defaultdict[str, set[Any]] = defaultdict(set)

    #: queue name -> message store, shared by every channel of the process.
    queues: dict[str, Any] = {}

    #: unacked messages go back to their queue when the channel closes.
    do_restore = True
    supports_fanout = True

    #: messages one fetch takes from a queue.  One: a pop from a local
    #: deque costs less than keeping a batch, and consumers in other threads
    #: get their share.  Larger values batch through ``_get_batch`` (the
    #: virtual base hands them over one per ``drain_events`` call).
    fetch_batch_size = 1

    _create_lock = threading.Lock()

    def _store(self, queue: str) -> Any:
        try:
            return self.queues[queue]
        except KeyError:
            with self._create_lock:
                store = self.queues.get(queue)
                if store is None:
                    store = self.queues[queue] = _new_store(self._queue_policy(queue))
                return store

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return queue in self.queues

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        store = self._store(queue)
        policy = self._queue_policy(queue)
        if policy is not None and policy.max_priority and not store.prioritized:
            # Redeclared with priorities: a new store takes over.  A put racing
            # with us may still append to the old one; it sees ``retired`` and
            # moves its message over itself (see _rescue).
            with self._create_lock:
                store.retired = True
                self.queues[queue] = _new_store(policy)
            self._rescue(store, queue)

    def _rescue(self, old: Any, queue: str) -> None:
        """Move the messages of a retired store to the queue's current store."""
        new = self._store(queue)
        while True:
            try:
                new.put(old.get())
            except IndexError:
                return

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        try:
            return self.queues[queue].get()
        except (KeyError, IndexError):
            raise Empty()

    def _get_batch(self, queue: str, limit: int) -> list[dict[str, Any]]:
        store = self.queues.get(queue)
        if not store:
            raise Empty()
        get = store.get
        batch = []
        try:
            # Bounded by the length: an IndexError costs more than the pop.
            for _ in range(min(limit, len(store))):
                batch.append(get())
        except IndexError:  # emptied by another thread meanwhile
            if not batch:
                raise Empty() from None
        return batch

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        try:
            store = self.queues[queue]
        except KeyError:
            store = self._store(queue)
        store.put(message)
        if store.retired:
            self._rescue(store, queue)
        # activity.notify(), inlined (hot path)
        activity.generation += 1
        if activity.waiters:
            activity.wake()

    def _put_front(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        store = self._store(queue)
        store.put_front(message)
        if store.retired:
            self._rescue(store, queue)
        activity.notify()

    def _size(self, queue: str) -> int:
        store = self.queues.get(queue)
        return len(store) if store is not None else 0

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self.queues.pop(queue, None)

    def _purge(self, queue: str) -> int:
        store = self.queues.get(queue)
        if store is None:
            return 0
        size = len(store)
        store.clear()
        return size

    def basic_consume(self, *args: Any, **kwargs: Any) -> str:
        tag = super().basic_consume(*args, **kwargs)
        activity.notify()  # a thread may be waiting with nothing to consume
        return tag

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        qos = self._qos or self.qos
        qos.ack(delivery_tag)
        if qos.prefetch_count and activity.waiters:
            activity.notify()  # the prefetch window may have opened

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue=requeue)
        activity.notify()

    def after_reply_message_received(self, queue: str) -> None:
        pass


class Transport(virtual.Transport):
    """In-memory transport."""

    Channel = Channel

    #: memory backend state is global to the process.
    global_state = virtual.BrokerState()

    #: only a safety net: puts, acks and new consumers wake waiting consumers.
    polling_interval = 1.0

    implements = base.Transport.implements.extend(
        asynchronous=False,
        exchange_type=frozenset(['direct', 'topic', 'fanout', 'headers']),
        heartbeats=False,
    )

    driver_type = 'memory'
    driver_name = 'memory'

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.state = self.global_state

    # The base's drain_events loop, woken by puts instead of polling.

    def _wakeup_token(self) -> int:
        return activity.generation

    def _wait_for_messages(self, timeout: float, token: int) -> None:
        activity.wait(min(self.polling_interval or 1.0, timeout), token)

    def driver_version(self) -> str:
        return 'N/A'
