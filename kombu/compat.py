"""The carrot API (``Publisher``, ``Consumer``, ``ConsumerSet``) on top of kombu.

Kept for programs written against carrot, kombu's predecessor.  New code should
use :class:`kombu.Producer` and :class:`kombu.Consumer`.
"""
from __future__ import annotations

from itertools import count
from typing import Any, Callable, Iterable, Iterator, Mapping

from . import messaging
from .entity import Exchange, Queue

__all__ = ('Publisher', 'Consumer')

#: carrot's name for :meth:`kombu.Queue.from_dict`.
entry_to_queue = Queue.from_dict


def _iterconsume(connection: Any, consumer: messaging.Consumer, no_ack: bool | None = False,
                 limit: int | None = None) -> Iterator[Any]:
    consumer.consume(no_ack=no_ack)
    for iteration in count(0):
        if limit and iteration >= limit:
            break
        yield connection.drain_events()


class Publisher(messaging.Producer):
    """carrot's producer: the exchange is declared from keyword arguments."""

    exchange: Any = ''
    exchange_type = 'direct'
    routing_key = ''
    durable = True
    auto_delete = False
    _closed = False

    def __init__(self, connection: Any, exchange: str | Exchange | None = None,
                 routing_key: str | None = None, exchange_type: str | None = None,
                 durable: bool | None = None, auto_delete: bool | None = None,
                 channel: Any = None, **kwargs: Any) -> None:
        if channel:
            connection = channel
        self.exchange = exchange or self.exchange
        self.exchange_type = exchange_type or self.exchange_type
        self.routing_key = routing_key or self.routing_key
        if auto_delete is not None:
            self.auto_delete = auto_delete
        if durable is not None:
            self.durable = durable
        if not isinstance(self.exchange, Exchange):
            self.exchange = Exchange(name=self.exchange, type=self.exchange_type,
                                     auto_delete=self.auto_delete, durable=self.durable)
        super().__init__(connection, self.exchange, routing_key=self.routing_key, **kwargs)

    def send(self, *args: Any, **kwargs: Any) -> Any:
        """carrot's name for :meth:`publish`."""
        return self.publish(*args, **kwargs)

    def close(self) -> None:
        super().close()
        self._closed = True

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @property
    def backend(self) -> Any:
        """carrot's name for the channel."""
        return self.channel


class Consumer(messaging.Consumer):
    """carrot's consumer of one queue, on a channel of its own."""

    queue: Any = ''
    exchange: Any = ''
    routing_key = ''
    exchange_type = 'direct'
    durable = True
    exclusive = False
    auto_delete = False
    _closed = False

    def __init__(self, connection: Any, queue: str | None = None,
                 exchange: str | None = None, routing_key: str | None = None,
                 exchange_type: str | None = None, durable: bool | None = None,
                 exclusive: bool | None = None, auto_delete: bool | None = None,
                 **kwargs: Any) -> None:
        self.backend = connection.channel()
        if durable is not None:
            self.durable = durable
        if exclusive is not None:
            self.exclusive = exclusive
        if auto_delete is not None:
            self.auto_delete = auto_delete
        self.queue = queue or self.queue
        self.exchange = exchange or self.exchange
        self.exchange_type = exchange_type or self.exchange_type
        self.routing_key = routing_key or self.routing_key
        exchange_entity = Exchange(self.exchange, type=self.exchange_type,
                                   auto_delete=self.auto_delete, durable=self.durable)
        queue_entity = Queue(self.queue, exchange=exchange_entity,
                             routing_key=self.routing_key, durable=self.durable,
                             exclusive=self.exclusive, auto_delete=self.auto_delete)
        super().__init__(self.backend, queue_entity, **kwargs)

    def revive(self, channel: Any) -> None:
        self.backend = channel
        super().revive(channel)

    def close(self) -> None:
        self.cancel()
        self.backend.close()
        self._closed = True

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        return self.iterqueue(infinite=True)

    def fetch(self, no_ack: bool | None = None, enable_callbacks: bool = False) -> Any:
        """Poll one message (``None`` when the queue is empty)."""
        if no_ack is None:
            no_ack = self.no_ack
        message = self.queues[0].get(no_ack)
        if message and enable_callbacks:
            self.receive(message.payload, message)
        return message

    def process_next(self) -> Any:
        raise NotImplementedError('Use fetch(enable_callbacks=True)')

    def discard_all(self, filterfunc: Callable[..., Any] | None = None) -> int:
        """Purge the queue; returns the number of messages discarded."""
        if filterfunc is not None:
            raise NotImplementedError('discard_all does not implement filters')
        return self.purge()

    def iterconsume(self, limit: int | None = None,
                    no_ack: bool | None = None) -> Iterator[Any]:
        """Consume, yielding once per event drained (``limit`` times at most)."""
        return _iterconsume(self.connection, self, no_ack, limit)

    def wait(self, limit: int | None = None) -> list[Any]:
        return list(self.iterconsume(limit))

    def iterqueue(self, limit: int | None = None, infinite: bool = False) -> Iterator[Any]:
        """Yield polled messages until the queue is empty (or forever if ``infinite``)."""
        for items_since_start in count():
            # Limit checked before fetching: a message fetched and then dropped
            # would be lost when no_ack is set.
            if limit and items_since_start >= limit:
                break
            item = self.fetch()
            if not infinite and item is None:
                break
            yield item


class ConsumerSet(messaging.Consumer):
    """carrot's consumer of several queues at once."""

    def __init__(self, connection: Any, from_dict: Mapping[str, Mapping[str, Any]] | None = None,
                 consumers: Iterable[messaging.Consumer] | None = None,
                 channel: Any = None, **kwargs: Any) -> None:
        self._provided_channel = bool(channel)
        self.backend = channel if channel else connection.channel()
        queues: list[Queue] = []
        for consumer in consumers or ():
            queues.extend(consumer.queues)
        for queue_name, queue_options in (from_dict or {}).items():
            queues.append(Queue.from_dict(queue_name, **queue_options))
        super().__init__(self.backend, queues, **kwargs)

    def iterconsume(self, limit: int | None = None, no_ack: bool = False) -> Iterator[Any]:
        return _iterconsume(self.connection, self, no_ack, limit)

    def discard_all(self) -> int:
        return self.purge()

    def add_consumer_from_dict(self, queue: str, **options: Any) -> Queue:
        return self.add_queue(Queue.from_dict(queue, **options))

    def add_consumer(self, consumer: messaging.Consumer) -> None:
        for queue in consumer.queues:
            self.add_queue(queue)

    def revive(self, channel: Any) -> None:
        self.backend = channel
        super().revive(channel)

    def close(self) -> None:
        self.cancel()
        if not self._provided_channel:
            self.channel.close()
