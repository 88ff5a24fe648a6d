"""Publish ``n`` messages on one connection and consume them on another, with
the sync API or :mod:`kombu.asyncio` on either side (for the tracing tests)."""
from __future__ import annotations

from typing import Any

from kombu import Connection, Exchange, Queue
from kombu.asyncio import AsyncConnection, AsyncConsumer, AsyncProducer
from t.unit.asyncio.common import run, take

APIS = ('sync', 'async')


def publish(api: str, url: str, options: dict[str, Any], exchange: Exchange,
            queue: Queue, n: int) -> None:
    """Messages ``{'n': i}`` with ``message_id='m<i>'``."""
    if api == 'sync':
        with Connection(url, transport_options=options) as conn:
            producer = conn.Producer(exchange=exchange, routing_key=queue.routing_key)
            for i in range(n):
                producer.publish({'n': i}, declare=[queue], message_id=f'm{i}')
        return

    async def main() -> None:
        async with AsyncConnection(url, transport_options=options) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            for i in range(n):
                await producer.publish({'n': i}, declare=[queue], message_id=f'm{i}')
    run(main())


def consume(api: str, url: str, options: dict[str, Any], queue: Queue, n: int) -> list[int]:
    """The ``n`` values received (each message acked), in arrival order."""
    if api == 'sync':
        got: list[int] = []
        with Connection(url, transport_options=options) as conn:
            with conn.Consumer([queue], callbacks=[
                    lambda body, message: (got.append(body['n']), message.ack())]):
                while len(got) < n:
                    conn.drain_events(timeout=10)
        return got

    async def main() -> list[int]:
        async with AsyncConnection(url, transport_options=options) as conn:
            bodies = await take(AsyncConsumer(conn, [queue], prefetch_count=5), n)
        return [body['n'] for body in bodies]
    return run(main())


def delete_queue(url: str, options: dict[str, Any], queue: Queue) -> None:
    with Connection(url, transport_options=options) as conn:
        queue(conn.default_channel).delete()
