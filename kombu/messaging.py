"""Sending and receiving messages: Producer and Consumer."""
from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from itertools import count
from threading import local
from types import TracebackType
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Type

from .common import _declared_entities, maybe_declare
from .compression import compress
from .connection import PooledConnection, is_connection, maybe_channel
from .entity import PERSISTENT_DELIVERY_MODE, Exchange, Queue, maybe_delivery_mode
from .exceptions import ContentDisallowed, UnknownArgumentWarning
from .message import hooks
from .serialization import dumps, prepare_accept_content
from .utils.functional import ChannelPromise, maybe_list

__all__ = ('Exchange', 'Queue', 'Producer', 'Consumer')

#: Messages buffered by :meth:`Producer.batch` before they are sent.
DEFAULT_BATCH_SIZE = 1000

#: Message properties ``Producer.publish`` passes on without a word: AMQP's
#: basic properties. Other extra keywords are passed on too (Celery sends its
#: own through ``**properties``) unless they look like a mistaken argument.
MESSAGE_PROPERTIES = frozenset({
    'content_type', 'content_encoding', 'application_headers', 'delivery_mode',
    'priority', 'correlation_id', 'reply_to', 'expiration', 'message_id', 'timestamp',
    'type', 'user_id', 'app_id', 'cluster_id',
})
#: Keywords people pass to ``publish`` meaning one of its arguments.
_PUBLISH_MISTAKES = {
    'key': 'routing_key', 'routingkey': 'routing_key', 'routing': 'routing_key',
    'queue': "routing_key=queue.name (and declare=[queue])", 'header': 'headers',
    'serialiser': 'serializer', 'compress': 'compression', 'exchange_name': 'exchange',
}
_PUBLISH_ARGUMENTS = (
    'routing_key', 'delivery_mode', 'mandatory', 'immediate', 'priority',
    'content_type', 'content_encoding', 'serializer', 'compression', 'exchange',
    'retry_policy', 'expiration', 'confirm_timeout',
)
#: extra keyword -> what it probably meant (None: a property, pass it on).
_extra_verdicts: Dict[str, Optional[str]] = {}


def _check_publish_extras(properties: Dict[str, Any]) -> None:
    for name in properties:
        if name in MESSAGE_PROPERTIES:
            continue
        try:
            meant = _extra_verdicts[name]
        except KeyError:
            meant = _PUBLISH_MISTAKES.get(name)
            if meant is None and len(name) >= 8:
                close = difflib.get_close_matches(name, _PUBLISH_ARGUMENTS, 1, 0.85)
                meant = close[0] if close else None
            if len(_extra_verdicts) < 1000:  # bounded: names may be generated
                _extra_verdicts[name] = meant
        if meant is not None:
            warnings.warn(
                f'Producer.publish() got {name}={properties[name]!r}, which is not one of '
                f'its arguments: it is sent as a message property. Did you mean {meant}?',
                UnknownArgumentWarning, stacklevel=3)


