"""Core conformance cases through kombu.asyncio, awaited, on every path:
memory:// (inline and through the thread adapter), Redis and RabbitMQ (native
driver and adapter).  The same assertions for all of them."""
from __future__ import annotations

import asyncio
from typing import Any, Iterator

import pytest

from kombu import Exchange, Queue
from kombu.asyncio import AsyncConnection, AsyncConsumer, AsyncProducer, ThreadRunner
from t.integration.redis.servers import claim_db
from t.servers import require_server, unique_name
from t.unit.asyncio.common import run, take

pytestmark = pytest.mark.integration
AMQP = 'amqp://guest:guest@127.0.0.1:5672//'
PATHS = ['memory-inline', 'memory-thread', 'redis-native', 'redis-adapter',
         'amqp-native', 'amqp-adapter']


@pytest.fixture(params=PATHS)
def connect(request: Any) -> Iterator[Any]:
    broker, how = request.param.split('-')
    lock = None
    if broker == 'redis':
        require_server('Redis', '127.0.0.1', 6379,
                       'redis-server --bind 127.0.0.1 --port 6379 --save ""')
        db, lock = claim_db()
        url = f'redis://127.0.0.1:6379/{db}'
    elif broker == 'amqp':
        require_server('RabbitMQ', '127.0.0.1', 5672, 'rabbitmq-server (see .ci/servers.d)')
        url = AMQP
    else:
        url = 'memory://'

    def factory() -> AsyncConnection:
        return AsyncConnection(url, native=how in ('native', 'inline'),
                               runner=ThreadRunner() if how == 'thread' else None)

    yield factory
    if lock is not None:
        import redis
        redis.Redis(db=db).flushdb()
        lock.close()


def entities(kind: str = 'direct', key: str | None = None) -> tuple[Exchange, Queue]:
    name = unique_name('aioc')
    exchange = Exchange(name, kind)
    return exchange, Queue(name, exchange, key or name)


async def drain(conn: AsyncConnection, queue: Queue, timeout: float = 0.5) -> list[Any]:
    """Everything left in ``queue`` (acked), then delete it."""
    consumer = AsyncConsumer(conn, [queue])
    got = []
    while True:
        try:
            message = await consumer.get(timeout=timeout)
        except asyncio.TimeoutError:
            break
        got.append(message.payload)
        await message.ack()
    await consumer.close()
    channel = await conn.channel()
    await channel.run(queue(channel.channel).delete)
    return got


def test_publish_consume_ack_fifo(connect: Any) -> None:
    exchange, queue = entities()

    async def main() -> tuple[list[Any], list[Any]]:
        async with connect() as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            for i in range(25):
                await producer.publish(i, declare=[queue])
            got = await take(AsyncConsumer(conn, [queue], prefetch_count=5), 25)
            return got, await drain(conn, queue)

    got, left = run(main())
    assert got == list(range(25)) and left == []


def test_message_fields_round_trip(connect: Any) -> None:
    exchange, queue = entities()

    async def main() -> Any:
        async with connect() as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            await producer.publish({'x': [1, 2]}, declare=[queue], serializer='pickle',
                                   compression='zlib', headers={'h': 'v', 'n': 3},
                                   correlation_id='c-1', reply_to='back', priority=4,
                                   message_id='m-1')
            consumer = AsyncConsumer(conn, [queue], accept=['pickle'])
            message = await consumer.get(timeout=5)
            fields = (message.payload, message.headers['h'], message.headers['n'],
                      message.content_type, message.properties['correlation_id'],
                      message.properties['reply_to'], message.properties.get('message_id'))
            await message.ack()
            await consumer.close()
            await drain(conn, queue)
            return fields

    assert run(main()) == ({'x': [1, 2]}, 'v', 3, 'application/x-python-serialize',
                           'c-1', 'back', 'm-1')


def test_reject_drops_and_requeue_redelivers(connect: Any) -> None:
    exchange, queue = entities()

    async def main() -> list[Any]:
        async with connect() as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            await producer.publish('drop', declare=[queue])
            await producer.publish('again', declare=[queue])
            consumer = AsyncConsumer(conn, [queue])
            first = await consumer.get(timeout=5)
            await first.reject()
            second = await consumer.get(timeout=5)
            await second.requeue()
            third = await consumer.get(timeout=5)
            await third.ack()
            await consumer.close()
            return [first.payload, second.payload, third.payload, await drain(conn, queue)]

    assert run(main()) == ['drop', 'again', 'again', []]


def test_unacked_come_back_when_consumer_closes(connect: Any) -> None:
    exchange, queue = entities()

    async def main() -> list[Any]:
        async with connect() as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            for i in range(6):
                await producer.publish(i, declare=[queue])
            consumer = AsyncConsumer(conn, [queue], prefetch_count=3)
            held = [await consumer.get(timeout=5) for _ in range(3)]
            await held[1].ack()
            await consumer.close()
            return await drain(conn, queue)

    assert sorted(run(main())) == [0, 2, 3, 4, 5]


def test_topic_routing(connect: Any) -> None:
    exchange, queue = entities('topic', 'stock.*.eu')

    async def main() -> list[Any]:
        async with connect() as conn:
            producer = AsyncProducer(conn, exchange)
            await AsyncConsumer(conn, [queue]).consume()
            for key in ('stock.a.eu', 'stock.b.us', 'stock.c.eu', 'bond.a.eu'):
                await producer.publish(key, routing_key=key)
            return await drain(conn, queue)

    assert sorted(run(main())) == ['stock.a.eu', 'stock.c.eu']


def test_simple_queue_size_and_purge(connect: Any) -> None:
    name = unique_name('aioc')

    async def main() -> tuple[int, int, int]:
        async with connect() as conn:
            q = conn.SimpleQueue(name)
            for i in range(7):
                await q.put(i)
            # brokers count routed messages asynchronously (RabbitMQ without
            # confirms): wait for the count, as the sync suite does
            for _ in range(50):
                size = await q.qsize()
                if size == 7:
                    break
                await asyncio.sleep(0.1)
            purged = await q.clear()
            after = await q.qsize()
            await q.close()
            await drain(conn, q.queue)
            return size, purged, after

    assert run(main()) == (7, 7, 0)
