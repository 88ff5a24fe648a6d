"""``AsyncProducer``, ``AsyncConsumer`` and ``AsyncMessage``.

The message is built by the sync :class:`kombu.Producer` (serializer,
compression, headers, priority, expiration, declare, retry) and delivered
messages are the sync :class:`kombu.Message` (decode, accept, compression):
one implementation of the wire format.  Only the calls that do I/O are
awaited, through the channel's runner.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import socket
import time
from collections import deque
from typing import Any, AsyncIterator, Callable, Deque, List, Mapping, Sequence, Union

from kombu import otel
from kombu.common import _declared_entities
from kombu.entity import Queue
from kombu.message import hooks
from kombu.messaging import Consumer, Producer
from kombu.retry import RetryPolicy
from kombu.serialization import prepare_accept_content

from .connection import AsyncChannel, AsyncConnection
from .recovery import Recovery
from .republish import publish_retrying

__all__ = ('AsyncProducer', 'AsyncConsumer', 'AsyncMessage')

ChannelOrConnection = Union[AsyncChannel, AsyncConnection]

logger = logging.getLogger(__name__)

#: Waits between polls of empty queues grow from the first to the last value.
POLL_MIN = 0.001
POLL_MAX = 0.05
#: Longest one drain of pushed-only queues blocks the runner's thread.
PUSH_WAIT = 0.05


async def _channel_of(target: ChannelOrConnection) -> tuple[AsyncChannel, bool]:
    """The channel to use, and whether we opened it (and so must close it)."""
    if isinstance(target, AsyncChannel):
        return target, False
    return await target.channel(), True


class AsyncProducer:
    """Publish messages; ``publish`` takes the arguments of :meth:`kombu.Producer.publish`."""

    def __init__(self, channel: ChannelOrConnection, exchange: Any = None,
                 routing_key: str | None = None, serializer: str | None = None,
                 auto_declare: bool = True, compression: str | None = None,
                 on_return: Callable[..., Any] | None = None) -> None:
        self._target = channel
        self._options = dict(exchange=exchange, routing_key=routing_key,
                             serializer=serializer, auto_declare=auto_declare,
                             compression=compression, on_return=on_return)
        self.channel: AsyncChannel | None = None
        self.producer: Producer | None = None
        self._owns_channel = False
        self._lock = asyncio.Lock()
        self._builder: Producer | None = None

    async def _ready(self) -> Producer:
        if self.producer is None:
            async with self._lock:
                if self.producer is None:
                    self.channel, self._owns_channel = await _channel_of(self._target)
                    # Producer() declares its exchange: that is I/O, so it runs there.
                    self.producer = await self.channel.run(
                        Producer, self.channel.channel, **self._options)
        return self.producer

    async def publish(self, body: Any, routing_key: str | None = None, **kwargs: Any) -> Any:
        producer = await self._ready()
        channel = self.channel
        assert channel is not None
        if channel.driver is None:
            return await channel.run(
                functools.partial(producer.publish, body, routing_key, **kwargs))
        return await self._publish_native(producer, channel, body, routing_key, kwargs)

    async def _publish_native(self, producer: Producer, channel: AsyncChannel, body: Any,
                              routing_key: str | None, kwargs: dict[str, Any]) -> Any:
        declare = kwargs.pop('declare', None) or ()
        undeclared = _undeclared(channel.channel, declare)
        if undeclared:  # declares are rare: the sync code on the worker thread
            await channel.run(_declare_all, producer, undeclared)
        retry, retry_policy = kwargs.pop('retry', False), kwargs.pop('retry_policy', None)
        # The sync producer builds the envelope (serializer, compression,
        # headers, properties) and hands it to a channel that only records it.
        capture = _Capture(channel.channel)
        builder = self._builder
        if builder is None:
            builder = self._builder = Producer(capture, auto_declare=False, **{
                k: v for k, v in self._options.items() if k != 'auto_declare'})
        builder.channel = capture
        if not hooks.after_publish:
            builder.publish(body, routing_key, **kwargs)
            return await self._send(channel, producer, capture.sent, declare, retry,
                                    retry_policy)
        # traced: the publish span ends after the broker I/O below, not here
        with otel.deferred_publish() as held:
            builder.publish(body, routing_key, **kwargs)
        try:
            result = await self._send(channel, producer, capture.sent, declare, retry,
                                      retry_policy)
        except BaseException as exc:
            held.finish(exc)
            raise
        held.finish()
        return result

    @staticmethod
    async def _send(channel: AsyncChannel, producer: Producer, sent: tuple[Any, str, str],
                    declare: Sequence[Any], retry: bool, retry_policy: Any) -> Any:
        if retry:  # a lost connection: a new one (or the next alternate), then again
            return await publish_retrying(
                channel, producer, functools.partial(_send_once, channel, sent, True),
                declare, retry_policy)
        return await _send_once(channel, sent)

    async def declare(self) -> None:
        producer = await self._ready()
        assert self.channel is not None
        await self.channel.run(producer.declare)

    async def close(self) -> None:
        if self._owns_channel and self.channel is not None:
            await self.channel.close()
        self.producer = None

    async def __aenter__(self) -> AsyncProducer:
        await self._ready()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class _Capture:
    """A channel whose ``basic_publish`` only records the envelope (no I/O)."""

    def __init__(self, channel: Any) -> None:
        self._channel = channel
        self.sent: tuple[dict, str, str] = ({}, '', '')

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)

    def basic_publish(self, message: dict, exchange: str = '', routing_key: str = '',
                      **kwargs: Any) -> None:
        self.sent = (message, exchange, routing_key)


async def _send_once(channel: AsyncChannel, sent: tuple[Any, str, str],
                     again: bool = False) -> Any:
    # natively when the driver can (it may be new after a recovery), else
    # the sync channel on the runner
    message, exchange, rkey = sent
    if again and isinstance(message, dict):
        # a virtual transport stamps its envelope in place (body encoding, tag)
        message = dict(message, properties=dict(message['properties']))
    driver = channel.driver
    if driver is not None and driver.can_publish(message, exchange):
        if await driver.publish(message, exchange, rkey):
            return None
    return await channel.run(channel.channel.basic_publish, message, exchange, rkey)


def _undeclared(channel: Any, entities: Sequence[Any]) -> list[Any]:
    declared = _declared_entities(channel)
    return [e for e in entities
            if not (e.can_cache_declaration and hash(e) in declared)]


def _declare_all(producer: Producer, entities: Sequence[Any]) -> None:
    for entity in entities:
        producer.maybe_declare(entity)


class AsyncMessage:
    """A received message; ``await ack()``, ``reject()``, ``requeue()``.

    Everything else (``body``, ``payload``, ``decode()``, ``headers``,
    ``properties``, ``delivery_info``...) is the sync message's.
    """

    __slots__ = ('message', '_consumer', '_via')

    def __init__(self, consumer: AsyncConsumer, message: Any, via: Any = None) -> None:
        self.message = message
        self._consumer = consumer
        #: the sync channel it was delivered through
        self._via = via

    def __getattr__(self, name: str) -> Any:
        return getattr(self.message, name)

    @property
    def payload(self) -> Any:
        return self.message.payload

    def decode(self) -> Any:
        return self.message.decode()

    @property
    def stale(self) -> bool:
        """Delivered on a connection (or channel) since lost: it comes back to
        its queue, and ``ack()``, ``reject()`` and ``requeue()`` do nothing
        (see :mod:`kombu.asyncio.recovery`)."""
        channel = self._consumer.channel
        return channel is None or channel.channel is not self._via

    async def ack(self, multiple: bool = False) -> None:
        await self._settle(self.message.ack, multiple=multiple)

    async def reject(self, requeue: bool = False) -> None:
        await self._settle(self.message.reject, requeue=requeue)

    async def requeue(self) -> None:
        await self._settle(self.message.requeue)

    async def _settle(self, fun: Callable[..., Any], **kwargs: Any) -> None:
        consumer = self._consumer
        channel = consumer.channel
        assert channel is not None
        if self.stale:  # its tag would name nothing, or another delivery, now
            logger.debug('%s of a message from a lost connection: nothing to do',
                         fun.__name__)
            consumer._settled(self)
            return
        try:
            if consumer._native:
                await _settle_native(channel, self.message, fun.__name__, **kwargs)
            else:
                await channel.run(fun, **kwargs)
        except Exception as exc:
            if not consumer._recovery.noticed(channel, exc):
                raise
            # it comes back with the rest of what the lost connection delivered
            logger.debug('%s lost with the connection: %r', fun.__name__, exc)
        consumer._settled(self)


async def _settle_native(channel: AsyncChannel, message: Any, how: str,
                         requeue: bool = False, multiple: bool = False) -> None:
    driver = channel.driver
    assert driver is not None
    if message.acknowledged:
        return
    if how == 'requeue' or requeue:
        await driver.requeue([message], channel)
        message._state = 'REQUEUED'
        if hooks.on_reject:
            hooks.run(hooks.on_reject, message, True)
    elif how == 'ack':
        await driver.ack([message.delivery_tag])
        message._state = 'ACK'
        if hooks.on_ack:
            hooks.run(hooks.on_ack, message)
    else:
        await driver.reject([message], channel)
        message._state = 'REJECTED'
        if hooks.on_reject:
            hooks.run(hooks.on_reject, message, False)


class AsyncConsumer:
    """Receive from ``queues``: ``async for message in consumer`` or callbacks.

    ``prefetch_count`` caps the messages handed out and not yet acked.  A
    message is acked only by ``await message.ack()``: if the task handling it
    is cancelled, or the consumer is closed first, the message goes back to
    its queue (a cancelled ``get()`` keeps what it fetched for the next call
    or gives it back on close).

    ``recover`` (default True): after a lost connection, reconnect by
    ``retry_policy`` (default: the connection's ``ensure_connection``
    policy), declare the queues again and resume; see
    :mod:`kombu.asyncio.recovery`.  False: the connection error is raised.
    """

    def __init__(self, channel: ChannelOrConnection, queues: Any = None,
                 no_ack: bool | None = None, auto_declare: bool = True,
                 callbacks: Sequence[Callable[..., Any]] | None = None,
                 on_decode_error: Callable[..., Any] | None = None,
                 accept: Sequence[str] | None = None,
                 prefetch_count: int | None = None, recover: bool = True,
                 retry_policy: RetryPolicy | Mapping[str, Any] | None = None) -> None:
        self._target = channel
        self._queues = queues
        self.no_ack = bool(no_ack)
        self.auto_declare = auto_declare
        self.callbacks: List[Callable[..., Any]] = list(callbacks or [])
        self.on_decode_error = on_decode_error
        self.accept = accept
        self._accept = prepare_accept_content(accept)
        self.prefetch_count = prefetch_count
        self.channel: AsyncChannel | None = None
        self.consumer: Consumer | None = None
        self._owns_channel = False
        self._buffer: Deque[Any] = deque()
        self._unacked: set[AsyncMessage] = set()
        self._turn = 0
        self._closed = False
        self._lock = asyncio.Lock()
        #: delivered by the sync consumer of pushed-only queues, not fetched yet
        self._pushed: List[Any] = []
        self._subscribed = False
        self._recovery = Recovery(recover, retry_policy)

    @property
    def queues(self) -> List[Queue]:
        return self.consumer.queues if self.consumer else []

    def register_callback(self, callback: Callable[..., Any]) -> None:
        self.callbacks.append(callback)

    async def consume(self) -> AsyncConsumer:
        """Declare the queues (if ``auto_declare``) and get ready to receive."""
        if self.consumer is None:
            async with self._lock:
                if self.consumer is None:
                    self.channel, self._owns_channel = await _channel_of(self._target)
                    self.consumer = await self.channel.run(
                        Consumer, self.channel.channel, self._queues, no_ack=self.no_ack,
                        auto_declare=self.auto_declare, accept=self.accept)
        return self

    async def get(self, timeout: float | None = None) -> AsyncMessage:
        """The next message; :exc:`asyncio.TimeoutError` after ``timeout`` seconds."""
        await self.consume()
        deadline = None if timeout is None else time.monotonic() + timeout
        wait = POLL_MIN
        while not self._closed:
            if self._recovery.pending is not None or self._moved():
                await self._recover()
            if self._buffer and self._has_room():
                return self._hand_out(self._buffer.popleft())
            if self._has_room():
                try:
                    got = await self._fetch()
                except Exception as exc:
                    assert self.channel is not None
                    if not self._recovery.noticed(self.channel, exc):
                        raise
                    continue
                if got:
                    self._buffer.extend(got)
                    wait = POLL_MIN
                    continue
            if deadline is not None and time.monotonic() >= deadline:
                raise asyncio.TimeoutError()
            await asyncio.sleep(wait)
            wait = min(wait * 2, POLL_MAX)
        raise asyncio.CancelledError('consumer closed')

    def _moved(self) -> bool:
        # another user of the channel (a producer's retry) recovered it
        assert self.consumer is not None and self.channel is not None
        return self.consumer.channel is not self.channel.channel

    async def _recover(self) -> None:
        assert self.consumer is not None and self.channel is not None
        channel = self.channel
        await self._recovery.reconnect(channel)
        if self._moved():
            # what the old channel delivered is the broker's (or the old
            # driver's) to give back; on the new one: declare, consume again
            self._buffer.clear()
            self._unacked.clear()
            self._pushed.clear()
            await channel.run(self.consumer.revive, channel.channel)

    @property
    def _native(self) -> bool:
        driver = self.channel.driver if self.channel else None
        return driver is not None and driver.can_consume(self.queues)

    def _has_room(self) -> bool:
        return (self.no_ack or not self.prefetch_count
                or len(self._unacked) < self.prefetch_count)

    async def _fetch(self) -> List[Any]:
        assert self.channel is not None and self.consumer is not None
        via = self.consumer.channel
        budget = 1
        if self.prefetch_count:
            budget = max(self.prefetch_count - len(self._unacked) - len(self._buffer), 1)
        driver = self.channel.driver
        if driver is not None and driver.can_consume(self.queues):
            await driver.maintain(self.channel, self._unacked)
            names = [q.name for q in self.queues]
            future = asyncio.ensure_future(driver.pop(
                names, budget, self.no_ack, self._accept, self.prefetch_count, self.channel,
                owner=self))
        elif pushed_only(self.channel.channel, self.queues):
            future = asyncio.ensure_future(self.channel.run(self._drain_pushed, budget))
        else:
            future = asyncio.ensure_future(self.channel.run(self._poll, budget))
        try:
            got = await asyncio.shield(future)
        except asyncio.CancelledError:
            # The fetch finishes in its thread: keep what it got, never drop it.
            future.add_done_callback(functools.partial(self._keep, via))
            raise
        # recovered meanwhile (another task): the old channel gives those back
        return got if self.consumer.channel is via else []

    def _keep(self, via: Any, future: asyncio.Future) -> None:
        if (not future.cancelled() and future.exception() is None
                and self.consumer is not None and self.consumer.channel is via):
            self._buffer.extend(future.result())

    def _poll(self, budget: int) -> List[Any]:
        # Runs on the runner: one get per queue in turn until one is found
        # empty in a full round or the budget is spent.
        assert self.consumer is not None
        queues = self.consumer.queues
        out: List[Any] = []
        empty = 0
        while len(out) < budget and empty < len(queues):
            queue = queues[self._turn % len(queues)]
            self._turn += 1
            message = queue.get_undecoded(no_ack=self.no_ack, accept=self._accept)
            if message is None:
                empty += 1
            else:
                empty = 0
                out.append(message)
        return out

    def _drain_pushed(self, budget: int) -> List[Any]:
        # Runs on the runner: the sync consumer subscribes once, then each
        # fetch drains the sync connection briefly for what it pushed.
        assert self.consumer is not None and self.channel is not None
        if not self._subscribed:
            self._subscribed = True
            self.consumer.on_message = self._pushed.append
            self.consumer.consume()
        if not self._pushed:
            try:
                self.channel.channel.connection.client.drain_events(timeout=PUSH_WAIT)
            except socket.timeout:
                pass
        out, self._pushed[:budget] = self._pushed[:budget], []
        return out

    def _hand_out(self, message: Any) -> AsyncMessage:
        if hooks.on_message:  # tracing (kombu.otel): as the sync Consumer does
            hooks.run(hooks.on_message, self, message)
        assert self.consumer is not None
        wrapped = AsyncMessage(self, message, self.consumer.channel)
        if not self.no_ack:
            self._unacked.add(wrapped)
        return wrapped

    def _settled(self, message: AsyncMessage) -> None:
        self._unacked.discard(message)

    def __aiter__(self) -> AsyncIterator[AsyncMessage]:
        return self

    async def __anext__(self) -> AsyncMessage:
        if self._closed:
            raise StopAsyncIteration
        try:
            return await self.get()
        except asyncio.CancelledError:
            if self._closed:
                raise StopAsyncIteration from None
            raise

    async def drain_events(self, timeout: float | None = None) -> None:
        """Receive one message and hand it to the callbacks (awaiting coroutines)."""
        if not self.callbacks:
            raise NotImplementedError('Consumer does not have any callbacks')
        message = await self.get(timeout=timeout)
        try:
            body = message.decode()
        except Exception as exc:
            if self.on_decode_error is None:
                raise
            result = self.on_decode_error(message, exc)
            if inspect.isawaitable(result):  # it may await message.ack()/requeue()
                await result
            return
        for callback in self.callbacks:
            result = callback(body, message)
            if inspect.isawaitable(result):
                await result

    async def run(self) -> None:
        """Hand messages to the callbacks until the consumer is closed or cancelled."""
        while not self._closed:
            try:
                await self.drain_events()
            except asyncio.CancelledError:
                if self._closed:
                    return
                raise

    async def qos(self, prefetch_count: int) -> None:
        self.prefetch_count = prefetch_count

    async def purge(self) -> int:
        await self.consume()
        assert self.channel is not None and self.consumer is not None
        return int(await self.channel.run(self.consumer.purge))

    async def close(self) -> None:
        """Stop; fetched messages not handed out go back to their queues first."""
        if self._closed:
            return
        self._closed = True
        channel = self.channel
        if channel is None:
            return
        if self.consumer is not None and self._moved():
            # recovered by another user: what we hold is the old channel's
            self._buffer.clear()
            self._unacked.clear()
            self._pushed.clear()
        try:
            await self._give_back(channel)
        except Exception as exc:
            if not channel.connection.lost(exc):
                raise
            # the broker (or the visibility timeout) gives them back
            logger.debug('closing a consumer on a lost connection: %r', exc)
        if self._owns_channel:
            await channel.close()  # the channel gives back what is still unacked

    async def _give_back(self, channel: AsyncChannel) -> None:
        buffered, self._buffer = list(self._buffer), deque()
        if self._native:
            assert channel.driver is not None
            await channel.driver.cancel(channel, self)  # a shared channel too: no more pushes
        if self._native and not self.no_ack:
            # natively received messages are not in the sync channel's QoS:
            # give back what was fetched and what is still unacked ourselves
            held = buffered + [m.message for m in self._unacked if not m.acknowledged]
            if held:
                assert channel.driver is not None
                await channel.driver.requeue(held, channel)
        else:
            if self._subscribed:
                assert self.consumer is not None
                await channel.run(self.consumer.cancel)
            buffered += self._pushed
            self._pushed = []
            if buffered and not self.no_ack:
                await channel.run(_requeue_all, buffered)

    cancel = close

    async def __aenter__(self) -> AsyncConsumer:
        return await self.consume()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def pushed_only(channel: Any, queues: Sequence[Queue]) -> bool:
    """Whether some of ``queues`` get messages only while consumed (Redis
    fanout is PUB/SUB: a basic_get never sees what subscribers receive)."""
    fanout = getattr(channel, '_fanout_queues', None)
    return fanout is not None and any(q.name in fanout for q in queues)


def _requeue_all(messages: Sequence[Any]) -> None:
    for message in messages:
        if not message.acknowledged:
            message.requeue()
