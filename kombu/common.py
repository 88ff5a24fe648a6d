"""Common utilities: cached declarations, draining helpers, RPC replies, QoS."""
from __future__ import annotations

import os
import socket
import threading
from collections import deque
from contextlib import contextmanager
from functools import partial
from itertools import count
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Type
from uuid import NAMESPACE_OID, uuid3, uuid4, uuid5

from amqp import ChannelError, RecoverableConnectionError

from .abstract import AttrSpec
from .connection import maybe_channel
from .entity import Exchange, Queue
from .log import get_logger
from .serialization import registry as serializers
from .utils.compat import get_gevent_concurrent_error
from .utils.uuid import uuid

__all__ = ('Broadcast', 'maybe_declare', 'uuid',
           'itermessages', 'send_reply', 'collect_replies',
           'insured', 'drain_consumer', 'eventloop')

#: AMQP's prefetch_count is a short: larger values mean "disabled".
PREFETCH_COUNT_MAX = 0xFFFF

logger = get_logger(__name__)

_node_id: Optional[int] = None


def get_node_id() -> int:
    """A random number identifying this process' node (made once)."""
    global _node_id
    if _node_id is None:
        _node_id = uuid4().int
    return _node_id


def generate_oid(node_id: int, process_id: int, thread_id: int, instance: Any) -> str:
    """Object id (a UUID string) unique to node, process, thread and object."""
    ent = f'{node_id:x}-{process_id:x}-{thread_id:x}-{id(instance):x}'
    try:
        return str(uuid3(NAMESPACE_OID, ent))
    except ValueError:  # md5 unavailable (FIPS mode)
        return str(uuid5(NAMESPACE_OID, ent))


def oid_from(instance: Any, threads: bool = True) -> str:
    """:func:`generate_oid` for ``instance`` in the current process/thread."""
    return generate_oid(get_node_id(), os.getpid(),
                        threading.get_ident() if threads else 0, instance)


class Broadcast(Queue):
    """A queue bound to a fanout exchange: every Broadcast consumer gets every message.

    Arguments:
        name: Name of the fanout exchange (also the default ``alias``).
        queue: Queue name; default ``'bcast.<uuid>'``, unique to this consumer.
        unique: Always add a uuid to the queue name (``'<queue>.<uuid>'``).
        auto_delete: Delete the queue when the consumer goes (default True).
        exchange: Use this exchange instead of ``Exchange(name, 'fanout')``.
    """

    attrs: AttrSpec = Queue.attrs + (('queue', None),)

    def __init__(self, name: Optional[str] = None, queue: Optional[str] = None,
                 unique: bool = False, auto_delete: bool = True,
                 exchange: Optional[Exchange] = None, alias: Optional[str] = None,
                 **kwargs: Any) -> None:
        if unique:
            queue = f'{queue or "bcast"}.{uuid()}'
        else:
            queue = queue or f'bcast.{uuid()}'
        super().__init__(
            alias=alias or name, queue=queue, name=queue, auto_delete=auto_delete,
            exchange=exchange if exchange is not None else Exchange(name, type='fanout'),
            **kwargs)


def _declared_entities(channel: Any) -> Any:
    try:
        return channel.connection.client.declared_entities
    except AttributeError:
        return None


def declaration_cached(entity: Any, channel: Any) -> bool:
    """True if ``entity`` was declared already on ``channel``'s connection."""
    declared = _declared_entities(channel)
    return bool(declared) and (hash(entity) in declared or entity in declared)


def _channel_for(entity: Any, channel: Any) -> Any:
    if channel is not None:
        channel = maybe_channel(channel)
        if not entity.is_bound:
            return channel
        if channel.connection:
            if not entity.channel.connection:
                entity.revive(channel)  # its channel died: move it to the live one
            return channel
        # a closed channel is no use if the entity has a live one
    if not entity.is_bound:
        raise ChannelError(f'Cannot declare {entity!r}: no channel given and not bound')
    return entity.channel