class Producer:
    """Publishes messages to an exchange.

    Arguments:
        channel: Channel, or a :class:`~kombu.Connection` (its default
            channel is used, created on first publish).
        exchange: Default exchange (an :class:`Exchange` or its name);
            default is the broker's default exchange ``''``.
        routing_key: Default routing key.
        serializer: Default serializer (default ``json``).
        auto_declare: Declare the default exchange before publishing
            (once per connection; default True).
        compression: Default compression method (default none).
        on_return: Called as ``(exception, exchange, routing_key, message)``
            for unroutable ``mandatory`` messages (the producer's connection
            must drain events).
    """

    exchange: Any = None
    routing_key = ''
    serializer: Optional[str] = None
    compression: Optional[str] = None
    auto_declare = True
    on_return: Optional[Callable[..., Any]] = None

    #: The connection given instead of a channel, if any.
    __connection__: Any = None

    def __init__(self, channel: Any, exchange: Any = None,
                 routing_key: Optional[str] = None, serializer: Optional[str] = None,
                 auto_declare: Optional[bool] = None, compression: Optional[str] = None,
                 on_return: Optional[Callable[..., Any]] = None) -> None:
        self._channel = channel
        if exchange is None:
            exchange = Exchange('')
        elif isinstance(exchange, str):
            exchange = Exchange(exchange)
        elif not callable(exchange):  # an Exchange binds by being called
            raise TypeError(f'exchange must be an Exchange or a name, not {exchange!r}')
        self.exchange = exchange
        self.routing_key = routing_key or self.routing_key
        self.serializer = serializer or self.serializer
        self.compression = compression or self.compression
        self.on_return = on_return or self.on_return
        self._batch_local = local()
        if auto_declare is not None:
            self.auto_declare = auto_declare
        if self._channel:
            self.revive(self._channel)

    def __repr__(self) -> str:
        return f'<Producer: {self._channel}>'

    def __reduce__(self) -> Tuple[Any, ...]:
        return self.__class__, self.__reduce_args__()

    def __reduce_args__(self) -> Tuple[Any, ...]:
        return (None, self.exchange, self.routing_key, self.serializer,
                self.auto_declare, self.compression)

    def declare(self) -> None:
        """Declare the default exchange (``publish`` does this when needed)."""
        if self.exchange.name:
            self.exchange.declare()

    def maybe_declare(self, entity: Any, retry: bool = False, **retry_policy: Any) -> Any:
        """Declare ``entity`` unless it was declared already on this connection."""
        if entity:
            return maybe_declare(entity, self.channel, retry, **retry_policy)
        return None

    def publish(self, body: Any, routing_key: Optional[str] = None,
                delivery_mode: Any = None, mandatory: bool = False,
                immediate: bool = False, priority: int = 0,
                content_type: Optional[str] = None,
                content_encoding: Optional[str] = None,
                serializer: Optional[str] = None,
                headers: Optional[Dict[str, Any]] = None,
                compression: Optional[str] = None, exchange: Any = None,
                retry: bool = False, retry_policy: Optional[Dict[str, Any]] = None,
                declare: Optional[Sequence[Any]] = None,
                expiration: Optional[float] = None, timeout: Optional[float] = None,
                confirm_timeout: Optional[float] = None, **properties: Any) -> Any:
        """Publish a message.

        ``body`` is serialized with ``serializer`` unless ``content_type`` is
        given (then str is encoded with ``content_encoding``, default utf-8,
        and bytes are sent as they are). ``expiration`` is a TTL in seconds;
        ``declare`` lists entities to declare first (once per connection);
        with ``retry`` the whole operation is retried through
        ``Connection.ensure`` with ``retry_policy``. Other keyword arguments
        are message properties (``reply_to``, ``correlation_id``, ...): AMQP's
        basic properties (:data:`MESSAGE_PROPERTIES`) and any other name are
        passed on, as Kombu does and Celery relies on, but a name that looks
        like a mistaken argument (``key``, ``queue``, ``serialiser``, a near
        miss of ``routing_key``...) is warned about
        (:class:`~kombu.exceptions.UnknownArgumentWarning`).
        """
        # The common case (Celery's and the benchmarks') is kept inline and
        # flat: every step below runs once per message.
        if properties:
            _check_publish_extras(properties)
        if routing_key is None:
            routing_key = self.routing_key
        if compression is None:
            compression = self.compression
        default_exchange = self.exchange
        exchange = exchange or default_exchange
        if isinstance(exchange, Exchange):
            exchange_name = exchange.name
            mode = delivery_mode or exchange.delivery_mode
        else:  # a name: messages get the default exchange's delivery mode
            exchange_name = exchange
            mode = delivery_mode or default_exchange.delivery_mode
        if mode is None:
            properties['delivery_mode'] = PERSISTENT_DELIVERY_MODE  # what maybe_delivery_mode gives
        else:
            properties['delivery_mode'] = (
                mode if mode.__class__ is int and mode else maybe_delivery_mode(mode))
        if expiration is not None:
            properties['expiration'] = str(int(expiration * 1000))
        if headers is None:
            headers = {}
        elif compression or hooks.before_publish:
            headers = dict(headers)  # what we add must not leak to the caller's dict
        if hooks.before_publish:
            hooks.run(hooks.before_publish, self, headers, properties,
                      exchange_name, routing_key)
        if content_type or compression:
            body, content_type, content_encoding = self._prepare(
                body, serializer, content_type, content_encoding, compression, headers)
        else:
            content_type, content_encoding, body = dumps(
                body, serializer=serializer or self.serializer)
        if declare or (self.auto_declare and default_exchange.name):
            entities = self._entities_to_declare(declare)
        else:
            entities = ()
        if retry:
            retry_policy = retry_policy or {}
            publish = self.connection.ensure(self, self._publish, **retry_policy)
            result = publish(body, priority, content_type, content_encoding, headers,
                             properties, routing_key, mandatory, immediate, exchange_name,
                             entities, timeout, confirm_timeout, retry, retry_policy)
        else:
            result = self._publish(body, priority, content_type, content_encoding, headers,
                                   properties, routing_key, mandatory, immediate,
                                   exchange_name, entities, timeout, confirm_timeout)
        if hooks.after_publish:
            hooks.run(hooks.after_publish, self, headers, properties,
                      exchange_name, routing_key, body)
        return result

    def _entities_to_declare(self, declare: Optional[Sequence[Any]]) -> Sequence[Any]:
        if self.auto_declare and self.exchange.name:
            return (self.exchange, *declare) if declare else (self.exchange,)
        return declare or ()

    def _publish(self, body: Any, priority: int, content_type: Optional[str],
                 content_encoding: Optional[str], headers: Dict[str, Any],
                 properties: Dict[str, Any], routing_key: str, mandatory: bool,
                 immediate: bool, exchange: str, declare: Sequence[Any],
                 timeout: Optional[float] = None, confirm_timeout: Optional[float] = None,
                 retry: bool = False, retry_policy: Optional[Dict[str, Any]] = None) -> Any:
        channel = self.channel
        if declare:
            if retry:
                connection = self.connection
                self._declare(channel, declare, True, retry_policy or {})
                if not channel.connection and connection is not None:
                    # The declare's own retry reconnected and revived only the
                    # entity: the channel read above is dead, use the new one.
                    self.revive(connection.default_channel)
                    channel = self.channel
            else:
                self._declare(channel, declare, False, {})
        if 'reply_to' in properties:
            reply_to = properties['reply_to']
            if isinstance(reply_to, Queue):  # server-named queues get their name at declare
                properties['reply_to'] = reply_to.name
        message = channel.prepare_message(
            body, priority, content_type, content_encoding, headers, properties)
        batch = self._batch_local.__dict__.get('current')
        if batch is not None:
            return batch.publish(
                channel, message, exchange=exchange, routing_key=routing_key,
                mandatory=mandatory, immediate=immediate, timeout=timeout,
                confirm_timeout=confirm_timeout)
        return channel.basic_publish(
            message, exchange=exchange, routing_key=routing_key, mandatory=mandatory,
            immediate=immediate, timeout=timeout, confirm_timeout=confirm_timeout)

    def _declare(self, channel: Any, entities: Iterable[Any], retry: bool,
                 retry_policy: Dict[str, Any]) -> None:
        # The connection's declaration cache is consulted first, so the steady
        # state costs a hash lookup per entity and copies nothing.
        declared = _declared_entities(channel)
        if not isinstance(declared, (set, frozenset, dict)):
            declared = None  # e.g. a mock: let maybe_declare decide
        for entity in entities:
            if (declared is not None and entity.can_cache_declaration
                    and hash(entity) in declared):
                continue
            self.maybe_declare(entity, retry=retry, **retry_policy)

    def _prepare(self, body: Any, serializer: Optional[str] = None,
                 content_type: Optional[str] = None,
                 content_encoding: Optional[str] = None,
                 compression: Optional[str] = None,
                 headers: Optional[Dict[str, Any]] = None
                 ) -> Tuple[Any, Optional[str], Optional[str]]:
        """Serialize (and compress) ``body``; the compression goes in ``headers``."""
        if not content_type:
            content_type, content_encoding, body = dumps(
                body, serializer=serializer or self.serializer)
        elif isinstance(body, str):
            content_encoding = content_encoding or 'utf-8'
            body = body.encode(content_encoding)
        elif not content_encoding:
            content_encoding = 'binary'  # bytes of unknown meaning
        if compression:
            body, compression_type = compress(body, compression)
            if headers is not None:
                headers['compression'] = compression_type
        return body, content_type, content_encoding

    def _get_channel(self) -> Any:
        channel = self._channel
        if isinstance(channel, ChannelPromise):
            channel = self._channel = channel()
            self.exchange.revive(channel)
            if self.on_return:
                channel.events['basic_return'].add(self.on_return)
        return channel

    def _set_channel(self, channel: Any) -> None:
        self._channel = channel

    channel = property(_get_channel, _set_channel)

    def revive(self, channel: Any) -> None:
        """Use ``channel`` (or a connection's default channel) from now on."""
        if is_connection(channel):
            connection = channel
            self.__connection__ = connection
            channel = ChannelPromise(lambda: connection.default_channel)
        self._channel = channel
        if self.on_return and not isinstance(channel, ChannelPromise):
            channel.events['basic_return'].add(self.on_return)
        self.exchange = self.exchange(channel)

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc_val: Optional[BaseException],
                 exc_tb: Optional[TracebackType]) -> None:
        # A pooled connection that failed is replaced rather than reused.
        conn = self.__connection__
        if exc_type is not None and isinstance(conn, PooledConnection):
            conn._pool.replace(conn)
        self.release()

    def release(self) -> None:
        """Release resources (nothing to do for a plain producer)."""

    close = release

    @property
    def connection(self) -> Any:
        """The :class:`~kombu.Connection` this producer publishes through."""
        try:
            return self.__connection__ or self.channel.connection.client
        except AttributeError:
            return None

    @property
    def supports_batch_publish(self) -> bool:
        """True if publishes inside :meth:`batch` are really deferred and grouped.

        Needs the transport capability ``implements.batch_publish``; the
        channel (or transport) may switch it off with a
        ``supports_batch_publish`` attribute.
        """
        connection = self.connection
        if connection is None:
            return False
        transport = connection.transport
        capable = getattr(transport.implements, 'batch_publish', False)
        if not capable:
            return False
        channel = self._channel
        source = transport if channel is None or isinstance(channel, ChannelPromise) \
            else channel
        return bool(getattr(source, 'supports_batch_publish', capable))

    def batch(self, max_size: int = DEFAULT_BATCH_SIZE) -> _PublishBatch:
        """Group the :meth:`publish` calls made inside ``with producer.batch():``.

        On transports that support it the messages are handed over in groups
        of up to ``max_size`` (``channel.create_publish_batch``); elsewhere
        each publish is sent at once. Leaving the outermost block normally
        flushes; an exception discards what was not flushed yet. Batches are
        per thread; nested blocks join the outer batch.
        """
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= 0:
            raise ValueError(f'max_size must be a positive integer, not {max_size!r}')
        return _PublishBatch(self, max_size)


