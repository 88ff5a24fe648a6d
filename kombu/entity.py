"""Exchange, Queue and binding declarations."""
from __future__ import annotations

import numbers
import warnings
from typing import Any, Callable, Dict, Iterable, Mapping, Optional

from .abstract import AttrSpec, MaybeChannelBound, Object
from .abstract import unpickle_dict as _unpickle_dict
from .exceptions import ContentDisallowed, UnknownArgumentWarning
from .serialization import prepare_accept_content

__all__ = ('Exchange', 'Queue', 'binding', 'maybe_delivery_mode')

TRANSIENT_DELIVERY_MODE = 1
PERSISTENT_DELIVERY_MODE = 2
DELIVERY_MODES = {'transient': TRANSIENT_DELIVERY_MODE,
                  'persistent': PERSISTENT_DELIVERY_MODE}

#: Exchanges reserved by the broker: never declared by us.
INTERNAL_EXCHANGE_PREFIX = ('amq.',)


def _reprstr(s: Any) -> str:
    return repr(s)[1:-1] if isinstance(s, str) else repr(s)


def pretty_bindings(bindings: Iterable[Any]) -> str:
    """Format bindings as ``[exchange->key, ...]``."""
    return '[{}]'.format(', '.join(map(str, bindings)))


def maybe_delivery_mode(v: Any, modes: Optional[Mapping[str, int]] = None,
                        default: int = PERSISTENT_DELIVERY_MODE) -> int:
    """Return the numeric delivery mode for ``v`` (a number or a mode name)."""
    if not v:
        return default
    if isinstance(v, numbers.Integral):
        return int(v)
    modes = modes or DELIVERY_MODES
    try:
        return modes[v]
    except KeyError:
        raise KeyError(
            f'unknown delivery mode {v!r}: use one of {sorted(modes)} or 1/2') from None


def _delivery_mode_attr(m: Any) -> Any:
    return DELIVERY_MODES.get(m) or m


#: entity class -> the keyword arguments it reads (its ``attrs``).
_known_kwargs: Dict[type, frozenset] = {}


def _warn_unknown(entity: Any, kwargs: Mapping[str, Any]) -> None:
    """Warn about keyword arguments ``entity`` ignores (only called when some may be)."""
    cls = type(entity)
    known = _known_kwargs.get(cls)
    if known is None:
        known = _known_kwargs[cls] = frozenset(name for name, _ in cls.attrs)
    unknown = sorted(set(kwargs) - known)
    if unknown:
        warnings.warn(
            f'{cls.__name__}() ignores unknown keyword argument(s) '
            f'{", ".join(map(repr, unknown))}; it reads: {", ".join(sorted(known))}',
            UnknownArgumentWarning, stacklevel=3)


def _routing_key_alias(routing_key: Optional[str], key: Optional[str], what: str) -> Any:
    """``key`` is the documented alias of ``routing_key`` (Kombu's README uses it)."""
    if key is None:
        return routing_key
    if routing_key and routing_key != key:
        raise TypeError(f'{what}() got routing_key={routing_key!r} and key={key!r}: '
                        f'key is an alias of routing_key, give one of them')
    return key


