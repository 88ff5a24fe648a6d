"""Native AMQP 0-9-1 I/O on aiormq for the message path of ``amqp://``.

Publishing (with publisher confirms: a nack raises
:exc:`~kombu.exceptions.MessageNacked`), consuming (``basic.consume`` with the
consumer's prefetch as ``basic.qos``) and acks/rejects run on one aiormq
connection and channel with the sync connection's heartbeat.  The message is
built by the sync pyamqp channel (``prepare_message``), so the AMQP
properties are the sync API's.  Declares and binds run through the sync
connection on the worker thread; queues declared ``exclusive`` belong to
that connection, so consumers of those stay on the adapter.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections import deque
from typing import Any, Deque, Iterable, Iterator
from urllib.parse import quote

import aiormq
from pamqp.commands import Basic

from kombu import exceptions
from kombu.message import Message

from .republish import ConnectionLost

__all__ = ('AmqpDriver', 'ConnectionLost', 'native_amqp_for')

#: py-amqp property names that pamqp spells differently.
_TO_PAMQP = {'application_headers': 'headers', 'type': 'message_type'}
_FROM_PAMQP = {v: k for k, v in _TO_PAMQP.items()}
_PAMQP_FIELDS = frozenset([
    'content_type', 'content_encoding', 'headers', 'delivery_mode', 'priority',
    'correlation_id', 'reply_to', 'expiration', 'message_id', 'timestamp',
    'message_type', 'user_id', 'app_id', 'cluster_id'])
#: Errors after which the aiormq connection is gone.
_LOST = (aiormq.exceptions.AMQPConnectionError, ConnectionError, OSError)
#: ...or only the channel (closed by the broker, or by its connection's end).
_CHANNEL_LOST = (aiormq.exceptions.ChannelClosed, aiormq.exceptions.ChannelInvalidStateError)
_REFUSED = (aiormq.exceptions.ProbableAuthenticationError,
            aiormq.exceptions.AuthenticationError, aiormq.exceptions.ChannelAccessRefused)


def url_of(sync: Any) -> str:
    user = quote(sync.userid or 'guest', safe='')
    password = quote(sync.password or 'guest', safe='')
    vhost = quote(sync.virtual_host or '/', safe='')
    query = f'heartbeat={int(sync.heartbeat or 0)}'
    if sync.connect_timeout:
        query += f'&timeout={max(int(sync.connect_timeout), 1)}'
    # the sync transport's connection_name option names this connection too
    name = (sync.transport_options or {}).get('connection_name')
    if name:
        query += f'&name={quote(str(name), safe="")}'
    return (f'amqp://{user}:{password}@{sync.hostname or "localhost"}:'
            f'{sync.port or 5672}/{vhost}?{query}')


async def connect(sync_connection: Any) -> Any:
    """The aiormq connection an AsyncConnection shares among its channels, or
    None when it needs the adapter (TLS).

    A refused login raises :exc:`~kombu.exceptions.AccessRefused`, any other
    failure :exc:`ConnectionLost`.
    """
    if sync_connection.ssl:
        return None
    try:
        return await aiormq.connect(url_of(sync_connection))
    except _REFUSED as exc:
        raise exceptions.AccessRefused(f'amqp connect: {exc}') from exc
    except _LOST as exc:
        raise ConnectionLost(f'amqp connect: {exc}') from exc


@contextlib.contextmanager
def _lost_as(operation: str) -> Iterator[None]:
    """aiormq's errors of a gone channel or connection as :exc:`ConnectionLost`."""
    try:
        yield
    except _REFUSED as exc:
        raise exceptions.AccessRefused(f'{operation}: {exc}') from exc
    except (*_LOST, *_CHANNEL_LOST) as exc:
        raise ConnectionLost(f'{operation}: {exc}') from exc


def is_open(connection: Any) -> bool:
    return connection is not None and not connection.is_closed


async def native_amqp_for(connection: Any, confirms: bool = True) -> AmqpDriver:
    """A driver on a new aiormq channel of ``connection``."""
    channel = await connection.channel(publisher_confirms=confirms)
    return AmqpDriver(connection, channel, confirms)


def to_properties(properties: dict[str, Any]) -> Basic.Properties:
    values = {}
    for name, value in properties.items():
        name = _TO_PAMQP.get(name, name)
        if name in _PAMQP_FIELDS and value is not None:
            if name == 'timestamp' and not isinstance(value, datetime.datetime):
                value = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
            values[name] = value
    return Basic.Properties(**values)


def from_delivery(delivered: Any, accept: Any) -> Message:
    props = {}
    for name in _PAMQP_FIELDS:
        value = getattr(delivered.header.properties, name, None)
        if value is not None and value != '':
            props[_FROM_PAMQP.get(name, name)] = value
    deliver = delivered.delivery
    info = {'consumer_tag': deliver.consumer_tag, 'delivery_tag': deliver.delivery_tag,
            'redelivered': deliver.redelivered, 'exchange': deliver.exchange,
            'routing_key': deliver.routing_key}
    message = Message(body=delivered.body, delivery_tag=deliver.delivery_tag,
                      content_type=props.get('content_type'),
                      content_encoding=props.get('content_encoding'),
                      delivery_info=info, properties=props,
                      headers=props.get('application_headers') or {})
    message.accept = accept
    return message


class _Subscription:
    """One consumer's ``basic.consume`` on the driver's channel."""

    def __init__(self, no_ack: bool) -> None:
        self.no_ack = no_ack
        self.deliveries: Deque[Any] = deque()
        self.arrived = asyncio.Event()
        self.tags: list[str] = []

    async def on_delivery(self, delivered: Any) -> None:
        self.deliveries.append(delivered)
        self.arrived.set()


