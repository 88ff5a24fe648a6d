"""``AsyncSimpleQueue``: :class:`kombu.simple.SimpleQueue` for asyncio code."""
from __future__ import annotations

import asyncio
from queue import Empty
from typing import Any, Mapping, Sequence

from kombu import entity

from .connection import AsyncChannel, AsyncConnection
from .messaging import AsyncConsumer, AsyncMessage, AsyncProducer

__all__ = ('AsyncSimpleQueue',)


class AsyncSimpleQueue:
    """A durable queue named ``name`` with its own exchange and routing key,
    as :class:`kombu.simple.SimpleQueue` declares it (same names, so the two
    share a queue).  ``get`` raises :exc:`queue.Empty` after ``timeout``.
    """

    Empty = Empty
    exchange_opts: Mapping[str, Any] = {'type': 'direct'}

    def __init__(self, channel: AsyncChannel | AsyncConnection, name: str | entity.Queue,
                 no_ack: bool | None = None, queue_opts: Mapping[str, Any] | None = None,
                 queue_args: Mapping[str, Any] | None = None,
                 exchange_opts: Mapping[str, Any] | None = None,
                 serializer: str | None = None, compression: str | None = None,
                 accept: Sequence[str] | None = None,
                 prefetch_count: int | None = None) -> None:
        if isinstance(name, entity.Queue):
            queue = name
            exchange, routing_key = queue.exchange, queue.routing_key
        else:
            exchange = entity.Exchange(name, **{**self.exchange_opts, **(exchange_opts or {})})
            queue = entity.Queue(name, exchange, name, queue_arguments=dict(queue_args or {}),
                                 **(queue_opts or {}))
            routing_key = name
        self.queue = queue
        self._target = channel
        self._producer_options = dict(routing_key=routing_key, serializer=serializer,
                                      compression=compression)
        self._consumer_options = dict(no_ack=no_ack, accept=accept,
                                      prefetch_count=prefetch_count)
        self._exchange = exchange
        self._channel: AsyncChannel | None = None
        self._owns_channel = False

    async def _ready(self) -> None:
        # One channel for both sides, as the sync SimpleQueue: a size read
        # after a put then sees the message on every broker.
        if self._channel is None:
            if isinstance(self._target, AsyncChannel):
                self._channel = self._target
            else:
                self._channel, self._owns_channel = await self._target.channel(), True
            self.producer = AsyncProducer(self._channel, self._exchange,
                                          **self._producer_options)  # type: ignore[arg-type]
            self.consumer = AsyncConsumer(self._channel, [self.queue],
                                          **self._consumer_options)  # type: ignore[arg-type]

    async def put(self, message: Any, serializer: str | None = None,
                  headers: dict[str, Any] | None = None, compression: str | None = None,
                  routing_key: str | None = None, **kwargs: Any) -> None:
        await self._ready()
        await self.consumer.consume()  # the queue must exist before the first message
        await self.producer.publish(message, routing_key=routing_key, serializer=serializer,
                                    headers=headers, compression=compression,
                                    declare=[self.queue], **kwargs)

    async def get(self, block: bool = True, timeout: float | None = None) -> AsyncMessage:
        await self._ready()
        try:
            return await self.consumer.get(timeout=timeout if block else 0)
        except asyncio.TimeoutError:
            raise self.Empty() from None

    async def get_nowait(self) -> AsyncMessage:
        return await self.get(block=False)

    async def clear(self) -> int:
        await self._ready()
        return await self.consumer.purge()

    async def qsize(self) -> int:
        await self._ready()
        await self.consumer.consume()
        channel = self.consumer.channel
        assert channel is not None
        _, size, _ = await channel.run(self.queue(channel.channel).queue_declare, passive=True)
        return int(size)

    async def close(self) -> None:
        if self._channel is None:
            return
        await self.consumer.close()
        await self.producer.close()
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> AsyncSimpleQueue:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