class Exchange(MaybeChannelBound):
    """An exchange declaration.

    Arguments:
        name: Exchange name; ``''`` is the broker's default exchange.
        type: ``direct`` (default), ``topic``, ``fanout`` or ``headers``
            (brokers may support more).
        channel: Channel or connection to bind to.
        durable: Survive broker restarts (default True).
        auto_delete: Delete when the last queue is unbound (default False).
        passive: Only check that the exchange exists when declaring.
        delivery_mode: Default delivery mode of messages: 1/``'transient'``
            or 2/``'persistent'`` (default).
        arguments: Extra declare arguments.
        no_declare: Never declare this exchange.
        internal: Declare as internal (only exchange-to-exchange bindings
            publish to it); passed to transports that support it. Not part
            of Kombu's API, so :meth:`as_dict` leaves it out (copies and
            pickles keep it).

    Any other keyword argument is ignored with an
    :class:`~kombu.exceptions.UnknownArgumentWarning` naming it.
    """

    TRANSIENT_DELIVERY_MODE = TRANSIENT_DELIVERY_MODE
    PERSISTENT_DELIVERY_MODE = PERSISTENT_DELIVERY_MODE

    name = ''
    type = 'direct'
    durable = True
    auto_delete = False
    passive = False
    delivery_mode: Any = None
    no_declare = False
    internal = False
    arguments: Optional[Dict[str, Any]] = None

    attrs: AttrSpec = (
        ('name', None),
        ('type', None),
        ('arguments', None),
        ('durable', bool),
        ('passive', bool),
        ('auto_delete', bool),
        ('delivery_mode', _delivery_mode_attr),
        ('no_declare', bool),
        ('internal', bool),
    )

    def __init__(self, name: Optional[str] = '', type: Optional[str] = '',
                 channel: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if kwargs:
            _warn_unknown(self, kwargs)
        self.name = name or self.name
        self.type = type or self.type
        self.maybe_bind(channel)

    def as_dict(self, recurse: bool = False) -> Dict[str, Any]:
        """Kombu's keys exactly (``internal``, this package's addition, is left out)."""
        result = super().as_dict(recurse)
        result.pop('internal', None)
        return result

    def _all_attrs(self) -> Dict[str, Any]:
        return Object.as_dict(self)

    def __reduce__(self) -> Any:
        return _unpickle_dict, (self.__class__, self._all_attrs())

    def __copy__(self) -> Any:
        return self.__class__(**self._all_attrs())

    def __hash__(self) -> int:
        return hash(f'E|{self.name}')

    def _can_declare(self) -> bool:
        return bool(not self.no_declare and self.name
                    and not self.name.startswith(INTERNAL_EXCHANGE_PREFIX))

    def declare(self, nowait: bool = False, passive: Optional[bool] = None,
                channel: Any = None) -> Any:
        """Declare the exchange on the broker (or check it exists if passive)."""
        if not self._can_declare():
            return None
        extra = {'internal': True} if self.internal else {}
        return (channel or self.channel).exchange_declare(
            exchange=self.name, type=self.type, durable=self.durable,
            auto_delete=self.auto_delete, arguments=self.arguments,
            nowait=nowait, passive=self.passive if passive is None else passive,
            **extra)

    def bind_to(self, exchange: Any = '', routing_key: str = '',
                arguments: Optional[Dict[str, Any]] = None, nowait: bool = False,
                channel: Any = None, **kwargs: Any) -> Any:
        """Bind this exchange (destination) to ``exchange`` (source)."""
        if isinstance(exchange, Exchange):
            exchange = exchange.name
        return (channel or self.channel).exchange_bind(
            destination=self.name, source=exchange, routing_key=routing_key,
            nowait=nowait, arguments=arguments)

    def unbind_from(self, source: Any = '', routing_key: str = '',
                    nowait: bool = False, arguments: Optional[Dict[str, Any]] = None,
                    channel: Any = None) -> Any:
        """Remove an exchange-to-exchange binding."""
        if isinstance(source, Exchange):
            source = source.name
        return (channel or self.channel).exchange_unbind(
            destination=self.name, source=source, routing_key=routing_key,
            nowait=nowait, arguments=arguments)

    def Message(self, body: Any, delivery_mode: Any = None,
                properties: Optional[Dict[str, Any]] = None, **kwargs: Any) -> Any:
        """Build a transport message for :meth:`publish` (``channel.prepare_message``)."""
        properties = {} if properties is None else properties
        properties['delivery_mode'] = maybe_delivery_mode(
            delivery_mode or self.delivery_mode)
        if (isinstance(body, str) and kwargs.get('content_encoding') is None
                and properties.get('content_encoding') is None):
            kwargs['content_encoding'] = 'utf-8'
        return self.channel.prepare_message(body, properties=properties, **kwargs)

    def publish(self, message: Any, routing_key: Optional[str] = None,
                mandatory: bool = False, immediate: bool = False,
                exchange: Optional[str] = None) -> Any:
        """Publish a message built by :meth:`Message` (a str is wrapped first)."""
        if isinstance(message, str):
            message = self.Message(message)
        return self.channel.basic_publish(
            message, exchange=exchange or self.name, routing_key=routing_key,
            mandatory=mandatory, immediate=immediate)

    def delete(self, if_unused: bool = False, nowait: bool = False) -> Any:
        """Delete the exchange on the broker."""
        return self.channel.exchange_delete(
            exchange=self.name, if_unused=if_unused, nowait=nowait)

    def binding(self, routing_key: str = '', arguments: Optional[Dict[str, Any]] = None,
                unbind_arguments: Optional[Dict[str, Any]] = None) -> binding:
        """A :class:`binding` to this exchange."""
        return binding(self, routing_key, arguments, unbind_arguments)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Exchange):
            return (self.name == other.name and self.type == other.type
                    and self.arguments == other.arguments
                    and self.durable == other.durable
                    and self.auto_delete == other.auto_delete
                    and self.delivery_mode == other.delivery_mode)
        return NotImplemented

    def __repr__(self) -> str:
        return self._repr_entity(str(self))

    def __str__(self) -> str:
        return f"Exchange {_reprstr(self.name) or repr('')}({self.type})"

    @property
    def can_cache_declaration(self) -> bool:  # type: ignore[override]
        return not self.auto_delete