def _maybe_declare(entity: Any, channel: Any) -> bool:
    # Declares ``entity`` itself through ``channel``, no bound copy needed:
    # a server-named queue gets its name set on the caller's object.
    channel = _channel_for(entity, channel)
    declared = _declared_entities(channel) if entity.can_cache_declaration else None
    if declared is not None and entity.name and hash(entity) in declared:
        return False
    if not channel.connection:
        raise RecoverableConnectionError('channel disconnected')
    entity.declare(channel=channel)
    if declared is not None and entity.name:
        declared.add(hash(entity))
    return True


class _RetryingDeclare:
    """Declaration retried by ``Connection.ensure``; revive() swaps the channel."""

    def __init__(self, entity: Any, channel: Any) -> None:
        self.entity = entity
        self.channel = channel

    def revive(self, channel: Any) -> None:
        self.channel = channel

    def __call__(self) -> bool:
        return _maybe_declare(self.entity, self.channel)


def _imaybe_declare(entity: Any, channel: Any, **retry_policy: Any) -> bool:
    channel = _channel_for(entity, channel)
    if not channel.connection:
        raise RecoverableConnectionError('channel disconnected')
    task = _RetryingDeclare(entity, channel)
    return channel.connection.client.ensure(task, task, **retry_policy)()


def maybe_declare(entity: Any, channel: Any = None, retry: bool = False,
                  **retry_policy: Any) -> bool:
    """Declare ``entity`` unless already declared on this connection.

    Returns True if it was declared now. With ``retry``, connection errors
    are retried through ``Connection.ensure`` with ``retry_policy``.
    """
    if retry:
        return _imaybe_declare(entity, channel, **retry_policy)
    return _maybe_declare(entity, channel)


def eventloop(conn: Any, limit: Optional[int] = None, timeout: Optional[float] = None,
              ignore_timeouts: bool = False) -> Iterator[Any]:
    """Yield after each ``conn.drain_events`` call (``limit`` times, or forever).

    A timeout ends nothing when ``ignore_timeouts`` is set (or ``timeout``
    is None); otherwise :exc:`socket.timeout` propagates.
    """
    for _ in (range(limit) if limit else count()):
        try:
            yield conn.drain_events(timeout=timeout)
        except socket.timeout:
            if timeout and not ignore_timeouts:
                raise


def drain_consumer(consumer: Any, limit: int = 1, timeout: Optional[float] = None,
                   callbacks: Optional[List[Callable[..., Any]]] = None
                   ) -> Iterator[Tuple[Any, Any]]:
    """Consume with ``consumer`` and yield ``(body, message)`` pairs."""
    acc: deque = deque()

    def on_message(body: Any, message: Any) -> None:
        acc.append((body, message))

    consumer.callbacks = [on_message] + (callbacks or [])
    with consumer:
        client = consumer.channel.connection.client
        for _ in eventloop(client, limit=limit, timeout=timeout, ignore_timeouts=True):
            while acc:
                yield acc.popleft()


def itermessages(conn: Any, channel: Any, queue: Any, limit: int = 1,
                 timeout: Optional[float] = None,
                 callbacks: Optional[List[Callable[..., Any]]] = None,
                 **kwargs: Any) -> Iterator[Tuple[Any, Any]]:
    """Iterate over ``(body, message)`` pairs received from ``queue``."""
    return drain_consumer(conn.Consumer(queues=[queue], channel=channel, **kwargs),
                          limit=limit, timeout=timeout, callbacks=callbacks)


def send_reply(exchange: Any, req: Any, msg: Any, producer: Any = None,
               retry: bool = False, retry_policy: Optional[Dict[str, Any]] = None,
               **props: Any) -> Any:
    """Reply to request message ``req`` (to its ``reply_to``/``correlation_id``)."""
    options = {
        'routing_key': req.properties['reply_to'],
        'correlation_id': req.properties.get('correlation_id'),
        'serializer': serializers.type_to_name[req.content_type],
        'content_encoding': req.content_encoding,
    }
    options.update(props)
    return producer.publish(msg, exchange=exchange, retry=retry,
                            retry_policy=retry_policy, **options)


