"""Process mailbox: remote control of named nodes (Celery's ``inspect``/``control``).

A :class:`Mailbox` publishes commands to the ``<namespace>.pidbox`` exchange; every
:class:`Node` listening in that namespace has its own ``<hostname>.<namespace>.pidbox``
queue bound to it.  A command that wants replies carries a ``ticket`` and a
``reply_to`` address on the ``reply.<namespace>.pidbox`` exchange; nodes answer there
with ``{hostname: result}``.

The command body is ``{'method', 'arguments', 'destination', 'pattern', 'matcher'}``
(plus ``'ticket'`` and ``'reply_to': {'exchange', 'routing_key'}`` for calls) with the
headers ``clock`` and ``expires``; replies carry the headers ``ticket`` and ``clock``.
This is Kombu's wire format, so either side may be upstream Kombu or Celery.
"""
from __future__ import annotations

import socket
import time
import warnings
from collections import defaultdict, deque
from contextlib import contextmanager
from copy import copy
from typing import Any, Callable, Iterator, Sequence

from .clocks import LamportClock
from .common import maybe_declare, oid_from
from .entity import Exchange, Queue
from .exceptions import InconsistencyError
from .log import get_logger
from .matcher import match
from .messaging import Consumer, Producer
from .utils.functional import maybe_evaluate, reprcall
from .utils.objects import cached_property
from .utils.uuid import uuid

__all__ = ('Node', 'Mailbox')

#: Seconds an unused reply queue lives on the broker (``x-expires``).
REPLY_QUEUE_EXPIRES = 10

W_PIDBOX_IN_USE = """\
A node named {node.hostname} is already using this process mailbox!

Maybe you forgot to shutdown the other node or did not do so properly?
Or if you meant to start multiple nodes on the same host please make sure
you give each node a unique node name!
"""

logger = get_logger(__name__)
debug, error = logger.debug, logger.error

_Consumer = Consumer  # for annotations inside Node, whose method shadows the name


