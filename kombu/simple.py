"""A ``queue.Queue``-like interface over one broker queue."""
from __future__ import annotations

import socket
import time
from collections import deque
from queue import Empty
from typing import Any, Mapping, Sequence

from . import entity, messaging
from .connection import maybe_channel

__all__ = ('SimpleQueue', 'SimpleBuffer')


class SimpleBase:
    """Put and get messages of one queue through a producer and a consumer."""

    #: Raised by :meth:`get` when no message came in time (``queue.Empty``).
    Empty = Empty
    _consuming = False

    def __init__(self, channel: Any, producer: messaging.Producer,
                 consumer: messaging.Consumer, no_ack: bool = False) -> None:
        self.channel = maybe_channel(channel)
        self.producer = producer
        self.consumer = consumer
        self.no_ack = no_ack
        self.queue = self.consumer.queues[0]
        # Messages delivered while draining wait here for the next get().
        self.buffer: deque[Any] = deque()
        self.consumer.register_callback(self._receive)

    def __enter__(self) -> SimpleBase:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """The next message; raises :attr:`Empty` after ``timeout`` seconds."""
        if not block:
            return self.get_nowait()
        self._consume()
        buffer = self.buffer
        if buffer:
            return buffer.popleft()
        deadline = None if timeout is None else time.monotonic() + timeout
        drain_events = self.channel.connection.client.drain_events
        remaining = timeout
        while True:
            try:
                # May return with nothing for us (heartbeats, other consumers'
                # messages): then loop with the time that is left.
                drain_events(timeout=remaining)
            except socket.timeout:
                pass
            if buffer:
                return buffer.popleft()
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self.Empty()

    def get_nowait(self) -> Any:
        """A message if one is waiting, else raise :attr:`Empty` (uses basic_get)."""
        if self.buffer:
            # Already delivered to our consumer: hand it out before polling.
            return self.buffer.popleft()
        message = self.queue.get(no_ack=self.no_ack)
        if not message:
            raise self.Empty()
        return message

    def put(self, message: Any, serializer: str | None = None,
            headers: dict[str, Any] | None = None, compression: str | None = None,
            routing_key: str | None = None, **kwargs: Any) -> None:
        self.producer.publish(message, serializer=serializer, routing_key=routing_key,
                              headers=headers, compression=compression, **kwargs)

    def clear(self) -> int:
        """Discard every message waiting in the queue; returns how many."""
        return self.consumer.purge()

    def qsize(self) -> int:
        """Number of messages waiting in the queue on the broker."""
        _, size, _ = self.queue.queue_declare(passive=True)
        return size

    def close(self) -> None:
        self.consumer.cancel()

    def _receive(self, message_data: Any, message: Any) -> None:
        self.buffer.append(message)

    def _consume(self) -> None:
        if not self._consuming:
            self.consumer.consume(no_ack=self.no_ack)
            self._consuming = True

    def __len__(self) -> int:
        return self.qsize()

    def __bool__(self) -> bool:
        # Without this an empty queue would be falsy through __len__.
        return True


class SimpleQueue(SimpleBase):
    """A persistent queue: durable, messages acknowledged by the caller."""

    no_ack = False
    queue_opts: Mapping[str, Any] = {}
    queue_args: Mapping[str, Any] = {}
    exchange_opts: Mapping[str, Any] = {'type': 'direct'}

    def __init__(self, channel: Any, name: str | entity.Queue, no_ack: bool | None = None,
                 queue_opts: Mapping[str, Any] | None = None,
                 queue_args: Mapping[str, Any] | None = None,
                 exchange_opts: Mapping[str, Any] | None = None,
                 serializer: str | None = None, compression: str | None = None,
                 accept: Sequence[str] | None = None) -> None:
        if no_ack is None:
            no_ack = self.no_ack
        if isinstance(name, entity.Queue):
            queue = name
            exchange, routing_key = queue.exchange, queue.routing_key
        else:
            # Kombu's default: an exchange and a routing key named like the queue.
            exchange = entity.Exchange(name, **{**self.exchange_opts, **(exchange_opts or {})})
            queue = entity.Queue(name, exchange, name,
                                 queue_arguments={**self.queue_args, **(queue_args or {})},
                                 **{**self.queue_opts, **(queue_opts or {})})
            routing_key = name
        consumer = messaging.Consumer(channel, queue, accept=accept)
        producer = messaging.Producer(channel, exchange, serializer=serializer,
                                      routing_key=routing_key, compression=compression)
        super().__init__(channel, producer, consumer, no_ack)
        if not name:
            # A queue named by the broker on declare: reach it through the
            # default exchange, which routes by queue name.
            self.producer.routing_key = self.queue.name


class SimpleBuffer(SimpleQueue):
    """A transient queue: not durable, deleted when unused, no acknowledgements."""

    no_ack = True
    queue_opts: Mapping[str, Any] = {'durable': False, 'auto_delete': True}
    exchange_opts: Mapping[str, Any] = {'durable': False, 'delivery_mode': 'transient',
                                        'auto_delete': True}
