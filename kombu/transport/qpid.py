"""Qpid transport (native, AMQP 0-10) on ``qpid.messaging`` and ``qpidtoollibs``.

**Not tested against a live broker.** Neither a ``qpidd`` broker nor a Python 3
``qpid.messaging`` client (``qpid-python``/``qpid-tools`` are Python 2 only) can be
installed where this project is tested.  The transport is written against the
``qpid.messaging`` and ``qpidtoollibs`` APIs and tested with a fake of that client
surface over an in-process broker model (``t/fakes/qpid.py``); the features below
are what the conformance suite proves on that fake.

Features
========
* Type: Native
* Supports Direct: Yes
* Supports Topic: Yes
* Supports Headers: Yes
* Supports Fanout: Yes
* Supports Priority: Yes (``x-max-priority`` becomes qpidd's ``qpid.priorities``, at
  most 10 levels)
* Supports TTL: per message only (``expiration`` becomes the message's ``ttl``); no
  queue ``x-message-ttl``

Routing, priorities and expiry are the broker's, so every client shares them.

Connection String
=================
::

    qpid://[username:password@]host[:port]

``ssl=True`` on the :class:`~kombu.Connection` uses the ``ssl`` transport of
qpid.messaging; ``login_method`` sets the SASL mechanisms (default
``'PLAIN ANONYMOUS'``).

Delivery
========
Each channel has its own qpid session: what a channel received and did not
acknowledge goes back to its queue (flagged redelivered) when the channel or its
connection closes.  ``basic_qos(prefetch_count)`` is the receivers' capacity.
Rejected messages are dropped, or go to the queue's ``alternate-exchange``;
``x-max-length`` becomes qpidd's ring policy (oldest dropped).

Transport Options
=================
None beyond Kombu's common ones.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Mapping

from amqp.protocol import queue_declare_ok_t  # type: ignore[import-untyped]

from kombu.exceptions import ChannelError

from . import base
from .virtual import Base64, Message
from .virtual.errors import ErrorTranslator
from .virtual.message import CORRUPT, as_envelope, next_delivery_tag

try:
    import qpid.messaging as qpid_messaging  # type: ignore[import-not-found]
    import qpid.messaging.exceptions  # type: ignore[import-not-found]  # noqa: F401
    import qpidtoollibs  # type: ignore[import-not-found]
except (ImportError, SyntaxError):  # pragma: no cover - Python 2 only libraries
    qpid_messaging = None
    qpidtoollibs = None

__all__ = ('AuthenticationFailure', 'QoS', 'Channel', 'Connection', 'Transport',
           'dependency_is_none')

logger = logging.getLogger(__name__)

VERSION = (1, 0, 0)
__version__ = '.'.join(map(str, VERSION))

#: what qpidtoollibs says when an object to create exists already.
OBJECT_ALREADY_EXISTS_STRING = 'object already exists'

DEFAULT_PORT = 5672

#: cap of the wait between checks of the sessions (a notification usually comes first).
_WAKE_CHECK = 0.1


def dependency_is_none(dependency: Any) -> bool:
    """True if ``dependency`` (a module the transport imports) is missing."""
    return dependency is None


class AuthenticationFailure(Exception):
    """The broker refused the credentials (SASL)."""


def _translator() -> ErrorTranslator:
    """The error kinds of the qpid.messaging in use (tests put a fake in its place)."""
    module = qpid_messaging
    cached = _translators.get(id(module))
    if cached is None:
        exceptions = getattr(module, 'exceptions', None)
        if exceptions is None:
            cached = ErrorTranslator('qpid', auth=(AuthenticationFailure,))
        else:
            cached = ErrorTranslator(
                'qpid',
                connection=(exceptions.ConnectionError,),
                auth=(AuthenticationFailure, exceptions.AuthenticationFailure),
                not_found=(exceptions.NotFound,),
                channel=(exceptions.SessionError, exceptions.MessagingError))
        _translators.clear()
        _translators[id(module)] = cached
    return cached


_translators: dict[int, ErrorTranslator] = {}


def _errors(operation: str, name: str | None = None) -> Any:
    return _translator()(operation, name)


def _already_exists(exc: BaseException) -> bool:
    return OBJECT_ALREADY_EXISTS_STRING in str(exc)


class QoS:
    """Prefetch limit and the received, unacknowledged messages of a channel.

    Messages are qpid.messaging messages, acknowledged (or released/rejected)
    through ``session``.
    """

    def __init__(self, session: Any, prefetch_count: int = 1) -> None:
        self.session = session
        self.prefetch_count = prefetch_count or 0
        self._not_yet_acked: OrderedDict[Any, Any] = OrderedDict()

    def can_consume(self) -> bool:
        pcount = self.prefetch_count
        return not pcount or len(self._not_yet_acked) < pcount

    def can_consume_max_estimate(self) -> int:
        pcount = self.prefetch_count
        return max(pcount - len(self._not_yet_acked), 0) if pcount else 1

    def append(self, message: Any, delivery_tag: Any) -> None:
        self._not_yet_acked[delivery_tag] = message

    def get(self, delivery_tag: Any) -> Any:
        return self._not_yet_acked[delivery_tag]

    def ack(self, delivery_tag: Any) -> None:
        message = self._not_yet_acked.pop(delivery_tag)
        with _errors('ack'):
            self.session.acknowledge(message=message)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        message = self._not_yet_acked.pop(delivery_tag)
        kind = qpid_messaging.RELEASED if requeue else qpid_messaging.REJECTED
        with _errors('reject'):
            self.session.acknowledge(message=message,
                                     disposition=qpid_messaging.Disposition(kind))


def _queue_options(queue: str, arguments: Mapping[str, Any] | None, durable: bool,
                   exclusive: bool, auto_delete: bool) -> dict[str, Any]:
    """qpidtoollibs options for a queue: Kombu's ``x-`` arguments as qpidd knows them."""
    arguments = dict(arguments or {})
    options: dict[str, Any] = {'durable': durable, 'exclusive': exclusive,
                               'auto-delete': auto_delete, 'arguments': arguments}
    max_priority = arguments.get('x-max-priority')
    if max_priority:
        # qpidd keeps at most 10 levels; 0..max_priority needs max_priority + 1.
        options['qpid.priorities'] = min(int(max_priority) + 1, 10)
    max_length = arguments.get('x-max-length')
    if max_length is not None:
        options['qpid.max_count'] = int(max_length)
        options['qpid.policy_type'] = 'ring'   # drop the oldest, as x-max-length does
    if arguments.get('x-dead-letter-exchange'):
        options['alternate-exchange'] = arguments['x-dead-letter-exchange']
    if queue.startswith('celeryev') or queue.endswith('pidbox'):
        # Celery never acks these: a ring keeps them from filling the broker.
        options['qpid.policy_type'] = 'ring'
    return options


