"""Virtual transport: the AMQ model emulated on top of a simple message store.

A store implements the hooks of :class:`AbstractChannel` (``_get``, ``_put``,
``_purge``, ``_size``, ``_delete``, ``_new_queue``, ``_has_queue``, ``_poll``
and, for fanout, ``_queue_bind``/``_put_fanout``/``get_table``); routing,
acknowledgements, prefetch, restore of unacked messages, message TTL,
dead-lettering and priorities are implemented here and in the sibling
modules (``routing``, ``qos``, ``ttl``, ``state``, ``message``), once.
"""
from __future__ import annotations

import logging
import socket
from array import array
from binascii import b2a_base64
from itertools import count
from queue import Empty
from time import monotonic, sleep
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence
from uuid import uuid4

from amqp.protocol import queue_declare_ok_t  # type: ignore[import-untyped]

from kombu.exceptions import ChannelError, DecodeError, EncodeError, ResourceError
from kombu.transport import base
from kombu.utils.scheduling import FairCycle

from . import ttl
from .delivery import Prefetched, consumer_entry_t
from .exchange import STANDARD_EXCHANGE_TYPES, ExchangeType, FanoutExchange
from .message import CORRUPT, Base64, Message, next_delivery_tag, original_envelope
from .options import TransportOptions
from .qos import RESTORE_PANIC_FMT, RESTORING_FMT, QoS
from .routing import UNDELIVERABLE_FMT, RoutingMixin, UndeliverableWarning
from .state import BrokerState, QueuePolicy, binding_key_t, queue_binding_t

if TYPE_CHECKING:
    from types import TracebackType

__all__ = (
    'Base64', 'NotEquivalentError', 'UndeliverableWarning', 'BrokerState',
    'QoS', 'Message', 'AbstractChannel', 'Channel', 'Management', 'Transport',
    'Empty', 'binding_key_t', 'queue_binding_t',
)

ARRAY_TYPE_H = 'H'

NOT_EQUIVALENT_FMT = """\
Cannot redeclare exchange {0!r} in vhost {1!r} with \
different type, durable, autodelete or arguments value.\
"""

W_NO_CONSUMERS = """\
Requeuing undeliverable message for queue %r: No consumers.\
"""

logger = logging.getLogger(__name__)

EXPIRES_AT = ttl.EXPIRES_AT
# Names defined elsewhere, part of this module's public face (as in Kombu).
_REEXPORTED = (Base64, Message, RESTORING_FMT, RESTORE_PANIC_FMT, UNDELIVERABLE_FMT,
               UndeliverableWarning)


class NotEquivalentError(Exception):
    """An entity was redeclared with a different definition."""


_VMessage = Message
_VQoS = QoS


class AbstractChannel:
    """The storage hooks a virtual transport implements (subclass :class:`Channel`)."""

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        """Remove and return the next message of ``queue``; raise ``Empty`` if none."""
        raise NotImplementedError('Virtual channels must implement _get')

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        """Append ``message`` to ``queue``."""
        raise NotImplementedError('Virtual channels must implement _put')

    def _purge(self, queue: str) -> int:
        """Remove every message of ``queue``; return how many."""
        raise NotImplementedError('Virtual channels must implement _purge')

    def _size(self, queue: str) -> int:
        """Return the number of messages in ``queue``."""
        return 0

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        """Delete ``queue`` (``args``: exchange, routing key, pattern of a binding)."""
        self._purge(queue)

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        """Create ``queue`` if the store needs it (``kwargs`` as in queue_declare)."""

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        """Return true if ``queue`` exists."""
        return True

    def _poll(self, cycle: Any, callback: Callable[..., Any],
              timeout: float | None = None) -> Any:
        """Deliver one message of the queues in ``cycle`` to ``callback``."""
        return cycle.get(callback)

    def _get_batch(self, queue: str, limit: int) -> list[dict[str, Any]]:
        """Remove and return up to ``limit`` (at least one) messages of ``queue``.

        Oldest first; raise ``Empty`` if there is none.  Optional: a store that
        can fetch several messages at once implements it, and ``drain_events``
        then hands them over one per call (the rest wait, recorded as unacked).
        """
        raise NotImplementedError('optional hook')

    def _get_and_deliver(self, queue: str, callback: Callable[..., Any]) -> None:
        message = self._get(queue)
        callback(message, queue)