class _BatchSession:
    """The state of one outermost :meth:`Producer.batch` block (one thread)."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.transport_batch: Any = None
        self.unbatched = False  # transport cannot batch: publish directly
        self.aborted = False

    def _batch_for(self, channel: Any) -> Any:
        if self.unbatched:
            return None
        current = self.transport_batch
        if current is None:
            create = getattr(channel, 'create_publish_batch', None)
            if create is None or not getattr(channel, 'supports_batch_publish', True):
                self.unbatched = True
                return None
            current = self.transport_batch = create(max_size=self.max_size)
        elif current.channel is not channel:
            raise RuntimeError('The producer channel changed during a publish batch')
        return current

    def publish(self, channel: Any, message: Any, **kwargs: Any) -> Any:
        if self.aborted:
            raise RuntimeError('Cannot publish through an aborted batch')
        transport_batch = self._batch_for(channel)
        if transport_batch is None:
            return channel.basic_publish(message, **kwargs)
        return transport_batch.publish(message, **kwargs)

    def flush(self) -> None:
        if self.aborted:
            raise RuntimeError('Cannot flush an aborted batch')
        if self.transport_batch is not None:
            self.transport_batch.flush()

    def abort(self) -> None:
        if not self.aborted:
            self.aborted = True
            if self.transport_batch is not None:
                self.transport_batch.discard()

    def close(self) -> None:
        if self.transport_batch is not None:
            self.transport_batch.close()


class _PublishBatch:
    """Context manager returned by :meth:`Producer.batch`."""

    def __init__(self, producer: Producer, max_size: int) -> None:
        self.producer = producer
        self.max_size = max_size
        self.session: Optional[_BatchSession] = None
        self.outermost = False
        self.used = False
        self.active = False

    def __enter__(self) -> _PublishBatch:
        if self.used:
            raise RuntimeError('A publish batch block cannot be re-entered')
        self.used = self.active = True
        local = self.producer._batch_local
        session = getattr(local, 'current', None)
        if session is None:
            session = local.current = _BatchSession(self.max_size)
            self.outermost = True
        self.session = session
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc_val: Optional[BaseException], exc_tb: Optional[TracebackType]) -> None:
        session = self.session
        if session is None:
            return
        error: Optional[BaseException] = None
        try:
            if self.outermost:
                del self.producer._batch_local.current
            if exc_type is not None:
                error = _capture(session.abort)
            if self.outermost:
                if exc_type is None and not session.aborted:
                    error = _capture(session.flush)
                close_error = _capture(session.close)  # always, even after errors
                error = error or close_error
        finally:
            self.active = False
        if exc_type is None and error is not None:
            raise error

    def flush(self) -> None:
        """Send what the batch holds now."""
        if not self.active or self.session is None:
            raise RuntimeError('This publish batch block is not active')
        self.session.flush()


def _capture(fun: Callable[[], Any]) -> Optional[BaseException]:
    try:
        fun()
    except BaseException as exc:  # reported after cleanup finished
        return exc
    return None


class Consumer:
    """Consumes messages from one or more queues.

    Arguments:
        channel: Channel or :class:`~kombu.Connection`.
        queues: A :class:`Queue` or a list of them.
        no_ack: Let the broker consider messages acked on delivery.
        auto_declare: Declare the queues (and exchanges, bindings) at start.
        callbacks: Called as ``callback(body, message)`` for each message.
        on_decode_error: Called as ``(message, exc)`` when a body cannot be
            decoded; without it the error propagates from ``drain_events``.
        on_message: Called as ``on_message(message)`` instead of decoding
            and calling ``callbacks``.
        accept: Content types (or serializer names) allowed; others raise
            :exc:`~kombu.exceptions.ContentDisallowed` when decoded.
        prefetch_count: Set with ``basic_qos`` at start.
        tag_prefix: Prefix of generated consumer tags.
        max_decompressed_size: The most bytes a compressed body may inflate
            to; past it decoding raises
            :exc:`~kombu.exceptions.DecompressionLimitExceeded` (handed to
            ``on_decode_error``; the message is left unacknowledged). Default:
            the connection's ``transport_options['max_decompressed_size']``,
            else :data:`kombu.compression.DEFAULT_MAX_DECOMPRESSED_SIZE`
            (576 MiB).
    """

    ContentDisallowed = ContentDisallowed

    channel: Any = None
    no_ack: Optional[bool] = None
    auto_declare = True
    callbacks: Any = None
    on_message: Optional[Callable[[Any], Any]] = None
    on_decode_error: Optional[Callable[[Any, Exception], Any]] = None
    accept: Any = None
    prefetch_count: Optional[int] = None
    max_decompressed_size: Optional[int] = None

    _queues: Dict[str, Queue]

    #: Consumer tags are unique in the process.
    _tags = count(1)

    def __init__(self, channel: Any, queues: Any = None, no_ack: Optional[bool] = None,
                 auto_declare: Optional[bool] = None,
                 callbacks: Optional[List[Callable[[Any, Any], Any]]] = None,
                 on_decode_error: Optional[Callable[[Any, Exception], Any]] = None,
                 on_message: Optional[Callable[[Any], Any]] = None,
                 accept: Any = None, prefetch_count: Optional[int] = None,
                 tag_prefix: Optional[str] = None,
                 max_decompressed_size: Optional[int] = None) -> None:
        self.channel = channel
        self.queues = _as_list(queues)
        self.no_ack = self.no_ack if no_ack is None else no_ack
        self.callbacks = (self.callbacks or [] if callbacks is None else callbacks)
        self.on_message = on_message
        self.tag_prefix = tag_prefix
        self._active_tags: Dict[str, str] = {}
        self._active_queue_no_ack: Dict[str, Optional[bool]] = {}
        if auto_declare is not None:
            self.auto_declare = auto_declare
        if on_decode_error is not None:
            self.on_decode_error = on_decode_error
        self.accept = prepare_accept_content(accept)
        self.prefetch_count = prefetch_count
        if max_decompressed_size is not None:
            self.max_decompressed_size = int(max_decompressed_size)
        if self.channel:
            self.revive(self.channel)

    @property
    def queues(self) -> List[Queue]:
        return list(self._queues.values())

    @queues.setter
    def queues(self, queues: Iterable[Queue]) -> None:
        self._queues = {q.name: q for q in queues}

    def revive(self, channel: Any) -> None:
        """Start over on ``channel`` (after a reconnect).

        Queues are rebound (and redeclared with ``auto_declare``), QoS is set
        again, and consuming resumes on the queues that were being consumed.
        """
        was_consuming = dict(self._active_queue_no_ack)
        self._active_tags.clear()
        self._active_queue_no_ack.clear()
        channel = self.channel = maybe_channel(channel)
        if self.max_decompressed_size is None:
            self.max_decompressed_size = _option_max_decompressed_size(channel)
        for name, queue in list(self._queues.items()):
            self._queues.pop(name, None)
            queue = queue(channel)
            queue.revive(channel)
            self._queues[queue.name] = queue
        if self.auto_declare:
            self.declare()
        if self.prefetch_count is not None:
            self.qos(prefetch_count=self.prefetch_count)
        self._consume_queues(was_consuming)

    def declare(self) -> None:
        """Declare the queues, their exchanges and bindings."""
        renamed = False
        for queue in self._queues.values():
            name = queue.name
            queue.declare()
            renamed = renamed or queue.name != name
        if renamed:  # server-named queues are keyed by their new names
            self.queues = list(self._queues.values())

    def register_callback(self, callback: Callable[[Any, Any], Any]) -> None:
        """Add a ``callback(body, message)``."""
        self.callbacks.append(callback)

    def __enter__(self) -> Consumer:
        self.consume()
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc_val: Optional[BaseException],
                 exc_tb: Optional[TracebackType]) -> None:
        # After a connection error there is nothing left to cancel.
        if self.channel and self.channel.connection:
            conn_errors = self.channel.connection.client.connection_errors
            if not isinstance(exc_val, conn_errors):
                try:
                    self.cancel()
                except Exception:
                    pass

    def add_queue(self, queue: Queue) -> Queue:
        """Add a queue (declared if ``auto_declare``); :meth:`consume` starts it."""
        queue = queue(self.channel)
        if self.auto_declare:
            queue.declare()
        self._queues[queue.name] = queue
        return queue

    def consume(self, no_ack: Optional[bool] = None) -> None:
        """Start consuming from every queue not consumed from yet."""
        no_ack = self.no_ack if no_ack is None else no_ack
        self._consume_queues({name: no_ack for name in self._queues})

    def _consume_queues(self, no_ack_by_queue: Dict[str, Optional[bool]]) -> None:
        queues = [q for q in self._queues.values() if q.name in no_ack_by_queue]
        if not queues:
            return
        # nowait for all but the last: one round trip confirms them all
        for queue in queues[:-1]:
            self._basic_consume(queue, no_ack=no_ack_by_queue[queue.name], nowait=True)
        last = queues[-1]
        self._basic_consume(last, no_ack=no_ack_by_queue[last.name], nowait=False)

    def cancel(self) -> None:
        """Stop all consumers (messages already delivered stay unacked)."""
        cancel = self.channel.basic_cancel
        for name, tag in list(self._active_tags.items()):
            cancel(tag)
            self._active_tags.pop(name, None)
            self._active_queue_no_ack.pop(name, None)

    close = cancel

    def cancel_by_queue(self, queue: Any) -> None:
        """Stop consuming from ``queue`` (a Queue or a name) and forget it."""
        name = queue.name if isinstance(queue, Queue) else queue
        self._active_queue_no_ack.pop(name, None)
        try:
            tag = self._active_tags.pop(name)
        except KeyError:
            pass
        else:
            self.channel.basic_cancel(tag)
        finally:
            self._queues.pop(name, None)

    def consuming_from(self, queue: Any) -> bool:
        """True if currently consuming from ``queue`` (a Queue or a name)."""
        name = queue.name if isinstance(queue, Queue) else queue
        return name in self._active_tags

    def purge(self) -> int:
        """Remove all ready messages from all queues; returns how many."""
        return sum(queue.purge() for queue in self._queues.values())

    def flow(self, active: bool) -> None:
        """Ask the broker to pause (False) or resume (True) sending."""
        self.channel.flow(active)

    def qos(self, prefetch_size: int = 0, prefetch_count: int = 0,
            apply_global: bool = False) -> Any:
        """Limit unacked messages in flight (``basic_qos``)."""
        return self.channel.basic_qos(prefetch_size, prefetch_count, apply_global)

    def recover(self, requeue: bool = False) -> Any:
        """Ask the broker to redeliver unacked messages."""
        return self.channel.basic_recover(requeue=requeue)

    def receive(self, body: Any, message: Any) -> None:
        """Call every callback with ``(body, message)``."""
        callbacks = self.callbacks
        if not callbacks:
            raise NotImplementedError('Consumer does not have any callbacks')
        for callback in callbacks:
            callback(body, message)

    def _basic_consume(self, queue: Queue, consumer_tag: Optional[str] = None,
                       no_ack: Optional[bool] = no_ack, nowait: bool = True) -> str:
        tag = self._active_tags.get(queue.name)
        if tag is None:
            tag = self._add_tag(queue, consumer_tag)
            queue.consume(tag, self._receive_callback, no_ack=no_ack, nowait=nowait)
            self._active_queue_no_ack[queue.name] = no_ack
        return tag

    def _add_tag(self, queue: Queue, consumer_tag: Optional[str] = None) -> str:
        tag = consumer_tag or f'{self.tag_prefix or ""}{next(self._tags)}'
        self._active_tags[queue.name] = tag
        return tag

    def _receive_callback(self, message: Any) -> Any:
        accept = self.accept
        on_m, channel, decoded = self.on_message, self.channel, None
        try:
            m2p = getattr(channel, 'message_to_python', None)
            if m2p:
                message = m2p(message)
            if accept is not None:
                message.accept = accept
            if self.max_decompressed_size is not None:
                message.max_decompressed_size = self.max_decompressed_size
            if hooks.on_message:
                hooks.run(hooks.on_message, self, message)
            if message.errors:
                return message._reraise_error(self.on_decode_error)
            decoded = None if on_m else message.decode()
        except Exception as exc:
            if not self.on_decode_error:
                raise
            self.on_decode_error(message, exc)
            return None
        return on_m(message) if on_m else self.receive(decoded, message)

    def __repr__(self) -> str:
        return f'<{type(self).__name__}: {self.queues}>'

    @property
    def connection(self) -> Any:
        """The :class:`~kombu.Connection` of the channel."""
        try:
            return self.channel.connection.client
        except AttributeError:
            return None


def _option_max_decompressed_size(channel: Any) -> Optional[int]:
    try:
        options = channel.connection.client.transport_options or {}
    except AttributeError:
        return None
    if not isinstance(options, Mapping):  # a test double's channel
        return None
    value = options.get('max_decompressed_size')
    return None if value is None else int(value)


def _as_list(queues: Any) -> List[Queue]:
    if not queues:
        return []
    if isinstance(queues, Queue):
        return [queues]
    if isinstance(queues, str):
        raise TypeError(f'queues must be Queue objects, not the name {queues!r} '
                        f'(use Queue({queues!r}))')
    return maybe_list(queues)