class AmqpDriver:
    native = True
    #: on the AsyncConnection's aiormq connection (not the sync transport's):
    #: a recovery replaces that one (AsyncConnection.recover)
    native_connection = True

    def __init__(self, connection: Any, channel: Any, confirms: bool) -> None:
        self.connection = connection
        self.channel = channel
        self.confirms = confirms
        #: one basic.consume per consumer (its ``owner`` key): deliveries kept apart
        self._subscriptions: dict[Any, _Subscription] = {}

    def can_publish(self, message: Any, exchange: str) -> bool:
        return True

    def can_consume(self, queues: Iterable[Any]) -> bool:
        return not any(q.exclusive for q in queues)

    async def publish(self, message: Any, exchange: str, routing_key: str,
                      mandatory: bool = False) -> bool:
        """Publish once (``publish(retry=True)`` retries: see :mod:`kombu.asyncio.republish`)."""
        body = message.body
        if isinstance(body, str):
            body = body.encode(message.properties.get('content_encoding') or 'utf-8')
        try:
            confirmation = await self.channel.basic_publish(
                body, exchange=exchange or '', routing_key=routing_key or '',
                properties=to_properties(message.properties), mandatory=mandatory)
        except aiormq.exceptions.DeliveryError as exc:
            raise exceptions.MessageNacked(exchange, routing_key) from exc
        except _REFUSED as exc:
            raise exceptions.AccessRefused(f'amqp publish: {exc}') from exc
        except (*_LOST, *_CHANNEL_LOST) as exc:
            raise ConnectionLost(f'amqp publish: {exc}') from exc
        if self.confirms and isinstance(confirmation, (Basic.Nack, Basic.Reject)):
            raise exceptions.MessageNacked(exchange, routing_key)
        return True

    @property
    def lost(self) -> bool:
        """The channel (or its connection) is closed: nothing more comes on it."""
        return self.channel.is_closed or self.connection.is_closed

    async def _start(self, key: Any, queues: list[str], no_ack: bool,
                     prefetch: int | None) -> _Subscription:
        sub = self._subscriptions[key] = _Subscription(no_ack)  # before any await: once
        with _lost_as('amqp consume'):
            if prefetch:  # per consumer (RabbitMQ applies it to consumers started after it)
                await self.channel.basic_qos(prefetch_count=prefetch)
            for queue in queues:
                ok = await self.channel.basic_consume(queue, sub.on_delivery, no_ack=no_ack)
                sub.tags.append(ok.consumer_tag)
        return sub

    async def cancel(self, channel: Any, owner: Any = None) -> None:
        """Stop the broker's deliveries to ``owner`` (basic.cancel; every
        consumer without one); those pushed and not handed out go back to
        their queues.  The channel stays open."""
        keys = list(self._subscriptions) if owner is None else [owner]
        for key in keys:
            sub = self._subscriptions.pop(key, None)
            if sub is None:
                continue
            pending = list(sub.deliveries)
            sub.deliveries.clear()
            if self.lost:
                continue  # the broker gives back what it delivered on it
            with _lost_as('amqp cancel'):
                for tag in sub.tags:
                    await self.channel.basic_cancel(tag)
                if not sub.no_ack:
                    for delivered in pending:
                        await self.channel.basic_reject(delivered.delivery.delivery_tag,
                                                        requeue=True)

    async def pop(self, queues: list[str], budget: int, no_ack: bool, accept: Any = None,
                  prefetch: int | None = None, channel: Any = None,
                  wait: float = 0.05, owner: Any = None) -> list[Any]:
        """Deliveries pushed by the broker for ``owner``'s consumer (waiting up
        to ``wait`` for the first); the first pop starts it."""
        if self.lost:  # what it pushed and we did not hand out comes back
            for held in self._subscriptions.values():
                held.deliveries.clear()
            raise ConnectionLost('amqp consume: the channel or connection is closed')
        key = tuple(queues) if owner is None else owner
        sub = self._subscriptions.get(key)
        if sub is None:
            sub = await self._start(key, queues, no_ack, prefetch)
        if not sub.deliveries:
            sub.arrived.clear()
            try:
                await asyncio.wait_for(sub.arrived.wait(), wait)
            except asyncio.TimeoutError:
                return []
        out: list[Any] = []
        while sub.deliveries and len(out) < budget:
            out.append(from_delivery(sub.deliveries.popleft(), accept))
        return out

    async def ack(self, tags: Iterable[int]) -> None:
        with _lost_as('amqp ack'):
            for tag in tags:
                await self.channel.basic_ack(tag)

    async def reject(self, messages: list[Any], channel: Any) -> None:
        # the broker dead-letters them if their queue says so
        with _lost_as('amqp reject'):
            for message in messages:
                await self.channel.basic_reject(message.delivery_tag, requeue=False)

    async def requeue(self, messages: list[Any], channel: Any) -> None:
        with _lost_as('amqp requeue'):
            for message in messages:
                await self.channel.basic_reject(message.delivery_tag, requeue=True)

    async def abandon(self, channel: Any) -> None:
        """After a recovery replaced this driver: the broker redelivers what
        it had delivered on the lost channel, nothing to give back."""
        for sub in self._subscriptions.values():
            sub.deliveries.clear()
        self._subscriptions.clear()

    async def maintain(self, channel: Any, held: Iterable[Any]) -> None:
        return None  # the broker keeps unacked messages for the channel's life

    async def close(self, channel: Any) -> None:
        # closing the channel hands every unacked delivery back to its queue
        try:
            await self.channel.close()
        except _LOST:
            pass

