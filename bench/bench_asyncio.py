"""kombu.asyncio on Redis: msg/s of publish and consume+ack, next to raw
``redis.asyncio`` (LPUSH / RPOP, no envelope, no ack) and to this package's
sync API, on the same Redis in the same run.

    python bench/bench_asyncio.py [-n 5000] [--url redis://127.0.0.1:6379/0]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from typing import Any, Awaitable, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kombu import Connection, Exchange, Queue
from kombu.asyncio import AsyncConnection, AsyncConsumer, AsyncProducer


def entities() -> tuple[Exchange, Queue]:
    name = f'bench-aio-{uuid.uuid4().hex[:8]}'
    exchange = Exchange(name, 'direct')
    return exchange, Queue(name, exchange, name)


async def timed(fun: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fun()
    return time.perf_counter() - start


async def bench_async(url: str, n: int, native: bool) -> tuple[float, float]:
    exchange, queue = entities()
    async with AsyncConnection(url, native=native) as conn:
        producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
        await producer.publish('warm', declare=[queue])
        consumer = AsyncConsumer(conn, [queue], prefetch_count=100)
        await (await consumer.get(timeout=5)).ack()

        async def publish() -> None:
            for i in range(n):
                await producer.publish({'n': i}, declare=[queue])

        async def consume() -> None:
            for _ in range(n):
                await (await consumer.get(timeout=10)).ack()

        p, c = await timed(publish), await timed(consume)
        await consumer.close()
        await producer.close()
    return n / p, n / c


async def bench_raw(url: str, n: int) -> tuple[float, float]:
    import redis.asyncio
    client = redis.asyncio.Redis.from_url(url)
    key = f'bench-raw-{uuid.uuid4().hex[:8]}'
    body = b'{"body": "x", "properties": {}}'

    async def publish() -> None:
        for _ in range(n):
            await client.lpush(key, body)

    async def consume() -> None:
        for _ in range(n):
            await client.rpop(key)

    p, c = await timed(publish), await timed(consume)
    await client.delete(key)
    await client.aclose()
    return n / p, n / c


def bench_sync(url: str, n: int) -> tuple[float, float]:
    exchange, queue = entities()
    with Connection(url) as conn:
        producer = conn.Producer(exchange=exchange, routing_key=queue.routing_key)
        start = time.perf_counter()
        for i in range(n):
            producer.publish({'n': i}, declare=[queue])
        p = time.perf_counter() - start
        q = conn.SimpleQueue(queue)
        start = time.perf_counter()
        for _ in range(n):
            q.get(timeout=10).ack()
        c = time.perf_counter() - start
        q.close()
    return n / p, n / c


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('-n', type=int, default=5000)
    parser.add_argument('--url', default='redis://127.0.0.1:6379/0')
    args = parser.parse_args()
    rows = [
        ('raw redis.asyncio (LPUSH/RPOP)', asyncio.run(bench_raw(args.url, args.n))),
        ('kombu.asyncio native', asyncio.run(bench_async(args.url, args.n, True))),
        ('kombu.asyncio thread adapter', asyncio.run(bench_async(args.url, args.n, False))),
        ('kombu sync (Producer / SimpleQueue)', bench_sync(args.url, args.n)),
    ]
    print(f'{"":38} {"publish msg/s":>14} {"consume+ack msg/s":>18}')
    for name, (p, c) in rows:
        print(f'{name:38} {p:14,.0f} {c:18,.0f}')


if __name__ == '__main__':
    main()
