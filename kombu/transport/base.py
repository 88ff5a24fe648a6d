"""Base classes for transports: Transport, StdChannel, Management, Implements."""
from __future__ import annotations

import errno
import socket
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Type

from amqp.exceptions import RecoverableConnectionError

from kombu.exceptions import ChannelError, ConnectionError
from kombu.message import Message
from kombu.utils.functional import dictfilter
from kombu.utils.objects import cached_property
from kombu.utils.time import maybe_s_to_ms

__all__ = ('Message', 'StdChannel', 'Management', 'Transport')

ErrorTuple = Tuple[Type[BaseException], ...]


#: Kombu queue option -> (RabbitMQ queue argument, converter).
RABBITMQ_QUEUE_ARGUMENTS: Dict[str, Tuple[str, Optional[Callable[[Any], Any]]]] = {
    'expires': ('x-expires', maybe_s_to_ms),
    'message_ttl': ('x-message-ttl', maybe_s_to_ms),
    'max_length': ('x-max-length', int),
    'max_length_bytes': ('x-max-length-bytes', int),
    'max_priority': ('x-max-priority', int),
}


def to_rabbitmq_queue_arguments(arguments: Mapping[str, Any], **options: Any) -> Any:
    """Merge Kombu queue options into RabbitMQ ``x-`` queue arguments.

    ``expires`` and ``message_ttl`` are seconds and become milliseconds.
    Options that are ``None`` are left out; ``arguments`` is returned
    unchanged when no option is set.

    >>> to_rabbitmq_queue_arguments({}, message_ttl=1.5, max_length=10)
    {'x-message-ttl': 1500, 'x-max-length': 10}
    """
    prepared = {}
    for key, value in options.items():
        try:
            name, convert = RABBITMQ_QUEUE_ARGUMENTS[key]
        except KeyError:
            raise TypeError(f'unknown queue option {key!r}: expected one of '
                            f'{sorted(RABBITMQ_QUEUE_ARGUMENTS)}') from None
        prepared[name] = convert(value) if convert and value is not None else value
    prepared = dictfilter(prepared)
    return dict(arguments, **prepared) if prepared else arguments


class _LeftBlank(NotImplementedError):
    def __init__(self, obj: Any, method: str) -> None:
        self.obj = obj
        self.method = method

    def __str__(self) -> str:
        cls = type(self.obj)
        return f'Transport {cls.__module__}.{cls.__name__} does not implement {self.method}'


class StdChannel:
    """Methods every transport channel has, beyond the AMQP-like operations."""

    #: Consumer tags of ``no_ack`` consumers (their messages need no ack).
    no_ack_consumers: Any = None

    def Consumer(self, *args: Any, **kwargs: Any) -> Any:
        from kombu.messaging import Consumer
        return Consumer(self, *args, **kwargs)

    def Producer(self, *args: Any, **kwargs: Any) -> Any:
        from kombu.messaging import Producer
        return Producer(self, *args, **kwargs)

    def get_bindings(self) -> Any:
        raise NotImplementedError(f'{type(self)!r} does not implement list_bindings')

    def after_reply_message_received(self, queue: str) -> None:
        """Hook called after the replies of an RPC call were received."""

    def prepare_queue_arguments(self, arguments: Any, **kwargs: Any) -> Any:
        """Turn Kombu queue options into broker arguments (default: unchanged)."""
        return arguments

    def __enter__(self) -> StdChannel:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()  # type: ignore[attr-defined]


class Management:
    """Broker management API of a transport (bindings listing, ...)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def get_bindings(self) -> Any:
        raise _LeftBlank(self, 'get_bindings')


_Management = Management


class Implements(dict):
    """Capabilities of a transport, readable as attributes."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def extend(self, **kwargs: Any) -> Implements:
        """A copy with the given capabilities changed."""
        return self.__class__(self, **kwargs)


default_transport_capabilities = Implements(
    asynchronous=False,
    batch_publish=False,
    exchange_type=frozenset(['direct', 'topic', 'fanout', 'headers']),
    heartbeats=False,
)