class Channel(RoutingMixin, AbstractChannel, base.StdChannel):
    """Virtual channel.

    Arguments:
        connection: the :class:`Transport` this channel belongs to.
    """

    #: message class used.
    Message = Message

    #: QoS class used.
    QoS = QoS

    #: typed ``transport_options`` of this transport (subclass and add fields);
    #: built once per connection, read as ``channel.options``.
    Options: type[TransportOptions] = TransportOptions

    #: restore unacked messages when the channel closes.
    do_restore = True

    #: exchange type name -> class (instantiated per channel).
    exchange_types: dict[str, Any] = dict(STANDARD_EXCHANGE_TYPES)

    #: set if the store shares fanout tables between clients.
    supports_fanout = False

    #: binary <-> ASCII body codecs.
    codecs = {'base64': Base64()}

    #: default body encoding (``transport_options['body_encoding']`` overrides).
    body_encoding = 'base64'

    #: kept for compatibility: tags come from a process-wide source.
    _delivery_tags = count(1)

    #: queue receiving unroutable messages (``transport_options['deadletter_queue']``).
    deadletter_queue: str | None = None

    #: honour the per-message ``expiration`` property (RabbitMQ does, upstream
    #: Kombu's virtual transports don't).  ``False`` lets consumers see expired
    #: messages, e.g. so that Celery workers record expired tasks as revoked;
    #: queue ``x-message-ttl`` applies either way.
    honor_expiration: bool = True

    #: options copied from ``transport_options``.
    from_transport_options: tuple[str, ...] = (
        'body_encoding', 'deadletter_queue', 'honor_expiration')

    default_priority = 0
    min_priority = 0
    max_priority = 9

    #: memoize routes per routing key.  None: only when ``get_table`` is
    #: not overridden (a store reading shared tables sets it and calls
    #: ``state.invalidate_routes`` when the shared table changes).
    cache_routes: bool | None = None

    #: let ``basic_publish`` inline the routing hooks for a memoized route:
    #: None decides by the rule of :meth:`_choose_paths` (no routing hook
    #: overridden); set True or False in a subclass to choose explicitly.
    inline_routing: bool | None = None

    # Set per class by _choose_paths (read by the hot paths).
    _cache_routes: bool = True
    _keyed_type_names: frozenset[str] = frozenset()
    _plain_encode: bool = True
    _batched: bool = False
    _plain_poll: bool = True

    #: most messages one ``_get_batch`` call may fetch (QoS prefetch bounds it too).
    fetch_batch_size: int = 1
    _plain_base64: bool = True

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        self.connection = connection
        self._consumers: set[str] = set()
        self._cycle: FairCycle | None = None
        self._tag_to_queue: dict[str, str] = {}
        self._active_queues: list[str] = []
        self._qos: _VQoS | None = None
        #: queue -> (no_ack, callback) of the consumer of it on this channel.
        self._consumer_of: dict[str, consumer_entry_t] = {}
        #: fetched with a batch, recorded in QoS, not handed over yet.
        self._prefetched = Prefetched()
        self.closed = False
        self.exchange_types = {
            typ: cls(self) for typ, cls in self.exchange_types.items()
        }
        self.channel_id = self._get_free_channel_id()
        options = getattr(self.connection, 'options', None)
        if not isinstance(options, self.Options):  # a transport not built on ours
            options = self.Options.from_transport_options(
                self.connection.client.transport_options,
                extra_known=self.from_transport_options, warn=False)
        self.options = options
        self._apply_legacy_options(options)
        self._has_get_many = hasattr(self, '_get_many')
        self._codec_cache: dict[Any, Any] = {}
        self._publish_codec: tuple[Any, Any] = (object(), None)
        # The exchange instances that route by key alone (see _choose_paths).
        self._keyed_types = frozenset(
            self.exchange_types[name] for name in self._keyed_type_names
            if name in self.exchange_types)

    # -- the paths a channel class takes, chosen once per class ----------------

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._choose_paths()

    @classmethod
    def _choose_paths(cls) -> None:
        """Decide, once per class, which shortcuts the hot paths of ``cls`` may take.

        The rule: a shortcut inlines some hooks, so it is taken only when the
        class overrides none of them.  A class states its choice itself by
        setting :attr:`inline_routing` (or :attr:`cache_routes`) to a bool;
        None means "by the rule":

        * routes are memoized (``_cache_routes``) unless ``get_table`` is
          overridden (the store then reads shared tables);
        * ``basic_publish`` inlines ``typeof``/``_lookup``/``_queue_policy``/
          ``_put_message`` for a memoized route (``_plain_routing``) only if
          routes are memoized and none of the four is overridden;
        * exchange types whose ``deliver`` is the keyed default (and fanout,
          when ``_put_fanout`` is the default) are routed by ``_lookup`` on
          either path (``_keyed_type_names``);
        * ``drain_events`` fetches batches (``_batched``) when the store
          implements ``_get_batch``, and cycles over the queues itself
          (``_plain_poll``) unless ``_poll`` is overridden;
        * message bodies are encoded inline (``_plain_encode``) unless
          ``encode_body`` is overridden, and base64 bodies decoded inline
          (``_plain_base64``) unless ``decode_body`` or the base64 codec is
          replaced.
        """
        cache = cls.cache_routes
        if cache is None:
            cache = cls.get_table is Channel.get_table
        cls._cache_routes = cache
        inline = cls.inline_routing
        if inline is None:
            inline = (cls._lookup is RoutingMixin._lookup
                      and cls.typeof is Channel.typeof
                      and cls._queue_policy is Channel._queue_policy
                      and cls._put_message is RoutingMixin._put_message)
        cls._plain_routing = bool(cache and inline)
        fanout_by_key = cls.supports_fanout and cls._put_fanout is Channel._put_fanout
        cls._keyed_type_names = frozenset(
            name for name, typ in cls.exchange_types.items()
            if typ.deliver is ExchangeType.deliver
            or (fanout_by_key and typ.deliver is FanoutExchange.deliver))
        cls._batched = cls._get_batch is not AbstractChannel._get_batch
        cls._plain_poll = cls._poll is AbstractChannel._poll
        cls._plain_encode = cls.encode_body is Channel.encode_body
        cls._plain_base64 = (cls.decode_body is Channel.decode_body
                             and type(cls.codecs.get('base64')) is Base64)

    def _apply_legacy_options(self, options: TransportOptions) -> None:
        """Copy the ``from_transport_options`` keys the user gave onto the channel.

        Kombu's channels read these as attributes (``channel.body_encoding``),
        and a subclass's class attribute is its default, so only keys actually
        given override it: coerced by the options class when it has the field,
        as given otherwise (a third-party channel's own keys).
        """
        names = options.field_names()
        raw = options.raw
        for name in self.from_transport_options:
            if name in names:
                if options.given(name):
                    setattr(self, name, getattr(options, name))
            elif name in raw:
                setattr(self, name, raw[name])

    # -- exchanges -----------------------------------------------------------

    def exchange_declare(self, exchange: str | None = None, type: str = 'direct',
                         durable: bool = False, auto_delete: bool = False,
                         arguments: Mapping[str, Any] | None = None,
                         nowait: bool = False, passive: bool = False) -> None:
        """Declare an exchange."""
        type = type or 'direct'
        exchange = exchange or f'amq.{type}'
        exchanges = self.state.exchanges
        if passive:
            if exchange not in exchanges:
                raise self._not_found('exchange', exchange, 'Channel.exchange_declare')
            return
        if type not in self.exchange_types:
            raise ChannelError(f'exchange type {type!r} not supported by this transport '
                               f'(supported: {sorted(self.exchange_types)})')
        with self.state.lock:
            prev = exchanges.get(exchange)
            if prev is None:
                exchanges[exchange] = {
                    'type': type, 'durable': durable, 'auto_delete': auto_delete,
                    'arguments': arguments or {}, 'table': [],
                }
                self.state.invalidate_routes(exchange)
                return
        if not self.typeof(exchange).equivalent(prev, exchange, type, durable,
                                                  auto_delete, arguments):
            raise NotEquivalentError(NOT_EQUIVALENT_FMT.format(exchange, self._vhost))

    def exchange_delete(self, exchange: str, if_unused: bool = False,
                        nowait: bool = False) -> None:
        """Delete ``exchange`` and its bindings (the queues stay)."""
        state = self.state
        try:
            table = list(self.get_table(exchange))
        except KeyError:
            table = []
        if if_unused and table:
            return
        for rkey, pattern, queue in table:
            state.binding_delete(queue, exchange, rkey)
            if self.supports_fanout:
                self._queue_unbind(exchange, rkey, pattern, queue)
        state.exchanges.pop(exchange, None)
        state.invalidate_routes(exchange)

    def exchange_bind(self, destination: str, source: str = '', routing_key: str = '',
                      nowait: bool = False, arguments: Any = None) -> None:
        raise NotImplementedError('transport does not support exchange_bind')

    def exchange_unbind(self, destination: str, source: str = '', routing_key: str = '',
                        nowait: bool = False, arguments: Any = None) -> None:
        raise NotImplementedError('transport does not support exchange_unbind')

    def get_exchanges(self) -> list[str]:
        return list(self.state.exchanges)

    def get_table(self, exchange: str) -> list[Any]:
        """Return the bindings ``(routing_key, pattern, queue)`` of ``exchange``."""
        return self.state.exchanges[exchange]['table']

    def typeof(self, exchange: str, default: str = 'direct') -> ExchangeType:
        """Return the exchange type instance of ``exchange``."""
        try:
            type = self.state.exchanges[exchange]['type']
        except KeyError:
            type = default
        return self.exchange_types[type]

    # -- queues --------------------------------------------------------------

    def queue_declare(self, queue: str | None = None, passive: bool = False,
                      **kwargs: Any) -> queue_declare_ok_t:
        """Declare a queue; its ``x-`` arguments set TTL, expiry, DLX, priority."""
        queue = queue or f'amq.gen-{uuid4()}'
        self._sweep_expired_queues()
        if passive:
            if not self._has_queue(queue, **kwargs):
                raise self._not_found('queue', queue, 'Channel.queue_declare')
        else:
            self._declare_policy(queue, kwargs.get('arguments'))
            self._new_queue(queue, **kwargs)
            self._touch_queue(queue)  # redeclaring renews an x-expires lease
        return queue_declare_ok_t(queue, self._size(queue), self.state.consumers.get(queue, 0))

    def queue_delete(self, queue: str, if_unused: bool = False, if_empty: bool = False,
                     **kwargs: Any) -> int | None:
        """Delete ``queue`` with its messages and bindings."""
        state = self.state
        if if_unused and state.consumers.get(queue):
            return None
        size = self._size(queue)
        if if_empty and size:
            return None
        bindings = list(state.queue_bindings(queue))
        for exchange, routing_key, args in bindings:
            meta = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, args)
            self._remove_from_table(exchange, meta)
            self._delete(queue, exchange, *meta, **kwargs)
        if not bindings:
            self._delete(queue, **kwargs)
        state.queue_bindings_delete(queue)
        state.policies.pop(queue, None)
        state.last_used.pop(queue, None)
        return size

    def queue_bind(self, queue: str, exchange: str | None = None, routing_key: str = '',
                   arguments: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        """Bind ``queue`` to ``exchange`` with ``routing_key``."""
        exchange = exchange or 'amq.direct'
        state = self.state
        with state.lock:
            if state.has_binding(queue, exchange, routing_key):
                return
            state.binding_declare(queue, exchange, routing_key, arguments)
            meta = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, arguments)
            if exchange in state.exchanges:
                state.exchanges[exchange].setdefault('table', []).append(meta)
            state.invalidate_routes(exchange)  # again: after the table changed
        if self.supports_fanout:
            self._queue_bind(exchange, *meta)

    def queue_unbind(self, queue: str, exchange: str | None = None, routing_key: str = '',
                     arguments: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        """Remove the binding of ``queue`` to ``exchange`` with ``routing_key``."""
        exchange = exchange or 'amq.direct'
        state = self.state
        args = state.bindings.get(binding_key_t(queue, exchange, routing_key), arguments)
        state.binding_delete(queue, exchange, routing_key)
        meta = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, args)
        self._remove_from_table(exchange, meta)
        if self.supports_fanout:
            self._queue_unbind(exchange, *meta)

    def _remove_from_table(self, exchange: str, meta: Sequence[Any]) -> None:
        state = self.state
        with state.lock:
            decl = state.exchanges.get(exchange)
            if decl is not None:
                table = decl.get('table', [])
                table[:] = [m for m in table if tuple(m) != tuple(meta)]
            state.invalidate_routes(exchange)

    def list_bindings(self) -> Iterable[tuple[str, str, str]]:
        return ((queue, exchange, rkey)
                for exchange in list(self.state.exchanges)
                for rkey, pattern, queue in self.get_table(exchange))

    def queue_purge(self, queue: str, **kwargs: Any) -> int:
        """Remove the ready messages of ``queue``; return how many."""
        return self._purge(queue)

    def prepare_queue_arguments(self, arguments: Any, **kwargs: Any) -> Any:
        """Turn Kombu queue options (``message_ttl``...) into ``x-`` arguments."""
        return base.to_rabbitmq_queue_arguments(arguments or {}, **kwargs)

    def after_reply_message_received(self, queue: str) -> None:
        self.queue_delete(queue)

    # -- store hooks with defaults --------------------------------------------

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        """Store a binding in the shared table (``supports_fanout`` stores)."""

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        """Remove a binding from the shared table (``supports_fanout`` stores)."""

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str,
                    **kwargs: Any) -> None:
        """Deliver to every queue bound to the fanout ``exchange``."""
        self._put_routed(self._lookup(exchange, routing_key), message, **kwargs)

    def _put_front(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        """Put ``message`` at the head of ``queue`` (default: at the tail)."""
        self._put(queue, message, **kwargs)

    def _queue_policy(self, queue: str) -> QueuePolicy | None:
        """Return the TTL/DLX/priority policy of ``queue`` (stores may share it)."""
        return self.connection.state.policies.get(queue)

    def _declare_policy(self, queue: str, arguments: Mapping[str, Any] | None) -> None:
        policy = QueuePolicy.from_arguments(arguments)
        if policy is not None:
            self.state.policies[queue] = policy

    # -- publishing ----------------------------------------------------------

    def _next_delivery_tag(self) -> str:
        return next_delivery_tag()

    def prepare_message(self, body: Any, priority: int | None = None,
                        content_type: str | None = None,
                        content_encoding: str | None = None,
                        headers: dict[str, Any] | None = None,
                        properties: dict[str, Any] | None = None) -> dict[str, Any]:
        """Return the envelope stored for a message."""
        properties = properties or {}
        properties.setdefault('delivery_info', {})
        properties.setdefault('priority', priority or self.default_priority)
        return {'body': body,
                'content-encoding': content_encoding,
                'content-type': content_type,
                'headers': headers or {},
                'properties': properties}

    def basic_publish(self, message: dict[str, Any], exchange: str, routing_key: str,
                      mandatory: bool = False, immediate: bool = False,
                      timeout: float | None = None, confirm_timeout: float | None = None,
                      **kwargs: Any) -> None:
        """Publish an envelope made by :meth:`prepare_message`.

        Other keyword arguments, and the AMQP options above unless they have
        their default values, are passed on to the ``_put`` hook.
        """
        # Producer.publish passes the AMQP options every time, as Kombu does;
        # forwarding their defaults would rebuild a kwargs dict at every level
        # (and once per queue for fanout).
        if mandatory or immediate or timeout is not None or confirm_timeout is not None:
            kwargs.update(mandatory=mandatory, immediate=immediate, timeout=timeout,
                          confirm_timeout=confirm_timeout)
        self._inplace_augment_message(message, exchange, routing_key)
        if not exchange:  # default exchange: the routing key is the destination queue
            return self._put_message(routing_key, message, **kwargs)
        if self._plain_routing:
            # typeof, _lookup, _put_message and _queue_policy inlined for a
            # remembered route to one queue (stores that override none of them).
            state = self.connection.state
            decl = state.exchanges.get(exchange)
            typ = self.exchange_types[decl['type'] if decl is not None else 'direct']
            if typ in self._keyed_types:
                memo = state.routes.get(exchange)
                queues = memo.get(routing_key) if memo is not None else None
                if not queues:  # not remembered, or unroutable (deadletter_queue)
                    queues = self._lookup(exchange, routing_key)
                if len(queues) != 1:
                    return self._put_routed(queues, message, **kwargs)
                queue = queues[0]
                if ('expiration' in message['properties']
                        or state.policies.get(queue) is not None):
                    return self._put_message(queue, message, **kwargs)
                return self._put(queue, message, **kwargs)
            return typ.deliver(message, exchange, routing_key, **kwargs)
        typ = self.typeof(exchange)
        if typ in self._keyed_types:
            queues = self._lookup(exchange, routing_key)
            if len(queues) == 1:
                return self._put_message(queues[0], message, **kwargs)
            return self._put_routed(queues, message, **kwargs)
        return typ.deliver(message, exchange, routing_key, **kwargs)

    def _inplace_augment_message(self, message: dict[str, Any], exchange: str,
                                 routing_key: str) -> None:
        """Stamp an envelope for publishing: encode its body, set tag and route.

        The one place an envelope is stamped (publish and its callers).
        """
        encoding = self.body_encoding
        cached_encoding, codec = self._publish_codec
        if encoding is not cached_encoding:
            codec = self._codec(encoding)
            self._publish_codec = (encoding, codec)
        if not self._plain_encode:
            message['body'], encoding = self.encode_body(message['body'], encoding)
        elif codec is not None:
            body = message['body']
            if codec.__class__ is Base64:  # Base64.encode without the call (hot path)
                if body.__class__ is str:  # json & co
                    body = body.encode()
                message['body'] = b2a_base64(body, newline=False).decode('ascii')
            else:
                message['body'] = codec.encode(body)
        props = message['properties']
        props['body_encoding'] = encoding
        props['delivery_tag'] = next_delivery_tag()
        delivery_info = props['delivery_info']
        delivery_info['exchange'] = exchange
        delivery_info['routing_key'] = routing_key

    # -- consuming -----------------------------------------------------------

    def _get_live(self, queue: str) -> dict[str, Any]:
        """``_get`` that skips (and dead-letters) expired messages."""
        message = self._get(queue)
        while self._expired_raw(queue, message):
            message = self._get(queue)
        return message

    def _expired_raw(self, queue: str, raw: object) -> bool:
        # Whatever the store returned: a corrupt entry is left to the Message.
        if not isinstance(raw, dict):
            return False
        props = raw.get('properties')
        return isinstance(props, dict) and EXPIRES_AT in props and self._expired(queue, raw)

    def _get_and_deliver(self, queue: str, callback: Callable[..., Any]) -> None:
        """Hand one message of ``queue`` over; with ``_get_batch``, keep the rest.

        ``callback(raw, queue)`` is the transport's delivery (or one given to
        :meth:`drain_events`).  A batch is recorded in QoS whole, in order, before
        its first message is handed over; the others wait in ``_prefetched``.
        """
        if (self._batched and self.fetch_batch_size > 1
                and callback == self.connection._deliver):
            consumer = self._consumer_of.get(queue)
            limit = self.fetch_batch_size
            qos = self._qos or self.qos
            if qos.prefetch_count:
                limit = min(limit, qos.can_consume_max_estimate() or 1)
            if consumer is not None and limit > 1:
                live: list[dict[str, Any]] = []
                while not live:
                    for raw in self._get_batch(queue, limit):
                        try:  # _expired_raw, inlined
                            props = raw['properties']
                            expiring = props.__class__ is dict and EXPIRES_AT in props
                        except Exception:  # corrupt: the Message reports it
                            expiring = False
                        if not (expiring and self._expired(queue, raw)):
                            live.append(raw)
                if len(live) == 1:  # the usual case when consumers keep up
                    callback(live[0], queue)
                else:
                    self._hand_over_first(live, queue, consumer)
                return None
        while True:  # _get_live, inlined
            raw = self._get(queue)
            try:
                props = raw['properties']
                expiring = props.__class__ is dict and EXPIRES_AT in props
            except Exception:  # corrupt: the Message reports it
                expiring = False
            if not (expiring and self._expired(queue, raw)):
                callback(raw, queue)
                return None

    def _hand_over_first(self, raws: list[dict[str, Any]], queue: str,
                         consumer: consumer_entry_t) -> object:
        append = self.qos.append
        make_message = self.Message
        messages = []
        for raw in raws:
            message = make_message(raw, self)  # _make_message, inlined
            message._source_queue = queue  # type: ignore[attr-defined]
            append(message, message.delivery_tag)
            messages.append(message)
        self._prefetched.add(messages[1:], queue)
        no_ack, deliver = consumer
        if no_ack:  # recorded only in case the channel closed meanwhile
            self.qos.ack(messages[0].delivery_tag)
        return deliver(messages[0])

    def _unfetch(self, messages: list[_VMessage]) -> None:
        """Put fetched, never handed over messages back at the head of their queue."""
        for message in reversed(messages):  # each to the front: the oldest ends first
            self._put_front(message._source_queue,  # type: ignore[attr-defined]
                            original_envelope(message._raw))
            self.qos.ack(message.delivery_tag)  # forgotten, not redelivered

    def _make_message(self, raw: dict[str, Any], queue: str) -> _VMessage:
        message = self.Message(raw, channel=self)
        message._source_queue = queue  # type: ignore[attr-defined]
        return message

    def basic_consume(self, queue: str, no_ack: bool, callback: Callable[..., Any],
                      consumer_tag: str, **kwargs: Any) -> str:
        """Consume from ``queue``: ``callback(message)`` for each delivery."""
        self._tag_to_queue[consumer_tag] = queue
        self._active_queues.append(queue)
        self.state.consumers[queue] += 1
        make_message = self.Message
        append = self.qos.append

        def _callback(raw_message: dict[str, Any]) -> Any:
            message = make_message(raw_message, self)
            message._source_queue = queue  # type: ignore[attr-defined]
            if not no_ack:
                append(message, message.delivery_tag)
            return callback(message)

        self.connection.register_callback(queue, _callback)
        self._consumer_of[queue] = (no_ack, callback)
        self._consumers.add(consumer_tag)
        self._reset_cycle()
        return consumer_tag

    def basic_cancel(self, consumer_tag: str) -> None:
        """Cancel the consumer ``consumer_tag``."""
        if consumer_tag not in self._consumers:
            return
        self._consumers.discard(consumer_tag)
        queue = self._tag_to_queue.pop(consumer_tag, None)
        try:
            self._active_queues.remove(queue)  # type: ignore[arg-type]
        except ValueError:
            pass
        self._reset_cycle()
        consumers = self.state.consumers
        if queue is not None and consumers.get(queue):
            consumers[queue] -= 1
            if not consumers[queue]:
                del consumers[queue]
            self._touch_queue(queue)
        if queue is not None and queue not in self._active_queues:
            self.connection.unregister_callback(queue)
            self._consumer_of.pop(queue, None)
            if self._prefetched:
                self._unfetch(self._prefetched.take(queue))

    def basic_get(self, queue: str, no_ack: bool = False,
                  **kwargs: Any) -> _VMessage | None:
        """Get one message from ``queue`` (None if it is empty)."""
        self._sweep_expired_queues()
        self._touch_queue(queue)
        try:
            raw = self._get_live(queue)
        except Empty:
            return None
        message = self._make_message(raw, queue)
        if not no_ack:
            self.qos.append(message, message.delivery_tag)
        return message

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        """Acknowledge a message."""
        self.qos.ack(delivery_tag)

    def basic_recover(self, requeue: bool = False) -> Any:
        """Requeue every unacked message."""
        if requeue:
            if self._prefetched:  # not handed over yet: back as they were, once
                self._unfetch(self._prefetched.take())
            return self.qos.restore_unacked()
        raise NotImplementedError('Does not support recover(requeue=False)')

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        """Reject a message: requeue it, or dead-letter/drop it."""
        self.qos.reject(delivery_tag, requeue=requeue)

    def basic_qos(self, prefetch_size: int = 0, prefetch_count: int = 0,
                  apply_global: bool = False) -> None:
        """Set the prefetch limit (only ``prefetch_count`` is supported)."""
        self.qos.prefetch_count = prefetch_count

    def drain_events(self, timeout: float | None = None,
                     callback: Callable[..., Any] | None = None) -> Any:
        """Deliver one message of the consumed queues; raise ``Empty`` if none.

        Messages fetched by an earlier batch go first (they count against the
        prefetch limit already).
        """
        if self._prefetched:
            message, queue = self._prefetched.popleft()
            consumer = self._consumer_of[queue]  # cancel takes a queue's messages back
            if consumer[0]:  # no_ack: recorded only while it waited
                self.qos.ack(message.delivery_tag)
            return consumer[1](message)
        qos = self._qos or self.qos
        if self._consumers and (not qos.prefetch_count or qos.can_consume()):
            callback = callback or self.connection._deliver
            if self._has_get_many:
                return self._get_many(  # type: ignore[attr-defined]
                    self._active_queues, timeout=timeout)
            if not self._plain_poll:
                return self._poll(self.cycle, callback, timeout=timeout)
            queues = self._active_queues
            if len(queues) == 1:  # nothing to cycle over (the usual case)
                return self._get_and_deliver(queues[0], callback)
            return (self._cycle or self.cycle).get(callback)  # _poll, inlined
        raise Empty()

    def message_to_python(self, raw_message: Any) -> _VMessage:
        """Return a :class:`Message` for an envelope."""
        if not isinstance(raw_message, self.Message):
            return self.Message(payload=raw_message, channel=self)
        return raw_message

    # -- restore -------------------------------------------------------------

    def _restore(self, message: Any) -> None:
        """Put an unacked message back at the head of the queue it came from."""
        raw = getattr(message, '_raw', None)
        if raw is None:
            raw = message.serializable()
        queue = getattr(message, '_source_queue', None)
        if queue is not None and CORRUPT in raw['properties']:
            self._put_front(queue, original_envelope(raw))  # back as it was stored
            return
        # Copies: fanout copies of one publish share their inner dicts.
        raw = dict(raw)
        raw['redelivered'] = True
        props = raw['properties'] = dict(raw['properties'])
        delivery_info = props['delivery_info'] = dict(props.get('delivery_info') or {})
        delivery_info['redelivered'] = True
        if queue is not None:
            self._put_front(queue, raw)
            return
        for queue in self._lookup(delivery_info.get('exchange') or '',
                                  delivery_info.get('routing_key') or ''):
            self._put(queue, raw)

    def _restore_at_beginning(self, message: Any) -> None:
        return self._restore(message)

    # -- misc ----------------------------------------------------------------

    def flow(self, active: bool = True) -> None:
        raise NotImplementedError('virtual channels do not support flow.')

    def close(self) -> None:
        """Close the channel: cancel consumers and restore unacked messages."""
        if self.closed:
            return
        self.closed = True
        for consumer in list(self._consumers):
            self.basic_cancel(consumer)
        if self._prefetched:  # consumers cancelled elsewhere than basic_cancel
            self._unfetch(self._prefetched.take())
        if self._qos is not None:
            self._qos.restore_unacked_once()
        if self._cycle is not None:
            self._cycle.close()
            self._cycle = None
        if self.connection is not None:
            self.connection.close_channel(self)

    def _codec(self, encoding: Any) -> Any:
        try:
            return self._codec_cache[encoding]
        except KeyError:
            pass
        codec = None
        if encoding and encoding.lower() != 'utf-8':
            codec = self.codecs.get(encoding)
            if codec is None:
                raise EncodeError(f'unknown body encoding {encoding!r} '
                                  f'(known: {sorted(self.codecs)})')
        self._codec_cache[encoding] = codec
        return codec

    def encode_body(self, body: Any, encoding: str | None = None) -> tuple[Any, Any]:
        codec = self._codec(encoding)
        if codec is not None:
            return codec.encode(body), encoding
        return body, encoding

    def decode_body(self, body: Any, encoding: str | None = None) -> Any:
        try:
            codec = self._codec(encoding)
        except EncodeError as exc:
            raise DecodeError(str(exc)) from None
        if codec is not None:
            return codec.decode(body)
        return body

    def _reset_cycle(self) -> None:
        self._cycle = FairCycle(self._get_and_deliver, self._active_queues, Empty)

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc_val: BaseException | None, exc_tb: TracebackType | None) -> None:
        self.close()

    @property
    def state(self) -> BrokerState:
        """Broker state: exchanges, bindings, queue policies."""
        return self.connection.state

    @property
    def qos(self) -> _VQoS:
        """:class:`QoS` of this channel."""
        if self._qos is None:
            self._qos = self.QoS(self)
        return self._qos

    @property
    def cycle(self) -> FairCycle:
        if self._cycle is None:
            self._reset_cycle()
        return self._cycle  # type: ignore[return-value]

    @property
    def conninfo(self) -> Any:
        """The :class:`kombu.Connection` of this channel (Kombu's name)."""
        return self.connection.client

    @property
    def transport_options(self) -> dict[str, Any]:
        """The ``transport_options`` as given (``self.options`` is the typed value)."""
        return self.connection.client.transport_options

    @property
    def _vhost(self) -> str:
        return self.connection.client.virtual_host or '/'

    def _not_found(self, kind: str, name: str, method: str) -> ChannelError:
        return ChannelError(f'NOT_FOUND - no {kind} {name!r} in vhost {self._vhost!r}',
                            (50, 10), method, '404')

    def _get_free_channel_id(self) -> int:
        return self.connection.allocate_channel_id()


