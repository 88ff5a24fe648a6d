"""The conformance cases through :mod:`kombu.asyncio`, awaited.

:class:`AsyncAPI` gives the cases the objects they use (connection, channel,
producer, consumer, bound entity, message) with the sync call shapes, each
call awaiting the asyncio API on one event loop: publishing is
``await AsyncProducer.publish``, consuming is ``await AsyncConsumer.drain_events``
with the cases' callbacks, ``message.ack()`` is ``await AsyncMessage.ack()``
and a ``basic_get`` is ``await AsyncConsumer.get`` on a consumer of its own
(the asyncio API has no basic_get).  Declares, deletes, binds and queue sizes
are the sync entities on the channel's runner, as the asyncio API runs them.

Settling a message inside a callback cannot wait on the loop that runs the
callback: it is recorded and awaited as soon as the callback returns, before
``drain_events`` does.
"""
from __future__ import annotations

import asyncio
import socket
import time
from typing import Any, Callable, Coroutine

from kombu.asyncio import AsyncConnection, AsyncConsumer, AsyncProducer, ThreadRunner
from kombu.asyncio.connection import AsyncChannel

from .suite import WAIT

#: Seconds a basic_get waits before it reports an empty queue, by transport:
#: a broker that pushes to consumers (AMQP) needs a round trip after
#: basic.consume; the others pop at once.
GET_WAIT = {'amqp': 0.3}

_loop: asyncio.AbstractEventLoop | None = None


def _shared_loop() -> asyncio.AbstractEventLoop:
    # One loop for every connection of the process: while one connection's
    # call runs, the others' I/O (aiormq readers, heartbeats) runs too.
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop


class AwaitedConnection:
    """An :class:`AsyncConnection` whose calls are awaited on the shared loop."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.loop = _shared_loop()
        self.aconn = AsyncConnection(url, **kwargs)
        self.channel_errors = self.aconn.sync.channel_errors
        self.consumers: list[AwaitedConsumer] = []
        #: settles made inside callbacks, awaited when the callback returns
        self.pending: list[Coroutine[Any, Any, Any]] = []
        self._default: AwaitedChannel | None = None
        self._released = False

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coro)

    async def flush(self) -> None:
        while self.pending:
            await self.pending.pop(0)

    @property
    def transport_name(self) -> str:
        return self.aconn.transport_name

    def supports_exchange_type(self, type: str) -> bool:
        return bool(self.aconn.sync.supports_exchange_type(type))

    @property
    def default_channel(self) -> AwaitedChannel:
        if self._default is None:
            self._default = self.channel()
        return self._default

    def channel(self) -> AwaitedChannel:
        return AwaitedChannel(self, self.run(self.aconn.channel()))

    def drain_events(self, timeout: float | None = None) -> None:
        """One message to the callbacks of this connection's consumer."""
        active = [c for c in self.consumers if c.aconsumer is not None]
        if len(active) != 1:  # the cases never drain two consumers at once
            raise AssertionError(f'drain_events with {len(active)} consumers')
        try:
            self.run(active[0].aconsumer.drain_events(timeout=timeout))
        except asyncio.TimeoutError:
            raise socket.timeout('timed out') from None

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.consumers.clear()
            self.run(self.aconn.close())

    close = release

    def __enter__(self) -> AwaitedConnection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class AwaitedChannel:
    """An :class:`AsyncChannel`; other attributes are its sync channel's."""

    def __init__(self, connection: AwaitedConnection, achannel: AsyncChannel) -> None:
        self.connection = connection
        self.achannel = achannel

    def close(self) -> None:
        self.connection.run(self.achannel.close())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.achannel.channel, name)


def _channel_of(target: AwaitedConnection | AwaitedChannel) -> AwaitedChannel:
    return target.default_channel if isinstance(target, AwaitedConnection) else target


class AwaitedMessage:
    """An :class:`AsyncMessage`; its other attributes are the sync message's."""

    def __init__(self, connection: AwaitedConnection, amessage: Any,
                 after: Callable[[], Coroutine[Any, Any, Any]] | None = None) -> None:
        self._connection = connection
        self._amessage = amessage
        self._after = after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._amessage, name)

    @property
    def payload(self) -> Any:
        return self._amessage.payload

    def ack(self) -> None:
        self._settle(self._amessage.ack())

    def reject(self, requeue: bool = False) -> None:
        self._settle(self._amessage.reject(requeue=requeue))

    def requeue(self) -> None:
        self._settle(self._amessage.requeue())

    def _settle(self, coro: Coroutine[Any, Any, Any]) -> None:
        settle = self._then(coro)
        if self._connection.loop.is_running():  # in a callback: awaited when it returns
            self._connection.pending.append(settle)
        else:
            self._connection.run(settle)

    async def _then(self, coro: Coroutine[Any, Any, Any]) -> None:
        await coro
        if self._after is not None:
            await self._after()


