"""The native AMQP 0-9-1 transport, built on the ``amqp`` (py-amqp) client.

URLs: ``amqp://``, ``pyamqp://`` and, over TLS, ``amqps://``::

    amqp://[USER:PASSWORD@]HOST[:PORT][/VIRTUAL_HOST]

Everything RabbitMQ does natively (exchanges of every type, priorities, TTLs,
dead-lettering, quorum queues and streams, publisher confirms, mandatory
returns) is handled by the broker itself, so this transport only adapts the
py-amqp objects to Kombu's interfaces.

``ssl`` may be ``True``, a dict of :func:`ssl.wrap_socket`-style options (a
``server_hostname`` of ``None`` means "the host we connect to", useful with
failover URLs), or an :class:`ssl.SSLContext`.

Errors, typed and raised at once (the first two are never retried by
``publish(retry=True)``; a nack is retried on a new channel, see below):

* a refused login (``ACCESS_REFUSED``): :exc:`~kombu.exceptions.AccessRefused`;
* an exchange or queue name, routing key or consumer tag over 255 bytes (UTF-8;
  AMQP's "short string"): :exc:`~kombu.exceptions.NameTooLong`, before anything is
  sent, so the channel stays usable;
* a publisher-confirm nack (``confirm_publish=True``):
  :exc:`~kombu.exceptions.MessageNacked`, naming the exchange and routing key.
  ``Connection.ensure`` retries it on a new channel within the retry policy:
  RabbitMQ 3.10 nacks every later publish of a channel whose first publish to
  a quorum queue came while the queue's leader was down (a cluster member
  killed), while a new channel is acked once a leader is elected.

Teardown is bounded: ``channel.close()`` and ``Connection.close()``/``release()``
wait at most :data:`CLOSE_TIMEOUT` (3 s) for the broker's close-ok (a half-open
peer never sends one), then drop the connection; a shorter socket timeout set by
the caller (Celery sets one on ``connection._connection._transport.sock``) is kept.

Transport options (``Connection(transport_options=...)``) are parsed once into
:class:`AMQPOptions`.  The py-amqp connection options are passed through
(``confirm_publish``, ``client_properties``, ``read_timeout``,
``write_timeout``, ``socket_settings``, ``channel_max``, ``frame_max``,
``locale``, ``on_blocked``, ``on_unblocked``, ...), plus:

``connection_name``
    shown by RabbitMQ (management UI, ``rabbitmqctl list_connections``).
``global_qos``
    ``None`` (default): detect.  Channel-wide ("global") prefetch is a
    deprecated RabbitMQ feature: permitted by default up to 4.2, denied by
    default from 4.3 (the broker then closes the connection), and quorum
    queues/streams refuse to be consumed from a channel that has one (``540
    NOT_IMPLEMENTED``, also fatal to the connection).  So on RabbitMQ 4.3+,
    and when a quorum/stream queue this connection declared is consumed, a
    global ``basic_qos`` is applied per consumer instead.  ``False`` always
    does that (for brokers configured to deny the feature); ``True`` always
    sends global prefetch.
"""
from __future__ import annotations

import logging
import re
import socket
import ssl as _ssl
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import monotonic
from typing import Any, Callable, Iterator, Mapping

import amqp  # type: ignore[import-untyped]
import amqp.exceptions  # type: ignore[import-untyped]
import amqp.transport  # type: ignore[import-untyped]
from amqp import spec  # type: ignore[import-untyped]

from kombu import exceptions
from kombu.utils.amq_manager import get_manager

from . import base
from .base import to_rabbitmq_queue_arguments

__all__ = (
    'DEFAULT_PORT', 'DEFAULT_SSL_PORT', 'AMQPOptions',
    'Message', 'Channel', 'Connection', 'Transport', 'SSLTransport',
)

DEFAULT_PORT = 5672
DEFAULT_SSL_PORT = 5671

logger = logging.getLogger(__name__)

_BASIC_PUBLISH = spec.Basic.Publish