class _DefaultsTo:
    """Class attribute that reads another attribute unless a subclass sets it.

    Works on the class too, because Connection asks the transport *class*
    for its recoverable errors.
    """

    def __init__(self, other: str) -> None:
        self.other = other

    def __get__(self, obj: Any, cls: Optional[type] = None) -> Any:
        return getattr(cls if obj is None else obj, self.other)


class Transport:
    """Base class of transports: connects to a broker and creates channels."""

    Management = Management

    #: The :class:`~kombu.Connection` owning this instance.
    client: Any = None

    #: Set if this transport parses the URL itself (``Connection`` keeps it whole).
    can_parse_url = False

    default_port: Optional[int] = None

    #: Errors meaning the connection is lost.
    connection_errors: ErrorTuple = (ConnectionError,)

    #: Errors meaning the channel is lost.
    channel_errors: ErrorTuple = (ChannelError,)

    #: Connection errors that reconnecting can recover from (default: all of them).
    recoverable_connection_errors: Any = _DefaultsTo('connection_errors')

    #: Channel errors that a new channel can recover from (default: none).
    recoverable_channel_errors: ErrorTuple = ()

    driver_type = 'N/A'
    driver_name = 'N/A'

    implements = default_transport_capabilities.extend()

    _reader: Optional[Callable[[Any], None]] = None

    def __init__(self, client: Any, **kwargs: Any) -> None:
        self.client = client

    def establish_connection(self) -> Any:
        raise _LeftBlank(self, 'establish_connection')

    def close_connection(self, connection: Any) -> None:
        raise _LeftBlank(self, 'close_connection')

    def create_channel(self, connection: Any) -> Any:
        raise _LeftBlank(self, 'create_channel')

    def close_channel(self, connection: Any) -> None:
        raise _LeftBlank(self, 'close_channel')

    def drain_events(self, connection: Any, **kwargs: Any) -> Any:
        raise _LeftBlank(self, 'drain_events')

    def heartbeat_check(self, connection: Any, rate: int = 2) -> None:
        """Send/check heartbeats (no-op for transports without heartbeats)."""

    def driver_version(self) -> str:
        return 'N/A'

    def get_heartbeat_interval(self, connection: Any) -> float:
        return 0

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        """Register the connection's file descriptors with an event loop."""

    def unregister_from_event_loop(self, connection: Any, loop: Any) -> None:
        """Undo :meth:`register_with_event_loop`."""

    def verify_connection(self, connection: Any) -> bool:
        return True

    def _make_reader(self, connection: Any) -> Callable[[Any], None]:
        drain_events = connection.drain_events
        retry_later = (errno.EAGAIN, errno.EINTR)

        def _read(loop: Any) -> None:
            if not connection.connected:
                raise RecoverableConnectionError('Socket was disconnected')
            try:
                drain_events(timeout=0)
            except socket.timeout:
                return
            except OSError as exc:
                if exc.errno in retry_later:
                    return
                raise
            # more frames may already be buffered: read again soon
            loop.call_soon(_read, loop)

        return _read

    def qos_semantics_matches_spec(self, connection: Any) -> bool:
        return True

    def on_readable(self, connection: Any, loop: Any) -> None:
        """Called by the event loop when the connection has data to read."""
        reader = self._reader
        if reader is None:
            reader = self._reader = self._make_reader(connection)
        reader(loop)

    def as_uri(self, uri: str, include_password: bool = False, mask: str = '**') -> str:
        """Format the URI for display (transports that parse URLs override this)."""
        raise NotImplementedError()

    @property
    def default_connection_params(self) -> Dict[str, Any]:
        return {}

    def get_manager(self, *args: Any, **kwargs: Any) -> _Management:
        return self.Management(self)

    @cached_property
    def manager(self) -> _Management:
        return self.get_manager()

    @property
    def supports_heartbeats(self) -> bool:
        return self.implements.heartbeats

    @property
    def supports_ev(self) -> bool:
        return self.implements.asynchronous