_QoS = QoS
_Message = Message


class Channel(base.StdChannel):
    """A channel: one qpid session, and a broker agent for declarations."""

    QoS = QoS
    Message = Message

    #: encoding of message bodies (``transport_options['body_encoding']`` overrides).
    body_encoding = 'base64'
    codecs = {'base64': Base64()}
    #: lets :class:`~kombu.transport.virtual.Message` decode base64 itself.
    _plain_base64 = True

    def __init__(self, connection: Connection, transport: Transport) -> None:
        self.connection = connection
        self.transport = transport
        qpid_connection = connection.get_qpid_connection()
        with _errors('open channel'):
            self._broker = qpidtoollibs.BrokerAgent(qpid_connection)
            self.session = qpid_connection.session()
        self.session.set_message_received_notify_handler(transport._on_message_ready)
        self.body_encoding = transport.client.transport_options.get(
            'body_encoding', self.body_encoding)
        self.closed = False
        self._tag_to_queue: dict[str, str] = {}
        self._receivers: dict[str, Any] = {}
        self._callbacks: dict[Any, Callable[[Any], Any]] = {}
        self._senders: dict[str, Any] = {}
        self._qos: _QoS | None = None
        self.channel_id = id(self)

    # -- queues -----------------------------------------------------------------

    def _address(self, queue: str) -> str:
        return f'{queue}; {{assert: always, node: {{type: queue}}}}'

    def _get(self, queue: str) -> Any:
        with _errors('get', queue):
            receiver = self.session.receiver(self._address(queue))
            try:
                return receiver.fetch(timeout=0)
            finally:
                receiver.close()

    def _size(self, queue: str) -> int:
        with _errors('size', queue):
            found = self._broker.getQueue(queue)
        if found is None:
            raise ChannelError(f"NOT_FOUND - no queue '{queue}'", None, None, 404)
        return found.values['msgDepth']

    def _purge(self, queue: str) -> int:
        with _errors('purge', queue):
            found = self._broker.getQueue(queue)
            if found is None:
                raise ChannelError(f"NOT_FOUND - no queue '{queue}'", None, None, 404)
            count = found.values['msgDepth']
            if count > 0:
                found.purge(count)
        return count

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self._purge(queue)
        with _errors('delete', queue):
            self._broker.delQueue(queue)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        with _errors('declare', queue):
            return self._broker.getQueue(queue) is not None

    def queue_declare(self, queue: str, passive: bool = False, durable: bool = False,
                      exclusive: bool = False, auto_delete: bool = True,
                      nowait: bool = False, arguments: Mapping[str, Any] | None = None,
                      **kwargs: Any) -> Any:
        """Declare ``queue`` (qpidd keeps it and its arguments); returns its counts."""
        if not passive:
            options = _queue_options(queue, arguments, durable, exclusive, auto_delete)
            try:
                with _errors('declare', queue):
                    self._broker.addQueue(queue, options=options)
            except ChannelError as exc:
                if not _already_exists(exc):
                    raise
        with _errors('declare', queue):
            found = self._broker.getQueue(queue)
        if found is None:
            raise ChannelError(f"NOT_FOUND - no queue '{queue}'", (50, 10),
                               'Channel.queue_declare', 404)
        values = found.values
        return queue_declare_ok_t(queue, values['msgDepth'], values['consumerCount'])

    def queue_delete(self, queue: str, if_unused: bool = False, if_empty: bool = False,
                     **kwargs: Any) -> int | None:
        """Delete ``queue`` with its messages (unless in use or not empty, if asked)."""
        if not self._has_queue(queue):
            return None
        size = self._size(queue)
        if if_empty and size:
            return None
        with _errors('delete', queue):
            consumers = self._broker.getQueue(queue).getAttributes()['consumerCount']
        if if_unused and consumers > 0:
            return None
        self._delete(queue)
        return size

    def queue_bind(self, queue: str, exchange: str, routing_key: str = '',
                   arguments: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        """Bind ``queue`` to ``exchange`` (the default exchange needs no binding)."""
        if not exchange:
            return
        with _errors('bind', queue):
            self._broker.bind(exchange, queue, routing_key, options=dict(arguments or {}))

    def queue_unbind(self, queue: str, exchange: str, routing_key: str = '',
                     **kwargs: Any) -> None:
        if not exchange:
            return
        with _errors('unbind', queue):
            self._broker.unbind(exchange, queue, routing_key)

    def queue_purge(self, queue: str, **kwargs: Any) -> int:
        return self._purge(queue)

    def prepare_queue_arguments(self, arguments: Any, **kwargs: Any) -> Any:
        """Kombu's queue options (``max_priority``...) as ``x-`` arguments."""
        return base.to_rabbitmq_queue_arguments(arguments or {}, **kwargs)

    # -- exchanges --------------------------------------------------------------

    def exchange_declare(self, exchange: str = '', type: str = 'direct',
                         durable: bool = False, passive: bool = False,
                         **kwargs: Any) -> None:
        """Declare ``exchange`` of ``type`` (nothing happens if it exists)."""
        if passive:
            with _errors('declare exchange', exchange):
                found = self._broker.getExchange(exchange)
            if found is None:
                raise ChannelError(f"NOT_FOUND - no exchange '{exchange}'", (40, 10),
                                   'Channel.exchange_declare', 404)
            return
        try:
            with _errors('declare exchange', exchange):
                self._broker.addExchange(type, exchange, {'durable': durable})
        except ChannelError as exc:
            if not _already_exists(exc):
                raise

    def exchange_delete(self, exchange_name: str, **kwargs: Any) -> None:
        try:
            with _errors('delete exchange', exchange_name):
                self._broker.delExchange(exchange_name)
        except ChannelError as exc:
            if exc.reply_code != 404:
                raise

    def typeof(self, exchange: str, default: str = 'direct') -> str:
        """The type of ``exchange`` on the broker (``default`` if it has none)."""
        with _errors('declare exchange', exchange):
            found = self._broker.getExchange(exchange)
        if found is None:
            return default
        return found.values.get('type', default)

    # -- messages -----------------------------------------------------------------

    def _to_kombu(self, qpid_message: Any) -> _Message:
        raw = as_envelope(qpid_message.content)   # another client may send anything
        if CORRUPT in raw['properties']:
            return self.Message(raw, channel=self)   # for on_decode_error
        raw = dict(raw)
        props = raw['properties'] = dict(raw['properties'])
        # A tag per delivery: a redelivered message is a new delivery.
        props['delivery_tag'] = next_delivery_tag()
        if qpid_message.redelivered:
            info = props['delivery_info'] = dict(props.get('delivery_info') or {})
            info['redelivered'] = True
            raw['redelivered'] = True
        return self.Message(raw, channel=self)

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> _Message | None:
        """One message of ``queue`` or None; unless ``no_ack`` it waits for an ack."""
        try:
            qpid_message = self._get(queue)
        except qpid_messaging.Empty:
            return None
        message = self._to_kombu(qpid_message)
        self.qos.append(qpid_message, message.delivery_tag)
        if no_ack:
            self.qos.ack(message.delivery_tag)
        return message

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        self.qos.ack(delivery_tag)

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        self.qos.reject(delivery_tag, requeue=requeue)

    def basic_consume(self, queue: str, no_ack: bool, callback: Callable[..., Any],
                      consumer_tag: str, **kwargs: Any) -> str:
        """Consume ``queue``: :meth:`Transport.drain_events` calls ``callback(message)``."""
        self._tag_to_queue[consumer_tag] = queue

        def _callback(qpid_message: Any) -> Any:
            message = self._to_kombu(qpid_message)
            self.qos.append(qpid_message, message.delivery_tag)
            if no_ack:   # nobody acks it later
                self.basic_ack(message.delivery_tag)
            return callback(message)

        with _errors('consume', queue):
            receiver = self.session.receiver(self._address(queue))
        receiver.capacity = self.qos.prefetch_count
        self._receivers[consumer_tag] = receiver
        self._callbacks[receiver] = _callback
        return consumer_tag

    def basic_cancel(self, consumer_tag: str) -> None:
        receiver = self._receivers.pop(consumer_tag, None)
        if receiver is not None:
            self._callbacks.pop(receiver, None)
            with _errors('cancel'):
                receiver.close()
            self._tag_to_queue.pop(consumer_tag, None)

    def _drain_one(self) -> bool:
        """Deliver one ready message of this channel's consumers; False if none."""
        if not self._callbacks or not self.qos.can_consume():
            return False
        try:
            with _errors('receive'):
                receiver = self.session.next_receiver(timeout=0)
                qpid_message = receiver.fetch(timeout=0)
        except qpid_messaging.Empty:
            return False
        callback = self._callbacks.get(receiver)
        if callback is None:   # cancelled meanwhile: give it back
            self.session.acknowledge(message=qpid_message, disposition=qpid_messaging
                                     .Disposition(qpid_messaging.RELEASED))
            return False
        callback(qpid_message)
        return True

    def close(self) -> None:
        """Cancel the consumers and close the session (unacked messages go back)."""
        if self.closed:
            return
        self.closed = True
        for consumer_tag in list(self._receivers):
            self.basic_cancel(consumer_tag)
        try:
            self.session.close()
        except Exception:  # the connection may be gone already
            logger.debug('qpid: closing a session failed', exc_info=True)
        self._broker.close()
        if self.connection is not None:
            self.connection.close_channel(self)

    @property
    def qos(self) -> _QoS:
        if self._qos is None:
            self._qos = self.QoS(self.session, prefetch_count=0)
        return self._qos

    def basic_qos(self, prefetch_size: int = 0, prefetch_count: int = 0,
                  apply_global: bool = False) -> None:
        """The prefetch limit, also the capacity of this channel's receivers."""
        self.qos.prefetch_count = prefetch_count or 0
        for receiver in self._receivers.values():
            receiver.capacity = self.qos.prefetch_count

    def prepare_message(self, body: Any, priority: int | None = None,
                        content_type: str | None = None,
                        content_encoding: str | None = None,
                        headers: dict[str, Any] | None = None,
                        properties: dict[str, Any] | None = None) -> dict[str, Any]:
        properties = properties or {}
        properties.setdefault('delivery_info', {})
        properties['priority'] = priority or 0
        return {'body': body, 'content-encoding': content_encoding,
                'content-type': content_type, 'headers': headers or {},
                'properties': properties}

    def basic_publish(self, message: dict[str, Any], exchange: str, routing_key: str,
                      **kwargs: Any) -> None:
        """Send ``message`` to ``exchange`` (or straight to queue ``routing_key``)."""
        message['body'], body_encoding = self.encode_body(message['body'],
                                                          self.body_encoding)
        props = message['properties']
        props.update(body_encoding=body_encoding, delivery_tag=next_delivery_tag())
        props['delivery_info'].update(exchange=exchange, routing_key=routing_key)
        if exchange:
            address = f'{exchange}/{routing_key}; {{assert: always, node: {{type: topic}}}}'
        else:
            address = self._address(routing_key)
        ttl = None
        if props.get('expiration') is not None:
            ttl = max(float(props['expiration']) / 1000.0, 0.001)
        qpid_message = qpid_messaging.Message(
            content=message, subject=routing_key if exchange else None, ttl=ttl,
            priority=int(props.get('priority') or 0))
        with _errors('publish', exchange or routing_key):
            self._sender(address).send(qpid_message, sync=True)

    def _sender(self, address: str) -> Any:
        sender = self._senders.get(address)
        if sender is None:
            if len(self._senders) > 1000:   # unbounded key spaces: start over
                for old in self._senders.values():
                    old.close()
                self._senders.clear()
            sender = self._senders[address] = self.session.sender(address)
        return sender

    def encode_body(self, body: Any, encoding: str | None = None) -> tuple[Any, Any]:
        if encoding:
            return self.codecs[encoding].encode(body), encoding
        return body, encoding

    def decode_body(self, body: Any, encoding: str | None = None) -> Any:
        if encoding:
            return self.codecs[encoding].decode(body)
        return body


_Channel = Channel


class Connection:
    """A qpid.messaging connection, and the channels opened on it."""

    Channel = Channel

    def __init__(self, **connection_options: Any) -> None:
        self.connection_options = connection_options
        self.channels: list[_Channel] = []
        self._callbacks: dict[str, Any] = {}
        options = dict(connection_options)
        self._qpid_conn = qpid_messaging.Connection(**options)
        try:
            self._qpid_conn.open()
        except qpid_messaging.exceptions.AuthenticationFailure as exc:
            raise AuthenticationFailure(
                f'qpid: authentication failed for {options.get("username")!r} with '
                f'{options.get("sasl_mechanisms")!r}: {exc}') from exc

    def get_qpid_connection(self) -> Any:
        return self._qpid_conn

    def close(self) -> None:
        for channel in list(self.channels):
            channel.close()
        try:
            self._qpid_conn.close()
        except Exception:  # already gone
            logger.debug('qpid: closing the connection failed', exc_info=True)

    def close_channel(self, channel: _Channel) -> None:
        try:
            self.channels.remove(channel)
        except ValueError:
            pass
        channel.connection = None  # type: ignore[assignment]  # closed: no connection


#: for annotations inside Transport, where ``Connection`` is its class attribute.
_Conn = Connection


class _ErrorKinds:
    """A class attribute computed from :func:`_translator` when read."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __get__(self, obj: Any, cls: Any = None) -> tuple[type[BaseException], ...]:
        return getattr(_translator(), self.kind)


class Transport(base.Transport):
    """Qpid transport."""

    Connection = Connection

    default_port = DEFAULT_PORT
    polling_interval = None
    implements = base.Transport.implements.extend(
        asynchronous=True, exchange_type=frozenset(['direct', 'topic', 'fanout', 'headers']))
    driver_type = 'qpid'
    driver_name = 'qpid'

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.verify_runtime_environment()
        super().__init__(*args, **kwargs)
        self._ready = threading.Event()
        self._r: int | None = None
        self._w: int | None = None

    # Error kinds come from the qpid.messaging in use (read on the class by Connection).
    connection_errors = _ErrorKinds('connection_errors')  # type: ignore[assignment]
    channel_errors = _ErrorKinds('channel_errors')  # type: ignore[assignment]
    recoverable_connection_errors = _ErrorKinds('connection_errors')
    recoverable_channel_errors = ()

    def verify_runtime_environment(self) -> None:
        """Raise when qpid.messaging or qpidtoollibs cannot be used."""
        if dependency_is_none(qpid_messaging) or dependency_is_none(qpidtoollibs):
            raise RuntimeError(
                'the qpid transport needs qpid.messaging and qpidtoollibs '
                '(pip install qpid-python qpid-tools; both are Python 2 only today)')

    def _on_message_ready(self, session: Any = None) -> None:
        # Called by qpid.messaging's thread: wake drain_events and the event loop.
        self._ready.set()
        if self._w is not None:
            try:
                os.write(self._w, b'x')
            except OSError:  # pipe full: the loop is awake anyway
                pass

    def establish_connection(self) -> _Conn:
        """Open a connection with the client's host, port, credentials and SSL."""
        conninfo = self.client
        options: dict[str, Any] = {
            'host': conninfo.hostname or 'localhost',
            'port': conninfo.port or self.default_port,
            'username': conninfo.userid,
            'password': conninfo.password,
            'sasl_mechanisms': conninfo.login_method or 'PLAIN ANONYMOUS',
            'transport': 'ssl' if conninfo.ssl else 'tcp',
        }
        if conninfo.connect_timeout:
            options['timeout'] = conninfo.connect_timeout
        if isinstance(conninfo.ssl, dict):
            for ours, theirs in (('keyfile', 'ssl_keyfile'), ('certfile', 'ssl_certfile'),
                                 ('ca_certs', 'ssl_trustfile')):
                if conninfo.ssl.get(ours):
                    options[theirs] = conninfo.ssl[ours]
        with _errors('connect', options['host']):
            connection = self.Connection(**options)
        connection.client = conninfo  # type: ignore[attr-defined]
        return connection

    def close_connection(self, connection: _Conn) -> None:
        connection.close()
        for fd in (self._r, self._w):
            if fd is not None:
                os.close(fd)
        self._r = self._w = None

    def create_channel(self, connection: _Conn) -> Channel:
        channel = connection.Channel(connection, self)
        connection.channels.append(channel)
        return channel

    def drain_events(self, connection: _Conn, timeout: float | None = 0,
                     **kwargs: Any) -> None:
        """Deliver one message of any channel; ``socket.timeout`` after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._ready.clear()
            for channel in list(connection.channels):
                if channel._drain_one():
                    return
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise socket.timeout()
            self._ready.wait(_WAKE_CHECK if remaining is None else min(remaining, _WAKE_CHECK))

    def register_with_event_loop(self, connection: _Conn, loop: Any) -> None:
        """Make the event loop call :meth:`on_readable` when messages arrive."""
        if self._r is None:
            self._r, self._w = os.pipe()
            os.set_blocking(self._r, False)
            os.set_blocking(self._w, False)
        loop.add_reader(self._r, self.on_readable, connection, loop)

    def on_readable(self, connection: _Conn, loop: Any) -> None:
        """Deliver what is ready (the pipe only says that something may be)."""
        if self._r is not None:
            try:
                os.read(self._r, 4096)
            except BlockingIOError:
                pass
        while True:
            try:
                self.drain_events(connection, timeout=0)
            except socket.timeout:
                return

    @property
    def default_connection_params(self) -> dict[str, Any]:
        return {'userid': 'guest', 'password': '', 'port': self.default_port,
                'virtual_host': '', 'hostname': 'localhost',
                'sasl_mechanisms': 'PLAIN ANONYMOUS'}