#: AMQP 0-9-1 "short string" fields (names, routing keys, tags): 255 bytes.
SHORTSTR_LIMIT = 255
#: method -> the names of its arguments, to name a short string that is too long.
_ARG_NAMES: dict[tuple[int, int], tuple[str, ...]] = {
    spec.Exchange.Declare: ('ticket', 'exchange', 'type'),
    spec.Exchange.Delete: ('ticket', 'exchange'),
    spec.Exchange.Bind: ('ticket', 'destination', 'source', 'routing_key'),
    spec.Exchange.Unbind: ('ticket', 'destination', 'source', 'routing_key'),
    spec.Queue.Declare: ('ticket', 'queue'),
    spec.Queue.Bind: ('ticket', 'queue', 'exchange', 'routing_key'),
    spec.Queue.Purge: ('ticket', 'queue'),
    spec.Queue.Delete: ('ticket', 'queue'),
    spec.Queue.Unbind: ('ticket', 'queue', 'exchange', 'routing_key'),
    spec.Basic.Consume: ('ticket', 'queue', 'consumer_tag'),
    spec.Basic.Cancel: ('consumer_tag',),
    spec.Basic.Get: ('ticket', 'queue'),
}


def _check_shortstr(field: str, value: Any) -> None:
    # 63 characters are at most 252 bytes in UTF-8: only longer ones are encoded.
    if value.__class__ is str and len(value) <= 63:
        return
    size = len(value.encode('utf-8')) if isinstance(value, str) else len(value or b'')
    if size > SHORTSTR_LIMIT:
        raise exceptions.NameTooLong(field, value, SHORTSTR_LIMIT)


def _check_shortstrs(sig: Any, argsig: str | None, args: Any) -> None:
    if not argsig or 's' not in argsig or not args:
        return
    names = _ARG_NAMES.get(sig, ())
    for i, (kind, value) in enumerate(zip(argsig, args)):
        if kind == 's' and value:
            _check_shortstr(names[i] if i < len(names) else f'argument {i}', value)

#: Queue types that refuse a channel-wide (global) prefetch limit.
NO_GLOBAL_QOS_QUEUE_TYPES = frozenset({'quorum', 'stream'})

#: Options that py-amqp's ``Connection`` itself understands.
_AMQP_CONNECTION_OPTIONS = frozenset({
    'confirm_publish', 'client_properties', 'read_timeout', 'write_timeout',
    'socket_settings', 'channel_max', 'frame_max', 'locale', 'login_response',
    'authentication', 'on_open', 'on_blocked', 'on_unblocked', 'on_tune_ok',
    # as in Kombu, these override what the Connection's URL/arguments say
    'connect_timeout', 'heartbeat', 'login_method', 'virtual_host', 'host', 'userid',
    'password', 'ssl',
})
#: Options understood by Kombu's Connection or by other transports/Celery;
#: they are legitimately present in a shared ``transport_options`` dict.
_IGNORED_OPTIONS = frozenset({
    'max_retries', 'interval_start', 'interval_step', 'interval_max',
    'connect_retries_timeout', 'timeout', 'errback', 'callback',
    'confirm_timeout', 'polling_interval', 'visibility_timeout',
    'fanout_prefix', 'fanout_patterns', 'global_keyprefix', 'queue_name_prefix',
    'priority_steps', 'sep', 'ack_emulation', 'max_connections', 'socket_timeout',
    'socket_connect_timeout', 'socket_keepalive', 'socket_keepalive_options',
    'health_check_interval', 'retry_on_timeout', 'result_chord_ordered',
    'region', 'predefined_queues', 'is_secure', 'master_name', 'sentinel_kwargs',
    'unacked_restore_limit', 'native_delayed_delivery_prefix', 'insist',
    'max_decompressed_size',  # read by kombu.Consumer
    'opentelemetry',  # read by kombu.Connection (kombu.otel)
    # kombu.utils.amq_manager.get_manager
    'manager_hostname', 'manager_port', 'manager_userid', 'manager_password',
})
_warned_options: set[str] = set()
#: Options whose values are credentials, never shown in a repr.
_SECRET_OPTIONS = frozenset({'password', 'login_response'})


