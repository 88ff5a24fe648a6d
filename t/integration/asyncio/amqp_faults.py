"""Faults for the asyncio tests on the shared RabbitMQ: a broker-side close of
one test's connections, and reading back what a queue holds."""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from kombu import Connection, Queue
from kombu.asyncio import AsyncConnection
from t.integration.rabbitmq.broker import close_connections_named

__all__ = ('lose_connection', 'closed', 'drain')


async def lose_connection(conn: AsyncConnection, name: str) -> Any:
    """Close this connection's broker connections; returns the lost aiormq one
    (None on the adapter: the sync connection finds out at its next call)."""
    lost = conn._amqp
    assert lost is None or not lost.is_closed
    assert await asyncio.to_thread(close_connections_named, name) >= 1
    if lost is not None:
        await closed(lost)
    return lost


async def closed(amqp: Any) -> None:
    """Wait until aiormq has seen its connection end (its closing future holds why)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.shield(amqp.closing), 30)
    assert amqp.is_closed


def drain(url: str, queue: Queue) -> list[int]:
    """Every message left in ``queue`` (acked), then the queue is deleted."""
    got: list[int] = []
    with Connection(url) as conn:
        bound = queue(conn.default_channel)
        while True:
            message = bound.get()
            if message is None:
                break
            got.append(message.payload)
            message.ack()
        assert bound.queue_declare(passive=True).message_count == 0
        bound.delete()
    return got