class binding(Object):
    """A queue or exchange binding to ``exchange`` with a routing key.

    ``key`` is accepted as an alias of ``routing_key``; any other keyword
    argument is a :exc:`TypeError`.
    """

    attrs: AttrSpec = (
        ('exchange', None),
        ('routing_key', None),
        ('arguments', None),
        ('unbind_arguments', None),
    )

    def __init__(self, exchange: Optional[Exchange] = None, routing_key: str = '',
                 arguments: Optional[Dict[str, Any]] = None,
                 unbind_arguments: Optional[Dict[str, Any]] = None,
                 key: Optional[str] = None) -> None:
        self.exchange = exchange
        self.routing_key = _routing_key_alias(routing_key, key, 'binding')
        self.arguments = arguments
        self.unbind_arguments = unbind_arguments

    def declare(self, channel: Any, nowait: bool = False) -> None:
        """Declare the exchange of this binding."""
        if self.exchange and self.exchange.name:
            self.exchange.declare(channel=channel, nowait=nowait)

    def bind(self, entity: Any, nowait: bool = False, channel: Any = None) -> None:
        """Bind ``entity`` (a Queue or Exchange) with this binding."""
        entity.bind_to(exchange=self.exchange, routing_key=self.routing_key,
                       arguments=self.arguments, nowait=nowait, channel=channel)

    def unbind(self, entity: Any, nowait: bool = False, channel: Any = None) -> None:
        """Remove this binding from ``entity``."""
        entity.unbind_from(self.exchange, routing_key=self.routing_key,
                           arguments=self.unbind_arguments, nowait=nowait,
                           channel=channel)

    def _key(self) -> tuple:
        name = self.exchange.name if self.exchange is not None else None
        return name, self.routing_key

    def __eq__(self, other: object) -> bool:
        if isinstance(other, binding):
            return (self._key() == other._key()
                    and self.exchange == other.exchange
                    and self.arguments == other.arguments
                    and self.unbind_arguments == other.unbind_arguments)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f'<binding: {self}>'

    def __str__(self) -> str:
        name = self.exchange.name if self.exchange is not None else ''
        return f'{_reprstr(name)}->{_reprstr(self.routing_key)}'


def _binding_from(value: Any) -> binding:
    if not isinstance(value, dict):
        return value
    options = dict(value)
    if isinstance(options.get('exchange'), dict):
        options['exchange'] = Exchange(**options['exchange'])
    return binding(**options)