class Node:
    """One named member of a :class:`Mailbox`: receives and answers commands."""

    # Class-level ``None`` defaults as in Kombu; ``__init__`` sets them all.
    #: Name of this node; commands with a ``destination`` must name it.
    hostname: str = None  # type: ignore[assignment]
    #: The :class:`Mailbox` this node belongs to.
    mailbox: Mailbox = None  # type: ignore[assignment]
    #: ``{method name: handler(state, **arguments)}``.
    handlers: dict[str, Callable[..., Any]] = None  # type: ignore[assignment]
    #: Passed as first argument to every handler.
    state: Any = None
    #: Channel used to consume commands and publish replies.
    channel: Any = None

    def __init__(self, hostname: str, state: Any = None, channel: Any = None,
                 handlers: dict[str, Callable[..., Any]] | None = None,
                 mailbox: Mailbox | None = None) -> None:
        if mailbox is None:
            raise ValueError('Node needs a mailbox: use Mailbox.Node(hostname)')
        self.channel = channel
        self.mailbox = mailbox
        self.hostname = hostname
        self.state = state
        self.adjust_clock = mailbox.clock.adjust
        # Not copied: Celery passes its command registry and adds to it later.
        self.handlers = {} if handlers is None else handlers

    def Consumer(self, channel: Any = None, no_ack: bool = True,
                 accept: Sequence[str] | None = None, **options: Any) -> _Consumer:
        """A consumer of this node's command queue (not yet consuming)."""
        mailbox = self.mailbox
        queue = mailbox.get_queue(self.hostname)

        def verify_exclusive(name: str, messages: int, consumers: int) -> None:
            if consumers:
                warnings.warn(W_PIDBOX_IN_USE.format(node=self), stacklevel=2)
        queue.on_declared = verify_exclusive

        conn = mailbox.connection
        channel_errors = tuple(conn.channel_errors) if conn is not None else ()
        try:
            return Consumer(channel or self.channel, [queue], no_ack=no_ack,
                            accept=mailbox.accept if accept is None else accept,
                            **options)
        except channel_errors as exc:
            # 405 RESOURCE_LOCKED: another connection holds the exclusive queue.
            if getattr(exc, 'code', 0) == 405:
                raise InconsistencyError(W_PIDBOX_IN_USE.format(node=self)) from exc
            raise

    def handler(self, fun: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: register ``fun`` as the handler of the command of its name."""
        self.handlers[fun.__name__] = fun
        return fun

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        error('Cannot decode message: %r', exc, exc_info=True)

    def listen(self, channel: Any = None,
               callback: Callable[[Any, Any], Any] | None = None) -> _Consumer:
        """Start consuming commands; returns the (consuming) consumer."""
        consumer = self.Consumer(channel=channel,
                                 callbacks=[callback or self.handle_message],
                                 on_decode_error=self.on_decode_error)
        consumer.consume()
        return consumer

    def dispatch(self, method: str, arguments: dict[str, Any] | None = None,
                 reply_to: dict[str, str] | None = None, ticket: str | None = None,
                 **kwargs: Any) -> Any:
        """Run a command and, for calls, send back ``{hostname: result}``."""
        arguments = arguments or {}
        debug('pidbox received method %s [reply_to:%s ticket:%s]',
              reprcall(method, (), kwargs=arguments), reply_to, ticket)
        handle = self.handle_call if reply_to else self.handle_cast
        try:
            reply = handle(method, arguments)
        except SystemExit:
            raise
        except Exception as exc:
            error('pidbox command error: %r', exc, exc_info=True)
            reply = {'error': repr(exc)}
        if reply_to:
            self.reply({self.hostname: reply}, exchange=reply_to['exchange'],
                       routing_key=reply_to['routing_key'], ticket=ticket)
        return reply

    def handle(self, method: str, arguments: dict[str, Any] | None = None) -> Any:
        return self.handlers[method](self.state, **(arguments or {}))

    def handle_call(self, method: str, arguments: dict[str, Any]) -> Any:
        return self.handle(method, arguments)

    def handle_cast(self, method: str, arguments: dict[str, Any]) -> Any:
        return self.handle(method, arguments)

    def handle_message(self, body: dict[str, Any], message: Any = None) -> Any:
        """Dispatch ``body`` if it is addressed to this node (else ``None``)."""
        if message is not None:
            self.adjust_clock(message.headers.get('clock') or 0)
        if self._is_addressed_to_me(body):
            return self.dispatch(**body)
        return None
    dispatch_from_message = handle_message

    def _is_addressed_to_me(self, body: dict[str, Any]) -> bool:
        destination = body.get('destination')
        if destination:
            return self.hostname in destination
        pattern, matcher = body.get('pattern'), body.get('matcher')
        if pattern and matcher:
            return bool(match(self.hostname, pattern, matcher))
        return True

    def reply(self, data: Any, exchange: str, routing_key: str, ticket: str | None,
              **kwargs: Any) -> None:
        self.mailbox._publish_reply(data, exchange, routing_key, ticket,
                                    channel=self.channel,
                                    serializer=self.mailbox.serializer)

    def __repr__(self) -> str:
        return f'<{type(self).__name__}: {self.hostname!r}>'


class Mailbox:
    """A namespace of nodes that can be sent commands (and answer them)."""

    node_cls = Node
    exchange_fmt = '%s.pidbox'
    reply_exchange_fmt = 'reply.%s.pidbox'

    #: Name of the application (``'celery'`` for Celery).
    namespace: str | None = None
    #: Connection, when bound (see :meth:`__call__`).
    connection: Any = None
    #: Exchange type: ``'direct'``, or ``'fanout'`` for broadcast.
    type = 'direct'
    #: Exchange commands are published to (set by the constructor).
    exchange: Exchange = None  # type: ignore[assignment]
    #: Exchange replies are published to (set by the constructor).
    reply_exchange: Exchange = None  # type: ignore[assignment]
    #: Content types accepted for commands and replies.
    accept: Sequence[str] = ['json']
    #: Serializer of commands and replies (``None``: the producer's default).
    serializer: str | None = None

    def __init__(self, namespace: str, type: str = 'direct', connection: Any = None,
                 clock: Any = None, accept: Sequence[str] | None = None,
                 serializer: str | None = None, producer_pool: Any = None,
                 queue_ttl: float | None = None, queue_expires: float | None = None,
                 queue_durable: bool = False, queue_exclusive: bool = True,
                 reply_queue_ttl: float | None = None,
                 reply_queue_expires: float | None = 10.0) -> None:
        if queue_exclusive and queue_durable:
            raise ValueError('queue_exclusive and queue_durable cannot both be True: '
                             'exclusive queues are deleted with their connection')
        self.namespace = namespace
        self.connection = connection
        self.type = type
        self.clock = LamportClock() if clock is None else clock
        self.exchange = self._get_exchange(namespace, type)
        self.reply_exchange = self._get_reply_exchange(namespace)
        self.accept = self.accept if accept is None else accept
        self.serializer = self.serializer if serializer is None else serializer
        self.queue_ttl = queue_ttl
        self.queue_expires = queue_expires
        self.queue_durable = queue_durable
        self.queue_exclusive = queue_exclusive
        self.reply_queue_ttl = reply_queue_ttl
        self.reply_queue_expires = reply_queue_expires
        self._producer_pool = producer_pool
        # Replies carrying another ticket (for Kombu's ``_collect(ticket)`` split use).
        self.unclaimed: defaultdict[str, deque[Any]] = defaultdict(deque)
        self._reply_queue: Queue | None = None

    def __call__(self, connection: Any) -> Mailbox:
        """A copy of this mailbox bound to ``connection``."""
        bound = copy(self)
        bound.connection = connection
        return bound

    def Node(self, hostname: str | None = None, state: Any = None, channel: Any = None,
             handlers: dict[str, Callable[..., Any]] | None = None) -> Node:
        hostname = hostname or socket.gethostname()
        return self.node_cls(hostname, state, channel, handlers, mailbox=self)

    # -- sending ------------------------------------------------------------------

    def call(self, destination: Sequence[str], command: str,
             kwargs: dict[str, Any] | None = None, timeout: float | None = None,
             callback: Callable[[Any], Any] | None = None,
             channel: Any = None) -> list[Any] | None:
        """Send ``command`` to the named nodes and wait for their replies."""
        return self._broadcast(command, kwargs or {}, destination, reply=True,
                               timeout=timeout, callback=callback, channel=channel)

    def cast(self, destination: Sequence[str], command: str,
             kwargs: dict[str, Any] | None = None) -> None:
        """Send ``command`` to the named nodes, expecting no reply."""
        self._broadcast(command, kwargs or {}, destination, reply=False)

    def abcast(self, command: str, kwargs: dict[str, Any] | None = None) -> None:
        """Send ``command`` to every node, expecting no reply."""
        self._broadcast(command, kwargs or {}, reply=False)

    def multi_call(self, command: str, kwargs: dict[str, Any] | None = None,
                   timeout: float | None = 1, limit: int | None = None,
                   callback: Callable[[Any], Any] | None = None,
                   channel: Any = None) -> list[Any] | None:
        """Send ``command`` to every node and collect replies until timeout/limit."""
        return self._broadcast(command, kwargs or {}, reply=True, timeout=timeout,
                               limit=limit, callback=callback, channel=channel)

    # -- entities -------------------------------------------------------------------

    def get_reply_queue(self) -> Queue:
        oid = self.oid
        return Queue(f'{oid}.{self.reply_exchange.name}',
                     exchange=self.reply_exchange,
                     routing_key=oid,
                     durable=self.queue_durable,
                     exclusive=self.queue_exclusive,
                     auto_delete=not self.queue_durable,
                     expires=self.reply_queue_expires,
                     message_ttl=self.reply_queue_ttl)

    @property
    def reply_queue(self) -> Queue:
        # The oid differs per thread and per bound copy: rebuild when it changed
        # rather than route replies to a key no queue is bound with.
        queue = self._reply_queue
        if queue is None or queue.routing_key != self.oid:
            queue = self._reply_queue = self.get_reply_queue()
        return queue

    def get_queue(self, hostname: str) -> Queue:
        return Queue(f'{hostname}.{self.namespace}.pidbox',
                     exchange=self.exchange,
                     durable=self.queue_durable,
                     exclusive=self.queue_exclusive,
                     auto_delete=not self.queue_durable,
                     expires=self.queue_expires,
                     message_ttl=self.queue_ttl)

    def _get_exchange(self, namespace: str, type: str) -> Exchange:
        return Exchange(self.exchange_fmt % namespace, type=type,
                        durable=False, delivery_mode='transient')

    def _get_reply_exchange(self, namespace: str) -> Exchange:
        return Exchange(self.reply_exchange_fmt % namespace, type='direct',
                        durable=False, delivery_mode='transient')

    @property
    def oid(self) -> str:
        """Identifier of this (bound) mailbox in this thread: the reply routing key."""
        return oid_from(self)

    @cached_property
    def producer_pool(self) -> Any:
        # ``_producer_pool`` may be lazy (Celery's); ``del mailbox.producer_pool``
        # after a fork makes it evaluate again.
        return maybe_evaluate(self._producer_pool)

    @contextmanager
    def producer_or_acquire(self, producer: Producer | None = None,
                            channel: Any = None) -> Iterator[Producer]:
        if producer:
            yield producer
        elif self.producer_pool:
            with self.producer_pool.acquire() as pooled:
                yield pooled
        else:
            yield Producer(channel, auto_declare=False)

    # -- wire -------------------------------------------------------------------------

    def _publish_reply(self, reply: Any, exchange: str, routing_key: str,
                       ticket: str | None, channel: Any = None,
                       producer: Producer | None = None, **opts: Any) -> None:
        chan = channel or self.connection.default_channel
        exchange_entity = Exchange(exchange, type='direct', durable=False,
                                   delivery_mode='transient')
        with self.producer_or_acquire(producer, chan) as producer:
            try:
                producer.publish(
                    reply, exchange=exchange_entity, routing_key=routing_key,
                    declare=[exchange_entity],
                    headers={'ticket': ticket, 'clock': self.clock.forward()},
                    retry=True, **opts)
            except InconsistencyError:
                # The caller's reply queue is gone: nobody waits for this reply.
                debug('pidbox reply to %r dropped: no reply queue', routing_key)

    def _publish(self, type: str, arguments: dict[str, Any],
                 destination: Sequence[str] | None = None,
                 reply_ticket: str | None = None, channel: Any = None,
                 timeout: float | None = None, serializer: str | None = None,
                 producer: Producer | None = None, pattern: str | None = None,
                 matcher: str | None = None) -> None:
        message: dict[str, Any] = {'method': type, 'arguments': arguments,
                                   'destination': destination, 'pattern': pattern,
                                   'matcher': matcher}
        chan = channel or self.connection.default_channel
        if reply_ticket:
            reply_queue = self.reply_queue
            # Declared before publishing, so no reply can arrive unroutable.
            maybe_declare(reply_queue(chan))
            message.update(ticket=reply_ticket,
                           reply_to={'exchange': self.reply_exchange.name,
                                     'routing_key': reply_queue.routing_key})
        headers = {'clock': self.clock.forward(),
                   'expires': time.time() + timeout if timeout else 0}
        with self.producer_or_acquire(producer, chan) as producer:
            producer.publish(message, exchange=self.exchange.name,
                             declare=[self.exchange], headers=headers,
                             serializer=serializer or self.serializer, retry=True)

    def _broadcast(self, command: str, arguments: dict[str, Any] | None = None,
                   destination: Sequence[str] | None = None, reply: bool = False,
                   timeout: float | None = 1, limit: int | None = None,
                   callback: Callable[[Any], Any] | None = None, channel: Any = None,
                   serializer: str | None = None, pattern: str | None = None,
                   matcher: str | None = None) -> list[Any] | None:
        _check_address(destination, pattern, matcher)
        reply_ticket = uuid() if reply else None
        chan = channel or self.connection.default_channel
        if limit is None and destination:
            # Each named node answers once: stop as soon as all did.
            limit = len(destination)
        self._publish(command, arguments or {}, destination=destination,
                      reply_ticket=reply_ticket, channel=chan, timeout=timeout,
                      serializer=serializer or self.serializer,
                      pattern=pattern, matcher=matcher)
        if reply_ticket:
            return self._collect(reply_ticket, limit=limit, timeout=timeout,
                                 callback=callback, channel=chan)
        return None

    def _collect(self, ticket: str, limit: int | None = None, timeout: float | None = 1,
                 callback: Callable[[Any], Any] | None = None, channel: Any = None,
                 accept: Sequence[str] | None = None) -> list[Any]:
        """Gather replies to ``ticket`` until ``limit`` came or ``timeout`` passed.

        ``timeout`` bounds the whole collection (not each wait), so a stream of
        replies cannot stretch the call beyond it.
        """
        chan = channel or self.connection.default_channel
        queue = self.reply_queue
        responses: list[Any] = list(self.unclaimed.pop(ticket, ()))
        collector = _ReplyCollector(self, ticket, responses, callback)
        consumer = Consumer(chan, [queue], accept=self.accept if accept is None else accept,
                            no_ack=True, callbacks=[collector])
        try:
            with consumer:
                conn = self.connection or chan.connection.client
                _drain_until(conn, responses, limit, timeout)
            return responses
        finally:
            after_reply = getattr(chan, 'after_reply_message_received', None)
            if after_reply is not None:
                after_reply(queue.name)


class _ReplyCollector:
    """Consumer callback of :meth:`Mailbox._collect` for one ticket."""

    __slots__ = ('mailbox', 'ticket', 'responses', 'callback')

    def __init__(self, mailbox: Mailbox, ticket: str, responses: list[Any],
                 callback: Callable[[Any], Any] | None) -> None:
        self.mailbox = mailbox
        self.ticket = ticket
        self.responses = responses
        self.callback = callback

    def __call__(self, body: Any, message: Any) -> None:
        header = message.headers.get
        self.mailbox.clock.adjust(header('clock') or 0)
        expires = header('expires')
        if expires and time.time() > expires:
            return
        this_id = header('ticket', self.ticket)
        if this_id != self.ticket:
            # Another call's reply on this reply queue (a late one, or from a
            # split ``_publish``/``_collect`` use): keep it, bounded.
            _remember_unclaimed(self.mailbox.unclaimed, this_id, body)
            return
        if self.callback is not None:
            self.callback(body)
        self.responses.append(body)


def _drain_until(conn: Any, responses: list[Any], limit: int | None,
                 timeout: float | None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while not (limit and len(responses) >= limit):
        remaining = None
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
        try:
            conn.drain_events(timeout=remaining)
        except socket.timeout:
            return


#: Upper bound of tickets held in ``Mailbox.unclaimed`` (late replies).
_MAX_UNCLAIMED = 100


def _remember_unclaimed(unclaimed: defaultdict[str, deque[Any]], ticket: str,
                        body: Any) -> None:
    # Late replies nobody waits for would otherwise pile up forever.
    if ticket not in unclaimed and len(unclaimed) >= _MAX_UNCLAIMED:
        unclaimed.pop(next(iter(unclaimed)))
    unclaimed[ticket].append(body)


def _check_address(destination: Any, pattern: Any, matcher: Any) -> None:
    if destination is not None and not isinstance(destination, (list, tuple)):
        raise ValueError(
            f'destination must be a list/tuple not {type(destination).__name__}')
    if (pattern is not None and not isinstance(pattern, str)) or \
            (matcher is not None and not isinstance(matcher, str)):
        raise ValueError(f'pattern and matcher must be strings not '
                         f'{type(pattern).__name__}, {type(matcher).__name__}')