@dataclass(frozen=True)
class AMQPOptions:
    """``transport_options`` for this transport, validated once."""

    connection_kwargs: Mapping[str, Any] = field(default_factory=dict)
    connection_name: str | None = None
    global_qos: bool | None = None

    @classmethod
    def from_transport_options(cls, options: Mapping[str, Any] | None) -> AMQPOptions:
        if isinstance(options, cls):
            return options
        kwargs: dict[str, Any] = {}
        name = global_qos = None
        for key, value in (options or {}).items():
            if key in _AMQP_CONNECTION_OPTIONS:
                kwargs[key] = value
            elif key == 'connection_name':
                name = None if value is None else str(value)
            elif key == 'global_qos':
                global_qos = None if value is None else bool(value)
            elif key not in _IGNORED_OPTIONS and key not in _warned_options:
                _warned_options.add(key)
                warnings.warn(
                    f'pyamqp transport: unknown transport option {key!r} is ignored',
                    UserWarning, stacklevel=3)
        if name is not None:
            props = dict(kwargs.get('client_properties') or {})
            props.setdefault('connection_name', name)
            kwargs['client_properties'] = props
        return cls(kwargs, name, global_qos)

    def __repr__(self) -> str:
        # Options may carry credentials (password, login_response): mask them
        # so that logging the options or the transport cannot leak them.
        kwargs = {k: ('**' if k in _SECRET_OPTIONS and v else v)
                  for k, v in self.connection_kwargs.items()}
        return (f'{type(self).__name__}(connection_kwargs={kwargs!r}, '
                f'connection_name={self.connection_name!r}, global_qos={self.global_qos!r})')


class AccessRefused(exceptions.AccessRefused, amqp.exceptions.AccessRefused):
    """RabbitMQ refused the login (``ACCESS_REFUSED``, 403).

    :exc:`kombu.exceptions.AccessRefused` (a connection error, never retried)
    and still py-amqp's ``AccessRefused``, for code that caught that.
    """

    __str__ = amqp.exceptions.AccessRefused.__str__


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r'\d+', version)[:3])


class Message(base.Message):
    """A message received from py-amqp, in Kombu's terms."""

    def __init__(self, msg: amqp.Message, channel: Any = None, **kwargs: Any) -> None:
        props = msg.properties
        super().__init__(
            body=msg.body,
            channel=channel,
            delivery_tag=msg.delivery_tag,
            content_type=props.get('content_type'),
            content_encoding=props.get('content_encoding'),
            delivery_info=msg.delivery_info,
            properties=props,
            headers=props.get('application_headers') or {},
            **kwargs)


KombuMessage = Message  # ``Message`` is shadowed in Channel