def collect_replies(conn: Any, channel: Any, queue: Any, *args: Any,
                    **kwargs: Any) -> Iterator[Any]:
    """Yield reply bodies from ``queue`` (acked unless ``no_ack``, the default)."""
    no_ack = kwargs.setdefault('no_ack', True)
    received = False
    try:
        for body, message in itermessages(conn, channel, queue, *args, **kwargs):
            if not no_ack:
                message.ack()
            received = True
            yield body
    finally:
        if received:
            channel.after_reply_message_received(queue.name)


def _ensure_errback(exc: BaseException, interval: float) -> None:
    logger.error('Connection error: %r. Retry in %ss\n', exc, interval, exc_info=True)


def _ignorable(conn: Any) -> Tuple[Type[BaseException], ...]:
    errors = tuple(conn.connection_errors) + tuple(conn.channel_errors)
    gevent_error = get_gevent_concurrent_error()
    return errors + (gevent_error,) if gevent_error is not None else errors


@contextmanager
def _ignore_errors(conn: Any) -> Iterator[None]:
    try:
        yield
    except _ignorable(conn):  # evaluated only when something was raised
        pass


def ignore_errors(conn: Any, fun: Optional[Callable[..., Any]] = None,
                  *args: Any, **kwargs: Any) -> Any:
    """Ignore connection and channel errors of ``conn``.

    Calls ``fun(*args, **kwargs)`` (returning None on such an error), or
    without ``fun`` returns a context manager.
    """
    if fun:
        with _ignore_errors(conn):
            return fun(*args, **kwargs)
        return None
    return _ignore_errors(conn)


def revive_connection(connection: Any, channel: Any,
                      on_revive: Optional[Callable[[Any], Any]] = None) -> None:
    if on_revive:
        on_revive(channel)


def insured(pool: Any, fun: Callable[..., Any], args: Any, kwargs: Dict[str, Any],
            errback: Optional[Callable[..., Any]] = None,
            on_revive: Optional[Callable[[Any], Any]] = None, **opts: Any) -> Any:
    """Call ``fun`` with a pooled connection, reconnecting and retrying on errors."""
    errback = errback or _ensure_errback
    with pool.acquire(block=True) as conn:
        conn.ensure_connection(errback=errback)
        channel = conn.default_channel
        revive = partial(revive_connection, conn, on_revive=on_revive)
        retrying = conn.autoretry(fun, channel, errback=errback, on_revive=revive, **opts)
        retval, _ = retrying(*args, **dict(kwargs, connection=conn))
        return retval


class QoS:
    """Prefetch count that can be raised/lowered from any thread, applied later.

    ``callback(prefetch_count=n)`` applies the value (e.g. ``channel.basic_qos``);
    :meth:`update` applies the current value if it changed. A value of 0
    means unlimited and is never changed by increments or decrements.
    """

    prev: Optional[int] = None

    def __init__(self, callback: Callable[..., Any], initial_value: Optional[int],
                 max_prefetch: Optional[int] = None) -> None:
        self.callback = callback
        self._mutex = threading.RLock()
        self.value = initial_value or 0
        self.max_prefetch = max_prefetch

    def increment_eventually(self, n: int = 1) -> int:
        """Raise the value by ``n`` (capped at ``max_prefetch``); applied by :meth:`update`."""
        with self._mutex:
            if self.value:
                self.value = self.value + max(n, 0)
                if self.max_prefetch:
                    self.value = min(self.value, self.max_prefetch)
        return self.value

    def decrement_eventually(self, n: int = 1) -> int:
        """Lower the value by ``n`` (never below 1); applied by :meth:`update`."""
        with self._mutex:
            if self.value:
                self.value -= n
                if self.value < 1:
                    self.value = 1
        return self.value

    def set(self, pcount: int) -> int:
        """Apply ``pcount`` now if it differs from the last applied value."""
        if pcount != self.prev:
            new_value = pcount
            if pcount > PREFETCH_COUNT_MAX:
                logger.warning('QoS: Disabled: prefetch_count exceeds %r',
                               PREFETCH_COUNT_MAX)
                new_value = 0
            logger.debug('basic.qos: prefetch_count->%s', new_value)
            self.callback(prefetch_count=new_value)
            self.prev = pcount
        return pcount

    def update(self) -> int:
        """Apply the current value."""
        with self._mutex:
            return self.set(self.value)
