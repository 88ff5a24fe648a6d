"""kombu.asyncio on Redis and RabbitMQ: msg/s of publish and consume+ack,
next to the raw client (``redis.asyncio`` LPUSH / RPOP with no envelope and no
ack; aiormq publish with confirms and consume with acks) and to this
package's sync API, on the same broker in the same run.

    python bench/bench_asyncio.py [-n 5000] [--url redis://127.0.0.1:6379/0]
                                  [--amqp-url amqp://guest:guest@127.0.0.1:5672//]
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
        await (await conn.channel()).run(lambda: queue(conn.sync.default_channel).delete())
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


async def bench_raw_aiormq(url: str, n: int) -> tuple[float, float]:
    import aiormq

    from kombu.asyncio.native_amqp import url_of
    connection = await aiormq.connect(url_of(Connection(url)))
    channel = await connection.channel(publisher_confirms=True)
    from pamqp.commands import Basic
    # durable queue, persistent messages: what Kombu's defaults publish (the
    # broker confirms a persistent message only once it is written to disk)
    declared = await channel.queue_declare(f'bench-raw-{uuid.uuid4().hex[:8]}', durable=True)
    queue = declared.queue
    body = b'{"n": 1}'
    props = Basic.Properties(delivery_mode=2, content_type='application/json')

    async def publish() -> None:
        for _ in range(n):
            await channel.basic_publish(body, routing_key=queue, properties=props)

    done = asyncio.Event()
    seen = 0

    async def on_message(message: Any) -> None:
        nonlocal seen
        await channel.basic_ack(message.delivery.delivery_tag)
        seen += 1
        if seen == n:
            done.set()

    async def consume() -> None:
        await channel.basic_qos(prefetch_count=100)
        await channel.basic_consume(queue, on_message)
        await done.wait()

    p, c = await timed(publish), await timed(consume)
    await channel.queue_delete(queue)
    await connection.close()
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
        queue(conn.channel()).delete()
    return n / p, n / c


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('-n', type=int, default=5000)
    parser.add_argument('--url', default='redis://127.0.0.1:6379/0')
    parser.add_argument('--amqp-url', default='amqp://guest:guest@127.0.0.1:5672//')
    args = parser.parse_args()
    amqp = args.amqp_url
    rows = [
        ('redis: raw redis.asyncio (LPUSH/RPOP)', asyncio.run(bench_raw(args.url, args.n))),
        ('redis: kombu.asyncio native', asyncio.run(bench_async(args.url, args.n, True))),
        ('redis: kombu.asyncio thread adapter',
         asyncio.run(bench_async(args.url, args.n, False))),
        ('redis: kombu sync', bench_sync(args.url, args.n)),
        ('amqp: raw aiormq (persistent, confirms)', asyncio.run(bench_raw_aiormq(amqp, args.n))),
        ('amqp: kombu.asyncio native (aiormq)', asyncio.run(bench_async(amqp, args.n, True))),
        ('amqp: kombu.asyncio thread adapter', asyncio.run(bench_async(amqp, args.n, False))),
        ('amqp: kombu sync (no confirms)', bench_sync(amqp, args.n)),
    ]
    print(f'{"":38} {"publish msg/s":>14} {"consume+ack msg/s":>18}')
    for name, (p, c) in rows:
        print(f'{name:38} {p:14,.0f} {c:18,.0f}')


if __name__ == '__main__':
    main()
