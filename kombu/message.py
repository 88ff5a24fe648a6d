"""The received message: payload decoding and acknowledgement."""
from __future__ import annotations

import logging
import sys
from logging import Logger
from typing import Any, Callable, Dict, Optional, Tuple, Type, Union

from .compression import decompress
from .exceptions import MessageStateError, reraise
from .serialization import check_content_allowed, loads
from .utils.functional import dictfilter

__all__ = ('Message',)

ACK_STATES = frozenset({'ACK', 'REJECTED', 'REQUEUED'})
IS_PYPY = hasattr(sys, 'pypy_version_info')

ErrorTypes = Union[Type[BaseException], Tuple[Type[BaseException], ...]]

logger = logging.getLogger(__name__)


class MessagingHooks:
    """Observability callbacks (tracing, metrics), called by Kombu itself.

    Not part of upstream Kombu. Each event is a list of callables, empty by
    default, so unused hooks cost one truthiness check. A hook that raises is
    logged and skipped: observability never breaks message flow.

    ``before_publish(producer, headers, properties, exchange, routing_key)``
        before the message is built; ``headers`` is this message's own dict,
        so a hook may add trace context to it.
    ``after_publish(producer, headers, properties, exchange, routing_key, body)``
        after the transport accepted the message (``body``: as sent,
        serialized and compressed).
    ``on_message(consumer, message)``
        when a consumer receives a message, before it is decoded.
    ``on_ack(message)``, ``on_reject(message, requeue)``
        after a message was acked / rejected or requeued.
    """

    EVENTS = ('before_publish', 'after_publish', 'on_message', 'on_ack', 'on_reject')

    def __init__(self) -> None:
        self.before_publish: list = []
        self.after_publish: list = []
        self.on_message: list = []
        self.on_ack: list = []
        self.on_reject: list = []

    def _event(self, event: str) -> list:
        if event not in self.EVENTS:
            raise ValueError(f'unknown hook event {event!r}: use one of {self.EVENTS}')
        hooks: list = getattr(self, event)
        return hooks

    def register(self, event: str, fun: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``fun`` on ``event``; returns ``fun``."""
        self._event(event).append(fun)
        return fun

    def unregister(self, event: str, fun: Callable[..., Any]) -> None:
        hooks = self._event(event)
        if fun in hooks:
            hooks.remove(fun)

    @staticmethod
    def run(hooks: list, *args: Any) -> None:
        for fun in tuple(hooks):
            try:
                fun(*args)
            except Exception:
                logger.exception('messaging hook %r failed', fun)


#: The process-wide hook registry.
hooks = MessagingHooks()


class _CompressedBody:
    """``Message.body`` of a compressed message: inflated on first read.

    A non-data descriptor: once inflated (or for a body that was never
    compressed) the value lives in the instance ``__dict__`` and is read
    from there at plain-attribute speed.
    """

    def __get__(self, message: Any, owner: Any = None) -> Any:
        if message is None:
            return self
        body = message._inflate()
        message.__dict__['body'] = body
        return body


class Message:
    """A message received from a broker.

    Transports build one per delivery (usually through
    ``channel.message_to_python``). Decoding is lazy and done once. A
    compressed body is inflated only when :attr:`body` or the payload is
    first needed, after the consumer's ``accept`` list allowed its content
    type, and never past :attr:`max_decompressed_size`
    (:exc:`~kombu.exceptions.DecompressionLimitExceeded`, a
    :exc:`~kombu.exceptions.DecodeError`, which a consumer hands to its
    ``on_decode_error``; the message stays unacknowledged).
    """

    MessageStateError = MessageStateError

    #: ``sys.exc_info()`` tuples of errors met while preparing the body.
    errors: Any = None

    #: The most bytes a compressed body may inflate to; ``None`` means
    #: :data:`kombu.compression.DEFAULT_MAX_DECOMPRESSED_SIZE`. A consumer
    #: sets it from its ``max_decompressed_size``.
    max_decompressed_size: Optional[int] = None

    #: The received (still compressed) body and its method, until inflated.
    _compressed: Any = None
    _compression: Optional[str] = None

    # ``body`` lives in the instance ``__dict__`` (see _CompressedBody).
    body: Any = _CompressedBody()

    if not IS_PYPY:  # pragma: no cover
        __slots__ = (
            '_state', 'channel', 'delivery_tag', 'content_type', 'content_encoding',
            'delivery_info', 'headers', 'properties', '_decoded_cache',
            'accept', '__dict__',
        )

    def __init__(self, body: Any = None, delivery_tag: Any = None,
                 content_type: Optional[str] = None,
                 content_encoding: Optional[str] = None,
                 delivery_info: Optional[Dict[str, Any]] = None,
                 properties: Optional[Dict[str, Any]] = None,
                 headers: Optional[Dict[str, Any]] = None,
                 postencode: Optional[str] = None, accept: Any = None,
                 channel: Any = None, **kwargs: Any) -> None:
        self.errors = [] if self.errors is None else self.errors
        self.channel = channel
        self.delivery_tag = delivery_tag
        self.content_type = content_type
        self.content_encoding = content_encoding
        self.delivery_info = delivery_info or {}
        self.headers = headers or {}
        self.properties = properties or {}
        self._decoded_cache = None
        self._state = 'RECEIVED'
        self.accept = accept

        compression = self.headers.get('compression')
        if compression and not self.errors:
            # Inflated on first use (see _CompressedBody), after ``accept``.
            self._compressed = body
            self._compression = compression
            return
        if postencode and isinstance(body, str) and not self.errors:
            try:
                body = body.encode(postencode)
            except Exception:
                self.errors.append(sys.exc_info())
        self.body = body

    def _inflate(self) -> Any:
        compression = self._compression
        if compression is None:  # body deleted, or never set
            raise AttributeError('body')
        compressed = self._compressed
        try:
            if self.accept is not None:
                # A refused content type is never expanded.
                check_content_allowed(self.content_type, self.accept)
            body = decompress(compressed, compression, self.max_decompressed_size)
        except Exception:
            # As Kombu does for a corrupt body: keep it as received, and the
            # error for whoever decodes (an on_decode_error handler that logs
            # ``message.body`` then sees the raw bytes, not a second error).
            self.errors.append(sys.exc_info())
            self.__dict__['body'] = compressed
            raise
        finally:
            self._compressed = self._compression = None
        return body

    @property
    def compressed_size(self) -> Optional[int]:
        """Size of the body as received, while it is still compressed."""
        compressed = self._compressed
        return None if compressed is None else len(compressed)

    def _reraise_error(self, callback: Optional[Callable[[Message, Exception], Any]] = None
                       ) -> Any:
        try:
            reraise(*self.errors[0])
        except Exception as exc:
            if not callback:
                raise
            return callback(self, exc)

    def _check_can_settle(self) -> None:
        if self.channel is None:
            raise self.MessageStateError('This message does not have a receiving channel')
        if self._state in ACK_STATES:
            raise self.MessageStateError(
                f'Message already acknowledged with state: {self._state}')

    def _from_no_ack_consumer(self) -> bool:
        no_ack_consumers = getattr(self.channel, 'no_ack_consumers', None)
        if no_ack_consumers is None:
            return False
        try:
            consumer_tag = self.delivery_info['consumer_tag']
        except KeyError:
            return False
        return consumer_tag in no_ack_consumers

    def ack(self, multiple: bool = False) -> None:
        """Acknowledge the message (removes it from the queue).

        Raises :exc:`~kombu.exceptions.MessageStateError` if already
        acknowledged, rejected or requeued. A message delivered to a
        ``no_ack`` consumer needs no ack, and this does nothing.
        """
        channel = self.channel
        if (channel is not None and getattr(channel, 'no_ack_consumers', None)
                and self._from_no_ack_consumer()):
            return
        if channel is None or self._state in ACK_STATES:
            self._check_can_settle()  # raises
        channel.basic_ack(self.delivery_tag, multiple=multiple)
        self._state = 'ACK'
        if hooks.on_ack:
            hooks.run(hooks.on_ack, self)

    def ack_log_error(self, logger: Logger, errors: ErrorTypes,
                      multiple: bool = False) -> None:
        """Acknowledge, logging (not raising) errors of the given types."""
        try:
            self.ack(multiple=multiple)
        except BrokenPipeError as exc:
            logger.critical("Couldn't ack %r, reason:%r", self.delivery_tag, exc,
                            exc_info=True)
            raise
        except errors as exc:
            logger.critical("Couldn't ack %r, reason:%r", self.delivery_tag, exc,
                            exc_info=True)

    def reject_log_error(self, logger: Logger, errors: ErrorTypes,
                         requeue: bool = False) -> None:
        """Reject, logging (not raising) errors of the given types."""
        try:
            self.reject(requeue=requeue)
        except errors as exc:
            logger.critical("Couldn't reject %r, reason: %r", self.delivery_tag, exc,
                            exc_info=True)

    def reject(self, requeue: bool = False) -> None:
        """Reject the message: dropped (or dead-lettered) unless ``requeue``."""
        self._check_can_settle()
        self.channel.basic_reject(self.delivery_tag, requeue=requeue)
        self._state = 'REJECTED'
        if hooks.on_reject:
            hooks.run(hooks.on_reject, self, requeue)

    def requeue(self) -> None:
        """Reject the message and put it back on the queue."""
        self._check_can_settle()
        self.channel.basic_reject(self.delivery_tag, requeue=True)
        self._state = 'REQUEUED'
        if hooks.on_reject:
            hooks.run(hooks.on_reject, self, True)

    def decode(self) -> Any:
        """Deserialize the body (once; the result is cached)."""
        # ``None`` means "not decoded yet" (Kombu's convention); falsy
        # payloads such as 0 or {} are cached too.
        if self._decoded_cache is None:
            self._decoded_cache = self._decode()
        return self._decoded_cache

    def _decode(self) -> Any:
        if self._compression is not None:
            # Refuse before inflating (``loads`` would check only after).
            check_content_allowed(self.content_type, self.accept)
        body = self.body
        if self.errors:
            self._reraise_error()
        return loads(body, self.content_type, self.content_encoding,
                     accept=self.accept)

    @property
    def acknowledged(self) -> bool:
        """True once the message was acked, rejected or requeued."""
        return self._state in ACK_STATES

    @property
    def payload(self) -> Any:
        """The decoded body."""
        return self.decode()

    def _body_length(self) -> Optional[int]:
        # Never inflates: a repr must not be a way to set off a bomb.
        body = self.__dict__.get('body', self._compressed)
        return None if body is None else len(body)

    def __repr__(self) -> str:
        details = {
            'state': self._state,
            'content_type': self.content_type,
            'delivery_tag': self.delivery_tag,
            'body_length': self._body_length(),
            'properties': dictfilter(
                correlation_id=self.properties.get('correlation_id'),
                type=self.properties.get('type')),
            'delivery_info': dictfilter(
                exchange=self.delivery_info.get('exchange'),
                routing_key=self.delivery_info.get('routing_key')),
        }
        return (f'<{type(self).__name__} object at {id(self):#x} '
                f'with details {dictfilter(details)!r}>')