class Channel(amqp.Channel, base.StdChannel):
    """py-amqp channel with Kombu's channel interface."""

    Message = Message

    #: channel-wide prefetch currently active on the broker (0 = none).
    _global_prefetch: tuple[int, int] = (0, 0)

    def prepare_message(self, body: Any, priority: int | None = None,
                        content_type: str | None = None,
                        content_encoding: str | None = None,
                        headers: dict | None = None,
                        properties: dict | None = None,
                        _Message: type = amqp.Message) -> amqp.Message:
        """Build the wire message; Kombu's ``headers`` are AMQP application headers."""
        if content_encoding is None and body.__class__ is str:
            content_encoding = 'utf-8'  # py-amqp would fail to encode it
        if properties:
            return _Message(body, priority=priority, content_type=content_type,
                            content_encoding=content_encoding,
                            application_headers=headers, **properties)
        return _Message(body, priority=priority, content_type=content_type,
                        content_encoding=content_encoding, application_headers=headers)

    # -- publishing: py-amqp polls the socket before *every* publish to notice
    # connection.blocked; once per ``blocked_poll_interval`` notices it just as
    # well and saves a recv() + two settimeout() calls per message.

    #: seconds between checks for frames from the broker while publishing.
    blocked_poll_interval: float = 0.01
    _next_blocked_poll: float = 0.0

    def _basic_publish(self, msg: amqp.Message, exchange: str = '', routing_key: str = '',
                       mandatory: bool = False, immediate: bool = False,
                       timeout: float | None = None, confirm_timeout: float | None = None,
                       argsig: str = 'Bssbb') -> Any:
        conn = self.connection
        if not conn:
            raise amqp.RecoverableConnectionError('basic_publish: connection closed')
        if len(routing_key) > 63 or len(exchange) > 63:
            # py-amqp's encoder would fail half-way with a struct.error
            _check_shortstr('exchange', exchange)
            _check_shortstr('routing_key', routing_key)
        now = monotonic()
        if now >= self._next_blocked_poll:
            self._next_blocked_poll = now + self.blocked_poll_interval
            self._poll_broker(conn)
        args = (0, exchange, routing_key, mandatory, immediate)
        send = self.send_method
        try:
            if timeout is None:
                return send(_BASIC_PUBLISH, argsig, args, msg)
            with conn.transport.having_timeout(timeout):
                return send(_BASIC_PUBLISH, argsig, args, msg)
        except (socket.timeout, TimeoutError):
            # a write that timed out leaves the socket unusable: a connection error
            raise amqp.RecoverableConnectionError('basic_publish: timed out')

    basic_publish = _basic_publish

    def basic_publish_confirm(self, *args: Any, **kwargs: Any) -> Any:
        """Publish and wait for the broker's confirm; a nack raises
        :exc:`~kombu.exceptions.MessageNacked` naming the exchange and routing key."""
        confirm_timeout = kwargs.pop('confirm_timeout', None)
        exchange = kwargs.get('exchange', args[1] if len(args) > 1 else '')
        routing_key = kwargs.get('routing_key', args[2] if len(args) > 2 else '')

        def on_confirm(method: Any, *rest: Any) -> None:
            if method == spec.Basic.Nack:
                raise exceptions.MessageNacked(exchange, routing_key)

        if not getattr(self, '_confirm_selected', False):
            self._confirm_selected: bool = True
            self.confirm_select()
        ret = self._basic_publish(*args, **kwargs)
        self.wait([spec.Basic.Ack, spec.Basic.Nack], callback=on_confirm,
                  timeout=confirm_timeout or kwargs.get('timeout'))
        return ret

    def send_method(self, sig: Any, format: str | None = None, args: Any = None,
                    *rest: Any, **kwargs: Any) -> Any:
        # A name over 255 bytes: a typed error before any byte is written
        # (py-amqp would raise struct.error with the frame half-built).
        # basic.publish checks its own, more cheaply (the hot path).
        if sig != _BASIC_PUBLISH:
            _check_shortstrs(sig, format, args)
        return super().send_method(sig, format, args, *rest, **kwargs)

    @staticmethod
    def _poll_broker(conn: Any) -> None:
        if conn.client_properties.get('capabilities', {}).get('connection.blocked'):
            try:
                conn.drain_events(timeout=0)
            except socket.timeout:
                pass

    def prepare_queue_arguments(self, arguments: dict | None, **kwargs: Any) -> dict:
        return to_rabbitmq_queue_arguments(arguments or {}, **kwargs)

    def message_to_python(self, raw_message: amqp.Message) -> KombuMessage:
        return self.Message(raw_message, channel=self)

    # -- QoS: keep global prefetch away from queues/servers that refuse it.

    def basic_qos(self, prefetch_size: int = 0, prefetch_count: int = 0,
                  a_global: bool = False, argsig: str = 'lBb', **kwargs: Any) -> Any:
        """Set the prefetch window; ``apply_global``/``global_`` are accepted too."""
        for alias in ('apply_global', 'global_'):
            if alias in kwargs:
                a_global = kwargs.pop(alias)
        if kwargs:
            raise TypeError(f'basic_qos() got unexpected arguments: {sorted(kwargs)}')
        prefetch_size, prefetch_count = prefetch_size or 0, prefetch_count or 0
        if a_global and not self.connection.global_qos_allowed():
            logger.debug('global prefetch not supported here: applying it per consumer')
            a_global = False
        if a_global:
            self._global_prefetch = (prefetch_size, prefetch_count)
        return super().basic_qos(prefetch_size, prefetch_count, a_global, argsig)

    def basic_consume(self, queue: str = '', *args: Any, **kwargs: Any) -> Any:
        if self._global_prefetch[1] or self._global_prefetch[0]:
            if self.connection.queue_types.get(queue) in NO_GLOBAL_QOS_QUEUE_TYPES:
                self._move_global_prefetch_to_consumers(queue)
        return super().basic_consume(queue, *args, **kwargs)

    def _move_global_prefetch_to_consumers(self, queue: str) -> None:
        # Consuming a quorum queue/stream on a channel with an active global
        # limit is a connection error (540); lift it and keep the same window
        # per consumer instead.
        size, count = self._global_prefetch
        logger.warning('queue %r does not support global prefetch: using a per-consumer '
                       'prefetch of %d on this channel instead', queue, count)
        super().basic_qos(0, 0, True)
        super().basic_qos(size, count, False)
        self._global_prefetch = (0, 0)

    def queue_declare(self, queue: str = '', passive: bool = False, durable: bool = False,
                      exclusive: bool = False, auto_delete: bool = True,
                      nowait: bool = False, arguments: dict | None = None,
                      argsig: str = 'BsbbbbbF') -> Any:
        ret = super().queue_declare(queue, passive, durable, exclusive, auto_delete,
                                    nowait, arguments, argsig)
        qtype = (arguments or {}).get('x-queue-type')
        if qtype:
            name = ret[0] if ret is not None else queue
            self.connection.queue_types[name] = qtype
        return ret

    def close(self, *args: Any, **kwargs: Any) -> Any:
        """Close the channel; a broker that does not answer within
        :attr:`Transport.close_timeout` is given up on (the connection is dropped)."""
        conn = self.connection
        if conn is None or not self.is_open:
            return super().close(*args, **kwargs)
        with _bounded_teardown(conn):
            return super().close(*args, **kwargs)

    def flow(self, active: bool) -> Any:
        """Pause (``False``) or resume delivery; RabbitMQ only supports resuming."""
        if not active and self.connection.is_rabbitmq:
            raise NotImplementedError(
                'RabbitMQ does not support channel.flow(active=False) (it would close the '
                'connection); use basic_qos/cancel the consumer to stop deliveries')
        return super().flow(active)