class Queue(MaybeChannelBound):
    """A queue declaration.

    Arguments:
        name: Queue name; ``''`` lets the broker pick one at declare time.
        exchange: Exchange (or exchange name) to bind to, or a list of
            :class:`binding` objects.
        routing_key: Binding key; ``key`` is accepted as an alias (as in
            Kombu's README).
        channel: Channel or connection to bind to.
        bindings: Extra :class:`binding` objects.
        on_declared: Called with ``(name, messages, consumers)`` after declare.
        durable, exclusive, auto_delete, no_ack: queue flags (exclusive
            implies auto_delete).
        queue_arguments, binding_arguments, consumer_arguments: extra
            arguments for ``queue_declare``, ``queue_bind`` and ``basic_consume``.
        expires, message_ttl: seconds (RabbitMQ ``x-expires``/``x-message-ttl``).
        max_length, max_length_bytes, max_priority: RabbitMQ queue limits.
        alias: Free-form name for applications.
        no_declare: Never declare this queue or its exchange and bindings.

    Any other keyword argument is ignored with an
    :class:`~kombu.exceptions.UnknownArgumentWarning` naming it.
    """

    ContentDisallowed = ContentDisallowed

    name = ''
    exchange: Any = Exchange('')
    routing_key = ''

    durable = True
    exclusive = False
    auto_delete = False
    no_ack: Optional[bool] = False
    queue_arguments: Optional[Dict[str, Any]] = None
    binding_arguments: Optional[Dict[str, Any]] = None
    consumer_arguments: Optional[Dict[str, Any]] = None
    alias: Optional[str] = None
    no_declare: Optional[bool] = None
    expires: Optional[float] = None
    message_ttl: Optional[float] = None
    max_length: Optional[int] = None
    max_length_bytes: Optional[int] = None
    max_priority: Optional[int] = None

    attrs: AttrSpec = (
        ('name', None),
        ('exchange', None),
        ('routing_key', None),
        ('queue_arguments', None),
        ('binding_arguments', None),
        ('consumer_arguments', None),
        ('durable', bool),
        ('exclusive', bool),
        ('auto_delete', bool),
        ('no_ack', None),
        ('alias', None),
        ('bindings', list),
        ('no_declare', bool),
        ('expires', float),
        ('message_ttl', float),
        ('max_length', int),
        ('max_length_bytes', int),
        ('max_priority', int),
    )

    def __init__(self, name: Optional[str] = '', exchange: Any = None,
                 routing_key: Optional[str] = '', channel: Any = None,
                 bindings: Optional[Iterable[binding]] = None,
                 on_declared: Optional[Callable[..., Any]] = None,
                 **kwargs: Any) -> None:
        if kwargs:
            routing_key = _routing_key_alias(routing_key, kwargs.pop('key', None), 'Queue')
        super().__init__(**kwargs)
        if kwargs:
            _warn_unknown(self, kwargs)
        self.name = name or self.name
        if isinstance(exchange, str):
            self.exchange = Exchange(exchange)
        elif isinstance(exchange, Exchange):
            self.exchange = exchange
        self.routing_key = routing_key or self.routing_key
        self.bindings = set(bindings or [])
        self.on_declared = on_declared
        # Queue('name', [binding(...), ...]) is a queue with several bindings.
        if isinstance(exchange, (list, tuple, set)):
            self.bindings |= set(exchange)
        if self.bindings:
            self.exchange = None
        if self.exclusive:
            self.auto_delete = True
        self.maybe_bind(channel)

    def bind(self, channel: Any) -> Queue:
        on_declared = self.on_declared
        bound = super().bind(channel)
        bound.on_declared = on_declared
        return bound

    def __hash__(self) -> int:
        return hash(f'Q|{self.name}')

    def when_bound(self) -> None:
        if self.exchange:
            self.exchange = self.exchange(self.channel)

    def declare(self, nowait: bool = False, channel: Any = None) -> str:
        """Declare the exchange, the queue and its bindings; return the queue name."""
        if not self.no_declare:
            if self.exchange:
                self.exchange.declare(nowait=nowait, channel=channel)
            self.queue_declare(nowait=nowait, passive=False, channel=channel)
            if self.exchange and self.exchange.name:
                self.queue_bind(nowait=nowait, channel=channel)
            for b in self.bindings:
                chan = channel or self.channel
                b.declare(chan)
                b.bind(self, nowait=nowait, channel=chan)
        return self.name

    def _queue_arguments(self, channel: Any) -> Any:
        prepare = getattr(channel, 'prepare_queue_arguments', None)
        arguments = self.queue_arguments or {}
        if prepare is None:
            return arguments
        return prepare(
            arguments, expires=self.expires, message_ttl=self.message_ttl,
            max_length=self.max_length, max_length_bytes=self.max_length_bytes,
            max_priority=self.max_priority)

    def queue_declare(self, nowait: bool = False, passive: bool = False,
                      channel: Any = None) -> Any:
        """Declare the queue; returns the broker's ``(name, messages, consumers)``."""
        channel = channel or self.channel
        ret = channel.queue_declare(
            queue=self.name, passive=passive, durable=self.durable,
            exclusive=self.exclusive, auto_delete=self.auto_delete,
            arguments=self._queue_arguments(channel), nowait=nowait)
        if ret is not None:
            if not self.name:
                self.name = ret[0]
            if self.on_declared:
                self.on_declared(*ret)
        return ret

    def queue_bind(self, nowait: bool = False, channel: Any = None) -> Any:
        """Bind the queue to its exchange with its routing key."""
        return self.bind_to(self.exchange, self.routing_key, self.binding_arguments,
                            channel=channel, nowait=nowait)

    def bind_to(self, exchange: Any = '', routing_key: str = '',
                arguments: Optional[Dict[str, Any]] = None, nowait: bool = False,
                channel: Any = None) -> Any:
        """Bind the queue to ``exchange``."""
        if isinstance(exchange, Exchange):
            exchange = exchange.name
        return (channel or self.channel).queue_bind(
            queue=self.name, exchange=exchange, routing_key=routing_key,
            arguments=arguments, nowait=nowait)

    def get(self, no_ack: Optional[bool] = None, accept: Any = None) -> Any:
        """Fetch one message synchronously, or ``None`` if the queue is empty."""
        message = self.get_undecoded(no_ack, accept)
        if message is not None and message.errors:
            message._reraise_error()
        return message

    def get_undecoded(self, no_ack: Optional[bool] = None, accept: Any = None) -> Any:
        """:meth:`get` that returns a message whose body could not be prepared
        (its ``decode()`` raises), as a consumer hands it to ``on_decode_error``."""
        no_ack = self.no_ack if no_ack is None else no_ack
        channel = self.channel
        message = channel.basic_get(queue=self.name, no_ack=no_ack)
        if message is None:
            return None
        m2p = getattr(channel, 'message_to_python', None)
        if m2p:
            message = m2p(message)
        message.accept = prepare_accept_content(accept)
        return message

    def purge(self, nowait: bool = False) -> int:
        """Remove all ready messages; returns how many were removed."""
        return self.channel.queue_purge(queue=self.name, nowait=nowait) or 0

    def consume(self, consumer_tag: str = '', callback: Optional[Callable[..., Any]] = None,
                no_ack: Optional[bool] = None, nowait: bool = False,
                on_cancel: Optional[Callable[..., Any]] = None) -> Any:
        """Start a consumer on this queue (``basic_consume``)."""
        if no_ack is None:
            no_ack = self.no_ack
        return self.channel.basic_consume(
            queue=self.name, no_ack=no_ack, consumer_tag=consumer_tag or '',
            callback=callback, nowait=nowait, arguments=self.consumer_arguments,
            on_cancel=on_cancel)

    def cancel(self, consumer_tag: str) -> Any:
        """Cancel a consumer by tag."""
        return self.channel.basic_cancel(consumer_tag)

    def delete(self, if_unused: bool = False, if_empty: bool = False,
               nowait: bool = False) -> Any:
        """Delete the queue on the broker."""
        return self.channel.queue_delete(queue=self.name, if_unused=if_unused,
                                         if_empty=if_empty, nowait=nowait)

    def queue_unbind(self, arguments: Optional[Dict[str, Any]] = None,
                     nowait: bool = False, channel: Any = None) -> Any:
        """Remove the binding to the queue's own exchange."""
        return self.unbind_from(self.exchange, self.routing_key, arguments,
                                nowait, channel)

    def unbind_from(self, exchange: Any = '', routing_key: str = '',
                    arguments: Optional[Dict[str, Any]] = None, nowait: bool = False,
                    channel: Any = None) -> Any:
        """Remove the binding of this queue to ``exchange``."""
        if isinstance(exchange, Exchange):
            exchange = exchange.name
        return (channel or self.channel).queue_unbind(
            queue=self.name, exchange=exchange, routing_key=routing_key,
            arguments=arguments, nowait=nowait)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Queue):
            return (self.name == other.name and self.exchange == other.exchange
                    and self.routing_key == other.routing_key
                    and self.queue_arguments == other.queue_arguments
                    and self.binding_arguments == other.binding_arguments
                    and self.consumer_arguments == other.consumer_arguments
                    and self.durable == other.durable
                    and self.exclusive == other.exclusive
                    and self.auto_delete == other.auto_delete)
        return NotImplemented

    def __repr__(self) -> str:
        if self.bindings:
            return self._repr_entity(
                f'Queue {_reprstr(self.name)} -> {pretty_bindings(self.bindings)}')
        return self._repr_entity(
            f'Queue {_reprstr(self.name)} -> {self.exchange!r} -> '
            f'{_reprstr(self.routing_key)}')

    @property
    def can_cache_declaration(self) -> bool:  # type: ignore[override]
        # A queue that may disappear by itself must be declared again.
        expiring = bool(self.queue_arguments and 'x-expires' in self.queue_arguments)
        return not (expiring or self.expires is not None or self.auto_delete)

    #: Options :meth:`from_dict` handles itself; other :attr:`attrs` pass through.
    _from_dict_explicit_attrs = frozenset({
        'name', 'exchange', 'routing_key', 'durable', 'auto_delete'})

    @classmethod
    def from_dict(cls, queue: str, **options: Any) -> Queue:
        """Build a queue from Celery's queue-dict format (``task_queues`` entries).

        ``exchange_*`` options configure the exchange and ``queue_*`` ones the
        queue, falling back to the shared ``durable``/``auto_delete``;
        ``binding_key`` wins over ``routing_key``. Every other :attr:`attrs`
        option is passed on, so ``as_dict()``/``from_dict()`` round-trip.
        """
        def pick(specific: str, generic: str) -> Any:
            value = options.get(specific)
            return options.get(generic) if value is None else value

        exchange = options.get('exchange')
        if isinstance(exchange, dict):  # as_dict(recurse=True) output
            exchange = Exchange(**exchange)
        elif not isinstance(exchange, Exchange):
            exchange = Exchange(
                exchange, type=options.get('exchange_type'),
                delivery_mode=options.get('delivery_mode'),
                durable=pick('exchange_durable', 'durable'),
                auto_delete=pick('exchange_auto_delete', 'auto_delete'),
                arguments=options.get('exchange_arguments'))
        passed = {name: options[name] for name, _ in cls.attrs
                  if name not in cls._from_dict_explicit_attrs and name in options}
        if isinstance(passed.get('bindings'), list):
            passed['bindings'] = [_binding_from(b) for b in passed['bindings']]
        return cls(queue, exchange=exchange,
                   routing_key=options.get('binding_key') or options.get('routing_key'),
                   durable=pick('queue_durable', 'durable'),
                   auto_delete=pick('queue_auto_delete', 'auto_delete'),
                   **passed)

    def as_dict(self, recurse: bool = False) -> Dict[str, Any]:
        result = super().as_dict(recurse)
        if recurse and result.get('bindings'):
            result['bindings'] = [b.as_dict(recurse=True) for b in result['bindings']]
        return result