Channel._choose_paths()
_VChannel = Channel


class Management(base.Management):
    """Management API of a virtual transport: lists bindings."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.channel = transport.client.channel()

    def get_bindings(self) -> list[dict[str, str]]:
        return [{'destination': q, 'source': e, 'routing_key': r}
                for q, e, r in self.channel.list_bindings()]

    def close(self) -> None:
        self.channel.close()


class Transport(base.Transport):
    """Virtual transport.

    Arguments:
        client: the :class:`~kombu.Connection` this transport belongs to.
    """

    Channel = Channel
    Cycle = FairCycle
    Management = Management  # type: ignore[assignment]

    #: fair cycle over the channels (set by the constructor).
    cycle: Any = None

    default_port: int | None = None

    #: active channels.
    channels: list[_VChannel] | None = None

    #: queue -> consumer callback.
    _callbacks: dict[str, Callable[..., Any]] | None = None

    #: seconds to sleep between empty polls (stores without a wake-up signal).
    polling_interval: float | None = 1.0

    #: max number of channels.
    channel_max = 65535

    implements = base.Transport.implements.extend(
        asynchronous=False,
        exchange_type=frozenset(['direct', 'topic']),
        heartbeats=False,
    )

    #: drain_events cycles over the channels itself (set per class: when
    #: ``_drain_channel`` is not replaced; and per call: when ``cycle`` is a
    #: plain :class:`FairCycle`).
    _plain_drain = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._plain_drain = cls._drain_channel is Transport._drain_channel

    def __init__(self, client: Any, **kwargs: Any) -> None:
        self.client = client
        self.state = BrokerState()
        self.channels = []
        self._avail_channels: list[_VChannel] = []
        self._callbacks = {}
        self.cycle = self.Cycle(self._drain_channel, self.channels, Empty)
        Options = self.Channel.Options
        #: the typed transport options (:mod:`kombu.transport.virtual.options`).
        self.options = Options.from_transport_options(
            client.transport_options, extra_known=self.Channel.from_transport_options,
            # transports still reading raw dicts report unknown keys themselves
            warn=Options is not TransportOptions)
        if self.options.polling_interval is not None:
            self.polling_interval = self.options.polling_interval
        self._used_channel_ids = array(ARRAY_TYPE_H)

    def create_channel(self, connection: Any) -> _VChannel:
        try:
            return self._avail_channels.pop()
        except IndexError:
            channel = self.Channel(connection)
            self.channels.append(channel)  # type: ignore[union-attr]
            return channel

    def close_channel(self, channel: _VChannel) -> None:  # type: ignore[override]
        try:
            self.release_channel_id(channel.channel_id)
            try:
                self.channels.remove(channel)  # type: ignore[union-attr]
            except ValueError:
                pass
        finally:
            channel.connection = None

    # -- what channels ask of their transport ---------------------------------
    # (``_callbacks`` and ``_used_channel_ids`` stay the storage: transports
    # written for Kombu read and write them directly.)

    def register_callback(self, queue: str, callback: Callable[..., Any]) -> None:
        """Deliver the messages of ``queue`` to ``callback(raw_envelope)``."""
        self._callbacks[queue] = callback  # type: ignore[index]

    def unregister_callback(self, queue: str) -> None:
        """Stop delivering ``queue`` (no-op if it has no callback)."""
        self._callbacks.pop(queue, None)  # type: ignore[union-attr]

    def allocate_channel_id(self) -> int:
        """Reserve and return the lowest free channel id (1..``channel_max``)."""
        used = set(self._used_channel_ids)
        for channel_id in range(1, self.channel_max + 1):
            if channel_id not in used:
                self._used_channel_ids.append(channel_id)
                return channel_id
        raise ResourceError(
            f'No free channel ids, current={len(self.channels or ())}, '
            f'channel_max={self.channel_max}', (20, 10))

    def release_channel_id(self, channel_id: int) -> None:
        """Make ``channel_id`` free again (no-op if it is not in use)."""
        try:
            self._used_channel_ids.remove(channel_id)
        except ValueError:
            pass

    def establish_connection(self) -> Transport:
        # The channel made to verify the connection is handed out next.
        self._avail_channels.append(self.create_channel(self))
        return self

    def close_connection(self, connection: Any) -> None:
        self.cycle.close()
        for chan_list in self._avail_channels, self.channels:
            while chan_list:
                try:
                    channel = chan_list.pop()
                except LookupError:  # pragma: no cover
                    pass
                else:
                    channel.close()

    def drain_events(self, connection: Any,  # type: ignore[override]
                     timeout: float | None = None) -> None:
        """Deliver one message; raise ``socket.timeout`` after ``timeout`` seconds.

        One message per call, as Kombu's transports do; what a store hands
        over in a batch waits in the channel for the next calls.
        """
        deliver = self._deliver
        cycle = self.cycle
        # Not for a cycle of another kind (Redis polls sockets with its own).
        inline = self._plain_drain and cycle.__class__ is FairCycle
        deadline = token = None
        # The first poll may itself block for ``timeout`` (Redis waits on its
        # sockets): the deadline counts from the call, not from that miss.
        started = monotonic() if timeout else 0.0
        while True:
            if inline:  # cycle.get(deliver) over the channels, inlined
                channels = self.channels or ()
                n = len(channels)
                start = cycle.pos
                for i in range(n):
                    index = (start + i) % n
                    try:
                        channel = channels[index]
                    except IndexError:  # a callback closed a channel
                        break
                    try:
                        channel.drain_events(timeout, deliver)
                    except Empty:
                        continue
                    cycle.pos = index + 1
                    return
            else:
                try:
                    cycle.get(deliver, timeout=timeout)
                    return
                except Empty:
                    pass
            if deadline is None:  # a first miss: no wake-up token was needed before
                if timeout is not None and timeout <= 0:
                    raise socket.timeout()
                if timeout is None:
                    deadline = float('inf')
                else:
                    deadline = started + timeout
                    if monotonic() >= deadline:
                        raise socket.timeout()
            else:
                remaining = deadline - monotonic()
                if remaining <= 0:
                    raise socket.timeout()
                self._wait_for_messages(remaining, token)
            # Taken before the next poll: a put between that poll and the
            # wait changes it, and the wait returns at once.
            token = self._wakeup_token()

    def _wakeup_token(self) -> Any:
        """Taken before a poll; :meth:`_wait_for_messages` returns early if it changed."""
        return None

    def _wait_for_messages(self, timeout: float, token: Any) -> None:
        """Wait until messages may be ready, at most ``timeout`` seconds."""
        interval = self.polling_interval
        if interval:
            sleep(min(interval, timeout))

    def _deliver(self, message: dict[str, Any], queue: str) -> None:
        if not queue:
            raise KeyError(f'Received message without destination queue: {message}')
        try:
            callback = self._callbacks[queue]  # type: ignore[index]
        except KeyError:
            logger.warning(W_NO_CONSUMERS, queue)
            self._reject_inbound_message(message, queue)
        else:
            callback(message)

    def _reject_inbound_message(self, raw_message: dict[str, Any],
                                queue: str | None = None) -> None:
        for channel in self.channels or ():
            if channel:
                if queue is not None:
                    channel._put_front(queue, raw_message)
                    return
                message = channel.Message(raw_message, channel=channel)
                channel.qos.append(message, message.delivery_tag)
                channel.basic_reject(message.delivery_tag, requeue=True)
                return

    def on_message_ready(self, channel: _VChannel, message: dict[str, Any],
                         queue: str) -> None:
        if not queue or queue not in self._callbacks:  # type: ignore[operator]
            raise KeyError(f'Message for queue {queue!r} without consumers: {message}')
        self._callbacks[queue](message)  # type: ignore[index]

    def _drain_channel(self, channel: _VChannel, callback: Callable[..., Any],
                       timeout: float | None = None) -> Any:
        return channel.drain_events(callback=callback, timeout=timeout)

    @property
    def default_connection_params(self) -> dict[str, Any]:
        return {'port': self.default_port, 'hostname': 'localhost'}