#: Seconds a closing handshake (channel.close, connection.close) may wait for
#: the broker before the connection is dropped without it: a half-open peer
#: (a suspended VM, a firewall dropping the flow) never answers.
CLOSE_TIMEOUT = 3.0


@contextmanager
def _bounded_teardown(conn: Any, timeout: float | None = None) -> Iterator[None]:
    """Bound a teardown exchange with the broker; on timeout drop the connection."""
    transport = getattr(conn, '_transport', None)
    sock: Any = getattr(transport, 'sock', None)
    if sock is None:
        yield
        return
    limit = CLOSE_TIMEOUT if timeout is None else timeout
    try:
        previous = sock.gettimeout()
        if previous is None or previous > limit:
            sock.settimeout(limit)  # a shorter one (set by Celery) is kept
    except OSError:  # already closed
        previous = None
    try:
        yield
    except (socket.timeout, TimeoutError, OSError) as exc:
        logger.debug('broker did not answer the close in %.1fs (%r): dropping the '
                     'connection', limit, exc)
        conn.collect()  # closes the socket; nothing more is read or written
    else:
        try:
            live: Any = getattr(transport, 'sock', None)
            if live is sock:  # not replaced or dropped meanwhile
                live.settimeout(previous)
        except OSError:
            pass


class _ContextSSLTransport(amqp.transport.SSLTransport):
    """TLS with a caller-built :class:`ssl.SSLContext` (py-amqp only takes dicts)."""

    sock: Any  # set by py-amqp's transport

    def __init__(self, host: str, context: _ssl.SSLContext, **kwargs: Any) -> None:
        self.ssl_context = context
        super().__init__(host, ssl=None, **kwargs)

    def _setup_transport(self) -> None:
        self.sock = self.ssl_context.wrap_socket(
            self.sock, server_hostname=self.host, do_handshake_on_connect=False)
        self.sock.settimeout(self.connect_timeout)  # no endless handshake
        self.sock.do_handshake()
        self._quick_recv = self.sock.read


