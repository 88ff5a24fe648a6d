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

    task = asyncio.ensure_future(handler())
    await started.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError('the handler was not cancelled')
    assert task.cancelled()
    await consumer.close()
    return held[0]
