"""Mixins for consumer (and consumer-producer) threads that survive broker restarts."""
from __future__ import annotations

import socket
from contextlib import contextmanager
from functools import partial
from itertools import count
from time import monotonic, sleep
from typing import Any, Callable, ContextManager, Iterator, Sequence

from .common import ignore_errors
from .log import get_logger
from .messaging import Consumer, Producer
from .utils.compat import nested
from .utils.encoding import safe_repr
from .utils.limits import TokenBucket
from .utils.objects import cached_property

__all__ = ('ConsumerMixin', 'ConsumerProducerMixin')

logger = get_logger(__name__)
debug, info, warn, error = logger.debug, logger.info, logger.warning, logger.error

_Consumer = Consumer  # for annotations inside the class, whose method shadows the name

W_CONN_LOST = """\
Connection to broker lost, trying to re-establish connection...\
"""

W_CONN_ERROR = """\
Broker connection error, trying again in %s seconds: %r.\
"""


class ConsumerMixin:
    """Consume from a connection until :attr:`should_stop`, reconnecting on errors.

    A subclass sets :attr:`connection` (a :class:`kombu.Connection`) and implements
    :meth:`get_consumers`; :meth:`run` then consumes on a clone of that connection
    and, when the broker goes away, logs a warning, reconnects and carries on.
    Unacknowledged messages of a lost connection are redelivered by the broker,
    so none are lost as long as callbacks acknowledge after their work.
    """

    #: The connection to clone for consuming (set by the subclass).
    connection: Any = None

    #: Retries of each reconnect before giving up (``None``: forever).
    connect_max_retries: int | None = None

    #: Set to true (from a callback or another thread) to make :meth:`run` return.
    should_stop = False

    def get_consumers(self, Consumer: Callable[..., _Consumer],
                      channel: Any) -> list[_Consumer]:
        raise NotImplementedError('Subclass responsibility')

    def on_connection_revived(self) -> None:
        pass

    def on_consume_ready(self, connection: Any, channel: Any,
                         consumers: Sequence[_Consumer], **kwargs: Any) -> None:
        pass

    def on_consume_end(self, connection: Any, channel: Any) -> None:
        pass

    def on_iteration(self) -> None:
        pass

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        error("Can't decode message body: %r (type:%r encoding:%r raw:%r')",
              exc, message.content_type, message.content_encoding,
              safe_repr(message.body))
        # Acked so an undecodable message does not come back forever.
        message.ack()

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        warn(W_CONN_ERROR, interval, exc, exc_info=True)

    @contextmanager
    def extra_context(self, connection: Any, channel: Any) -> Iterator[None]:
        yield

    def run(self, _tokens: int = 1, **kwargs: Any) -> None:
        """Consume until :attr:`should_stop`, re-establishing lost connections."""
        restart_limit = self.restart_limit
        errors = tuple(self.connection.connection_errors) + \
            tuple(self.connection.channel_errors)
        while not self.should_stop:
            try:
                if restart_limit.can_consume(_tokens):
                    for _ in self.consume(limit=None, **kwargs):
                        pass
                else:
                    # Restarting in a tight loop would hammer a failing broker.
                    sleep(restart_limit.expected_time(_tokens))
            except errors:
                warn(W_CONN_LOST, exc_info=True)

    @contextmanager
    def consumer_context(self, **kwargs: Any) -> Iterator[tuple[Any, Any, list[_Consumer]]]:
        with self.Consumer() as (connection, channel, consumers):
            with self.extra_context(connection, channel):
                self.on_consume_ready(connection, channel, consumers, **kwargs)
                yield connection, channel, consumers

    def consume(self, limit: int | None = None, timeout: float | None = None,
                safety_interval: float = 1, **kwargs: Any) -> Iterator[None]:
        """Yield once per event drained, at most ``limit`` times.

        Waits ``safety_interval`` at a time so that :attr:`should_stop` and
        heartbeats are looked at regularly; raises ``socket.timeout`` after
        ``timeout`` seconds without any event.
        """
        elapsed = 0.0
        with self.consumer_context(**kwargs) as (conn, channel, consumers):
            # Heartbeats are also due while messages keep arriving (then the
            # wait below never times out), or a no_ack consumer that only
            # receives would be dropped by the broker as silent.
            heartbeat_due = monotonic() + safety_interval
            for _ in range(limit) if limit else count():
                if self.should_stop:
                    break
                self.on_iteration()
                try:
                    conn.drain_events(timeout=safety_interval)
                except socket.timeout:
                    conn.heartbeat_check()
                    heartbeat_due = monotonic() + safety_interval
                    elapsed += safety_interval
                    if timeout and elapsed >= timeout:
                        raise
                except OSError:
                    # Closing the connection to stop us surfaces as a socket error.
                    if not self.should_stop:
                        raise
                else:
                    if monotonic() >= heartbeat_due:
                        conn.heartbeat_check()
                        heartbeat_due = monotonic() + safety_interval
                    yield
                    elapsed = 0.0
        debug('consume exiting')

    def maybe_conn_error(self, fun: Callable[..., Any]) -> Any:
        """Call ``fun``, ignoring connection and channel errors."""
        return ignore_errors(self, fun)

    def create_connection(self) -> Any:
        return self.connection.clone()

    @contextmanager
    def establish_connection(self) -> Iterator[Any]:
        with self.create_connection() as conn:
            conn.ensure_connection(self.on_connection_error, self.connect_max_retries)
            yield conn

    @contextmanager
    def Consumer(self) -> Iterator[tuple[Any, Any, list[_Consumer]]]:
        with self.establish_connection() as conn:
            self.on_connection_revived()
            info('Connected to %s', conn.as_uri())
            channel = conn.default_channel
            cls = partial(Consumer, channel, on_decode_error=self.on_decode_error)
            with self._consume_from(*self.get_consumers(cls, channel)) as consumers:
                yield conn, channel, consumers
            debug('Consumers canceled')
            self.on_consume_end(conn, channel)
        debug('Connection closed')

    def _consume_from(self, *consumers: _Consumer) -> ContextManager[list[_Consumer]]:
        return nested(*consumers)

    @cached_property
    def restart_limit(self) -> TokenBucket:
        # At most one restart a second.
        return TokenBucket(1)

    @cached_property
    def connection_errors(self) -> tuple[type[BaseException], ...]:
        return self.connection.connection_errors

    @cached_property
    def channel_errors(self) -> tuple[type[BaseException], ...]:
        return self.connection.channel_errors


class ConsumerProducerMixin(ConsumerMixin):
    """A :class:`ConsumerMixin` that also publishes, on a connection of its own.

    Publishing on the consuming connection could block consuming when the broker
    applies flow control, hence :attr:`producer_connection`.
    """

    _producer_connection: Any = None

    def on_consume_end(self, connection: Any, channel: Any) -> None:
        if self._producer_connection is not None:
            self._producer_connection.close()
            self._producer_connection = None

    @property
    def producer(self) -> Producer:
        return Producer(self.producer_connection)

    @property
    def producer_connection(self) -> Any:
        if self._producer_connection is None:
            conn = self.connection.clone()
            conn.ensure_connection(self.on_connection_error, self.connect_max_retries)
            self._producer_connection = conn
        return self._producer_connection