class Connection(amqp.Connection):
    """py-amqp connection that creates Kombu channels."""

    Channel = Channel

    def Transport(self, host: str, connect_timeout: float | None, ssl: Any = False,
                  read_timeout: float | None = None, write_timeout: float | None = None,
                  socket_settings: Any = None, **kwargs: Any) -> Any:
        options = dict(connect_timeout=connect_timeout, read_timeout=read_timeout,
                       write_timeout=write_timeout, socket_settings=socket_settings, **kwargs)
        if isinstance(ssl, _ssl.SSLContext):
            return _ContextSSLTransport(host, ssl, **options)
        return super().Transport(host, ssl=ssl, **options)

    #: set by the transport; ``None`` means "detect from the server".
    global_qos: bool | None = None
    #: the hub timer ticking heartbeats (see Transport.register_with_event_loop).
    _kombu_heartbeat_timer: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client: Any = None
        #: queue name -> x-queue-type, for queues declared on this connection.
        self.queue_types: dict[str, str] = {}
        self._global_qos_allowed: bool | None = None

    @property
    def is_rabbitmq(self) -> bool:
        return (self.server_properties or {}).get('product') == 'RabbitMQ'

    def server_version(self) -> tuple[int, ...]:
        version = (self.server_properties or {}).get('version') or ''
        if isinstance(version, bytes):
            version = version.decode('utf-8', 'replace')
        return _version_tuple(version)

    def global_qos_allowed(self) -> bool:
        allowed = self._global_qos_allowed
        if allowed is None:
            if self.global_qos is not None:
                allowed = self.global_qos
            else:
                allowed = not (self.is_rabbitmq and self.server_version() >= (4, 3))
            self._global_qos_allowed = allowed
        return allowed


AMQPConnection = Connection  # the name ``Connection`` is shadowed in Transport