class AwaitedConsumer:
    """An :class:`AsyncConsumer` whose callbacks are the cases' sync ones."""

    def __init__(self, target: AwaitedConnection | AwaitedChannel, queues: list[Any],
                 callbacks: list[Callable[..., Any]] | None = None,
                 on_decode_error: Callable[..., Any] | None = None, **kwargs: Any) -> None:
        self.channel = _channel_of(target)
        self.connection = self.channel.connection
        self.queues = queues
        self.callbacks = list(callbacks or [])
        self.on_decode_error = on_decode_error
        self.options = kwargs
        self.aconsumer: AsyncConsumer | None = None

    def consume(self) -> None:
        self.aconsumer = AsyncConsumer(
            self.channel.achannel, self.queues, callbacks=[self._on_message],
            on_decode_error=self._on_decode_error if self.on_decode_error else None,
            **self.options)
        self.connection.run(self.aconsumer.consume())
        self.connection.consumers.append(self)

    async def _on_message(self, body: Any, amessage: Any) -> None:
        message = AwaitedMessage(self.connection, amessage)
        for callback in self.callbacks:
            callback(body, message)
        await self.connection.flush()

    async def _on_decode_error(self, amessage: Any, exc: BaseException) -> None:
        assert self.on_decode_error is not None
        self.on_decode_error(AwaitedMessage(self.connection, amessage), exc)
        await self.connection.flush()

    def cancel(self) -> None:
        if self.aconsumer is not None:
            aconsumer, self.aconsumer = self.aconsumer, None
            self.connection.run(aconsumer.close())

    def __enter__(self) -> AwaitedConsumer:
        self.consume()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()


class AwaitedProducer:
    """An :class:`AsyncProducer` on a channel."""

    def __init__(self, channel: AwaitedChannel) -> None:
        self.connection = channel.connection
        self.aproducer = AsyncProducer(channel.achannel)

    def publish(self, body: Any, routing_key: str | None = None, **kwargs: Any) -> Any:
        return self.connection.run(self.aproducer.publish(body, routing_key, **kwargs))


class AwaitedEntity:
    """An exchange or queue bound to an :class:`AwaitedChannel`."""

    def __init__(self, entity: Any, channel: AwaitedChannel) -> None:
        self.entity = entity
        self.channel = channel
        self.connection = channel.connection

    def _sync(self, name: str, *args: Any, **kwargs: Any) -> Any:
        achannel = self.channel.achannel
        bound = self.entity.bind(achannel.channel)
        return self.connection.run(achannel.run(getattr(bound, name), *args, **kwargs))

    def declare(self) -> Any:
        return self._sync('declare')

    def delete(self) -> Any:
        return self._sync('delete')

    def queue_declare(self, passive: bool = False) -> Any:
        return self._sync('queue_declare', passive=passive)

    def unbind_from(self, exchange: Any, routing_key: str = '') -> Any:
        return self._sync('unbind_from', exchange, routing_key)

    def _ready_count(self) -> int:
        try:
            return int(self.queue_declare(passive=True)[1])
        except self.connection.channel_errors:  # Redis: an empty queue may not exist
            return 0

    def purge(self) -> int:
        consumer = AsyncConsumer(self.channel.achannel, [self.entity], auto_declare=False)
        try:
            return int(self.connection.run(consumer.purge()))
        finally:
            self.connection.run(consumer.close())

    def get(self, no_ack: bool = False) -> AwaitedMessage | None:
        """basic_get: a one-message consumer of its own, closed once the message is settled."""
        conn = self.connection
        consumer = AsyncConsumer(conn.aconn, [self.entity], no_ack=no_ack, prefetch_count=1,
                                 auto_declare=False)
        deadline = time.monotonic() + WAIT
        while True:
            try:
                message = conn.run(consumer.get(timeout=GET_WAIT.get(conn.transport_name, 0)))
                break
            except asyncio.TimeoutError:
                # empty only if the broker says so: a push may just be slow (load)
                if not self._ready_count() or time.monotonic() > deadline:
                    conn.run(consumer.close())
                    return None
        if no_ack:
            conn.run(consumer.close())
            return AwaitedMessage(conn, message)
        return AwaitedMessage(conn, message, after=consumer.close)


class AsyncAPI:
    """The conformance cases' API, through :mod:`kombu.asyncio`."""

    name = 'async'
    #: False: every transport call through the thread adapter (``native=False``)
    native = True
    #: True: a :class:`~kombu.asyncio.ThreadRunner` even where calls could run inline
    threaded = False

    @classmethod
    def connection(cls, url: str, **kwargs: Any) -> AwaitedConnection:
        runner = ThreadRunner() if cls.threaded else None
        return AwaitedConnection(url, native=cls.native, runner=runner, **kwargs)

    @staticmethod
    def Consumer(channel: Any, queues: list[Any], **kwargs: Any) -> AwaitedConsumer:
        return AwaitedConsumer(channel, queues, **kwargs)

    @staticmethod
    def Producer(conn: AwaitedConnection) -> AwaitedProducer:
        return AwaitedProducer(conn.default_channel)

    @staticmethod
    def bind(entity: Any, channel: AwaitedChannel) -> AwaitedEntity:
        return AwaitedEntity(entity, channel)


class AdapterAPI(AsyncAPI):
    """:class:`AsyncAPI` with ``AsyncConnection(native=False)``: the thread adapter."""

    name = 'async-adapter'
    native = False
    threaded = True
