"""The one exception tree shared by every transport.

``ConnectionError``, ``ChannelError`` and ``ResourceError`` are py-amqp's own
classes, so ``except amqp.ConnectionError`` and ``except kombu.exceptions.ConnectionError``
catch the same thing whichever transport raised it.
"""
from __future__ import annotations

from socket import timeout as TimeoutError  # the name is Kombu's public API
from types import TracebackType
from typing import Any, NoReturn

from amqp import ChannelError, ConnectionError, ResourceError
from amqp.exceptions import MessageNacked as _AMQPMessageNacked

__all__ = (
    'reraise', 'KombuError', 'OperationalError',
    'NotBoundError', 'MessageStateError', 'TimeoutError',
    'LimitExceeded', 'ConnectionLimitExceeded',
    'ChannelLimitExceeded', 'ConnectionError', 'ChannelError',
    'VersionMismatch', 'SerializerNotInstalled', 'ResourceError',
    'SerializationError', 'EncodeError', 'DecodeError', 'HttpError',
    'InconsistencyError', 'BatchPublishError', 'ContentDisallowed',
    'AccessRefused', 'DecompressionLimitExceeded', 'NameTooLong', 'MessageNacked',
    'MalformedURL', 'UnknownArgumentWarning', 'NotReplicated',
)

BaseExceptionType = type[BaseException]


def reraise(tp: BaseExceptionType, value: BaseException,
            tb: TracebackType | None = None) -> NoReturn:
    """Raise ``value`` (of type ``tp``) with traceback ``tb``."""
    if value.__traceback__ is not tb:
        raise value.with_traceback(tb)
    raise value


class KombuError(Exception):
    """Common base class for every error raised by kombu itself."""


class OperationalError(KombuError):
    """The broker or the connection to it failed while doing an operation."""


class BatchPublishError(KombuError):
    """Publishing a batch of messages failed."""


class SerializationError(KombuError):
    """A payload could not be serialized or deserialized."""


class EncodeError(SerializationError):
    """A payload could not be encoded."""


class DecodeError(SerializationError):
    """A payload could not be decoded."""


class NotBoundError(KombuError):
    """An entity was used before it was bound to a channel."""


class MessageStateError(KombuError):
    """A message was acknowledged, rejected or requeued twice."""


class LimitExceeded(KombuError):
    """A pool or resource limit was reached."""


class ConnectionLimitExceeded(LimitExceeded):
    """No more connections can be taken from the pool."""


class ChannelLimitExceeded(LimitExceeded):
    """No more channels can be taken from the pool."""


class DecompressionLimitExceeded(DecodeError, LimitExceeded):
    """A compressed body expands past the consumer's ``max_decompressed_size``.

    Raised before more than the limit (plus one chunk) is allocated, so a
    small "decompression bomb" cannot exhaust the consumer's memory. The
    message is left unacknowledged: reject or requeue it from
    ``on_decode_error``.
    """

    def __init__(self, content_type: str, limit: int) -> None:
        self.content_type = content_type
        self.limit = limit
        super().__init__(
            f'{content_type} body expands past max_decompressed_size={limit} bytes '
            f'(raise the consumer\'s or the transport\'s max_decompressed_size '
            f'to accept it)')


class VersionMismatch(KombuError):
    """A library this transport needs has an unsupported version."""


class SerializerNotInstalled(KombuError):
    """The serializer for a content type is not installed."""


class ContentDisallowed(SerializerNotInstalled):
    """The content type of a message is not in the consumer's ``accept`` list."""


class InconsistencyError(ConnectionError):
    """The broker's data is in an unexpected state; reconnecting may help."""


class NotReplicated(ConnectionError, KombuError):
    """Fewer replicas than asked acknowledged a write in time: it is not confirmed.

    The master has the write, but a failover may lose it; the caller should
    send it again (a connection error, so ``Connection.ensure`` and
    ``publish(retry=True)`` do), accepting a possible duplicate.
    """

    def __init__(self, wanted: int = 1, acked: int = 0, node: str = '',
                 timeout_ms: int = 0) -> None:
        self.wanted, self.acked, self.node, self.timeout_ms = wanted, acked, node, timeout_ms
        super().__init__(
            f'write on {node or "the master"} reached {acked} of {wanted} replica(s) '
            f'within {timeout_ms} ms: not confirmed (a failover could lose it)')

    def __reduce__(self) -> Any:
        return type(self), (self.wanted, self.acked, self.node, self.timeout_ms)


class AccessRefused(ConnectionError, OperationalError):
    """The broker refused the credentials or the permissions: retrying cannot help.

    A connection error (so ``except conn.connection_errors`` catches it) and an
    :exc:`OperationalError`, but never retried: ``ensure_connection``,
    ``ensure``, ``autoretry`` and ``publish(retry=True)`` raise it at once.
    """


class MalformedURL(KombuError, ValueError):
    """A broker URL cannot be parsed (a ValueError too, as Kombu raised one).

    The message says what is wrong and never quotes the password.
    """


class NameTooLong(KombuError, ValueError):
    """A name or routing key is longer than the protocol allows.

    AMQP 0-9-1 carries exchange and queue names, routing keys and consumer
    tags as "short strings" of at most 255 bytes (UTF-8). Raised before
    anything is sent, so the connection and the channel stay usable.
    """

    def __init__(self, field: str, value: str | bytes, limit: int = 255) -> None:
        self.field = field
        self.value = value
        self.limit = limit
        size = len(value.encode('utf-8') if isinstance(value, str) else value)
        self.size = size
        shown = value[:40]
        super().__init__(
            f'{field} is {size} bytes long, over the AMQP limit of {limit} bytes '
            f'for names and routing keys ({field} starts with {shown!r})')

    def __reduce__(self) -> Any:
        return type(self), (self.field, self.value, self.limit)


class MessageNacked(KombuError, _AMQPMessageNacked):
    """The broker refused a message published on a confirm channel (``basic.nack``).

    Not a connection loss: ``publish(retry=True)`` (``Connection.ensure``)
    retries it on a new channel within its retry policy, at most
    ``Connection.unbounded_nack_retries`` times when the policy has no
    ``max_retries`` (a full queue would refuse forever), then raises it. Also
    py-amqp's ``MessageNacked``.
    """

    def __init__(self, exchange: str = '', routing_key: str = '',
                 reason: str | None = None) -> None:
        self.exchange = exchange
        self.routing_key = routing_key
        self.reason = reason or (
            'a queue it routes to is full and rejects publishes '
            '(x-overflow=reject-publish or reject-publish-dlx), a quorum queue '
            'was electing a leader when the channel first published to it, or '
            'the broker could not store the message')
        super().__init__(
            f'The broker refused (nacked) the message published to exchange '
            f'{exchange!r} with routing key {routing_key!r}: {self.reason}')

    def __reduce__(self) -> Any:
        return type(self), (self.exchange, self.routing_key, self.reason)


class UnknownArgumentWarning(UserWarning):
    """A keyword argument that nothing reads was given (and is ignored).

    Warned, not raised, where Kombu silently accepted anything (``Exchange``,
    ``Queue``) and code in the wild passes extras; a typo or a misremembered
    name such as ``Queue(..., key=...)`` used to be dropped without a word.
    """


class HttpError(Exception):
    """An HTTP request made by a transport failed."""

    def __init__(self, code: int, message: str | None = None,
                 response: Any = None) -> None:
        self.code = code
        self.message = message
        self.response = response
        super().__init__(code, message, response)

    def __str__(self) -> str:
        return f'HTTP {self.code}: {self.message}'