class Transport(base.Transport):
    """AMQP 0-9-1 transport over py-amqp."""

    Connection = Connection

    default_port = DEFAULT_PORT
    default_ssl_port = DEFAULT_SSL_PORT

    connection_errors = amqp.Connection.connection_errors
    channel_errors = amqp.Connection.channel_errors
    # A nack is the broker's answer, not a connection loss: the connection is
    # kept (Connection.ensure retries a nack on a new channel).
    recoverable_connection_errors = tuple(
        exc for exc in amqp.Connection.recoverable_connection_errors
        if exc is not amqp.exceptions.MessageNacked)
    recoverable_channel_errors = amqp.Connection.recoverable_channel_errors

    driver_name = 'py-amqp'
    driver_type = 'amqp'

    implements = base.Transport.implements.extend(
        asynchronous=True,
        heartbeats=True,
    )

    def __init__(self, client: Any, default_port: int | None = None,
                 default_ssl_port: int | None = None, **kwargs: Any) -> None:
        self.client = client
        self.default_port = default_port or self.default_port
        self.default_ssl_port = default_ssl_port or self.default_ssl_port
        # (connection, reader): a reconnect gets a fresh reader
        self._connection_reader: tuple[Any, Callable[[Any], None]] | None = None
        self._options: AMQPOptions | None = None

    @property
    def options(self) -> AMQPOptions:
        if self._options is None:
            self._options = AMQPOptions.from_transport_options(
                getattr(self.client, 'transport_options', None))
        return self._options

    def driver_version(self) -> str:
        return amqp.__version__

    def create_channel(self, connection: AMQPConnection) -> Channel:
        return connection.channel()

    def drain_events(self, connection: AMQPConnection, **kwargs: Any) -> Any:
        return connection.drain_events(**kwargs)

    def _collect(self, connection: AMQPConnection | None) -> None:
        if connection is not None:
            connection.collect()

    def establish_connection(self) -> AMQPConnection:
        """Open a connection to the broker described by ``self.client``."""
        conninfo = self.client
        for name, default in self.default_connection_params.items():
            if not getattr(conninfo, name, None):
                setattr(conninfo, name, default)
        if conninfo.hostname == 'localhost':
            conninfo.hostname = '127.0.0.1'  # skip the slow ::1 attempt
        password = conninfo.password
        if callable(password):  # credentials refreshed on every (re)connect
            password = password()
        params = {
            'host': conninfo.host,
            'userid': conninfo.userid,
            'password': password,
            'login_method': conninfo.login_method,
            'virtual_host': conninfo.virtual_host,
            'ssl': conninfo.ssl,
            'connect_timeout': conninfo.connect_timeout,
            'heartbeat': conninfo.heartbeat or 0,
        }
        params.update(self.options.connection_kwargs)
        params['ssl'] = self._ssl_option(params['ssl'], conninfo.hostname)
        conn = self.Connection(**params)
        conn.global_qos = self.options.global_qos
        conn.client = conninfo
        try:
            conn.connect()
        except amqp.exceptions.AccessRefused as exc:
            # py-amqp's is a channel error; a refused login belongs with the
            # connection errors, and must not be retried.
            raise AccessRefused(exc.reply_text, exc.method_sig, exc.method_name,
                                exc.reply_code) from exc
        return conn

    @staticmethod
    def _ssl_option(value: Any, hostname: str) -> Any:
        if isinstance(value, _ssl.SSLContext) or not value:
            return value
        if isinstance(value, Mapping):
            value = dict(value)  # never modify the caller's dict
            if 'server_hostname' in value and value['server_hostname'] is None:
                value['server_hostname'] = hostname
            return value
        return True

    def verify_connection(self, connection: AMQPConnection) -> bool:
        return bool(connection.connected)

    def close_connection(self, connection: AMQPConnection) -> None:
        connection.client = None
        # Bounded: a half-open peer would keep us waiting for close-ok forever.
        with _bounded_teardown(connection):
            connection.close()

    def get_heartbeat_interval(self, connection: AMQPConnection) -> float:
        return connection.heartbeat

    def heartbeat_check(self, connection: AMQPConnection, rate: int = 2) -> None:
        return connection.heartbeat_tick(rate=rate)

    # -- event loop (Celery's worker hub)

    def register_with_event_loop(self, connection: AMQPConnection, loop: Any) -> None:
        connection.transport.raise_on_initial_eintr = True
        loop.add_reader(connection.sock, self.on_readable, connection, loop)
        interval = connection.heartbeat
        if interval and hasattr(loop, 'call_repeatedly'):
            # tick at twice the rate heartbeats are due so none is late
            connection._kombu_heartbeat_timer = loop.call_repeatedly(
                interval / 4.0, self._heartbeat_tick_from_loop, connection)

    def _heartbeat_tick_from_loop(self, connection: AMQPConnection) -> None:
        # a connection that is gone (or whose heartbeats stopped) stops its own
        # timer, so reconnects that skip unregister_from_event_loop leak nothing
        if connection.connected:
            try:
                connection.heartbeat_tick(rate=2)
                return
            except Exception:
                self._cancel_heartbeat_timer(connection)
                raise  # the hub logs it once; the next read fails the connection
        self._cancel_heartbeat_timer(connection)

    @staticmethod
    def _cancel_heartbeat_timer(connection: AMQPConnection) -> None:
        timer = connection._kombu_heartbeat_timer
        if timer is not None:
            timer.cancel()
            connection._kombu_heartbeat_timer = None

    def unregister_from_event_loop(self, connection: AMQPConnection, loop: Any) -> None:
        self._cancel_heartbeat_timer(connection)
        sock = connection.sock
        if sock is not None and hasattr(loop, 'remove_reader'):
            loop.remove_reader(sock)

    def on_readable(self, connection: AMQPConnection, loop: Any) -> None:
        cached = self._connection_reader
        if cached is None or cached[0] is not connection:
            cached = self._connection_reader = (connection, self._make_reader(connection))
        cached[1](loop)

    # -- capabilities

    def qos_semantics_matches_spec(self, connection: AMQPConnection) -> bool:
        """False where ``global=False`` means per consumer (RabbitMQ 3.3 and later)."""
        props = connection.server_properties or {}
        if props.get('product') != 'RabbitMQ':
            return True
        version = connection.server_version()
        if not version:
            return True
        return version < (3, 3)

    @property
    def default_connection_params(self) -> dict[str, Any]:
        return {
            'userid': 'guest',
            'password': 'guest',
            'port': self.default_ssl_port if self.client.ssl else self.default_port,
            'hostname': 'localhost',
            'login_method': 'PLAIN',
        }

    def get_manager(self, *args: Any, **kwargs: Any) -> Any:
        return get_manager(self.client, *args, **kwargs)


class SSLTransport(Transport):
    """``amqps://``: the same transport, with TLS on unless ``ssl`` says how."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.client.ssl:
            self.client.ssl = True
