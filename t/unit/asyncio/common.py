"""Helpers shared by the asyncio tests (unit and integration)."""
from __future__ import annotations

import asyncio
from typing import Any

from kombu import Exchange, Queue
from t.servers import unique_name


def run(coro: Any, timeout: float = 60) -> Any:
    """Run ``coro`` in a fresh event loop, failing after ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def entities() -> tuple[Exchange, Queue]:
    """A direct exchange and a queue bound to it, both named uniquely."""
    name = unique_name('aio')
    exchange = Exchange(name, 'direct')
    return exchange, Queue(name, exchange, name)


async def cancel_mid_message(consumer: Any) -> Any:
    """Start a task that receives one message and is cancelled before its ack.

    Returns the message it held (unacked); the consumer is closed after.
    """
    held: list[Any] = []
    started = asyncio.Event()

    async def handler() -> None:
        async for message in consumer:
            held.append(message)
            started.set()
            await asyncio.sleep(30)  # cancelled here, before the ack
            await message.ack()

    await cancel_when(asyncio.ensure_future(handler()), started)
    await consumer.close()
    return held[0]


async def cancel_when(task: asyncio.Future, ready: asyncio.Event) -> None:
    """Cancel ``task`` once ``ready`` is set; fail unless it ends cancelled."""
    await ready.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError('the task was not cancelled')
    assert task.cancelled()


async def cancelled_gets(consumer: Any, attempts: int, idle: float = 0.5) -> list[Any]:
    """Cancel ``attempts`` gets at varying points, ack what arrives, then drain.

    Returns the payloads of every message received (each acked once).
    """
    seen: list[Any] = []
    for attempt in range(attempts):
        task = asyncio.ensure_future(consumer.get(timeout=2))
        for _ in range(attempt % 3):
            await asyncio.sleep(0)
        task.cancel()
        try:
            message = await task
        except asyncio.CancelledError:
            continue
        seen.append(message.payload)
        await message.ack()
    while True:
        try:
            message = await consumer.get(timeout=idle)
        except asyncio.TimeoutError:
            return seen
        seen.append(message.payload)
        await message.ack()


async def take(consumer: Any, n: int) -> list[Any]:
    """Receive ``n`` messages with ``async for``, acking each; their payloads."""
    got: list[Any] = []
    async with consumer:
        async for message in consumer:
            got.append(message.payload)
            await message.ack()
            if len(got) == n:
                break
    return got
