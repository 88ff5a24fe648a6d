"""Cancelling tasks that use kombu.asyncio loses no message, on memory://,
Redis and RabbitMQ (native I/O): a consumer task cancelled after receiving a
message and before acking it gives the message back (redelivered), and a
publish cancelled while it waits (for the confirm, on AMQP) leaves the
channel usable, every confirmed message delivered once.
"""
from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from kombu import Exchange, Queue
from kombu.asyncio import AsyncConnection, AsyncConsumer, AsyncProducer
from t.servers import require_server
from t.unit.asyncio.common import cancel_when, entities, run

pytestmark = pytest.mark.integration
AMQP = 'amqp://guest:guest@127.0.0.1:5672//'


@pytest.fixture(params=['memory', 'redis', 'amqp'])
def url(request: Any) -> str:
    if request.param == 'redis':
        return str(request.getfixturevalue('redis_url'))
    if request.param == 'amqp':
        require_server('RabbitMQ', '127.0.0.1', 5672, 'rabbitmq-server (see .ci/servers.d)')
        return AMQP
    return 'memory://'


async def publish(conn: AsyncConnection, exchange: Exchange, queue: Queue,
                  bodies: list[Any]) -> None:
    producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
    for body in bodies:
        await producer.publish(body, declare=[queue])
    await producer.close()


async def receive_all(url: str, queue: Queue, idle: float = 1.0) -> list[tuple[Any, bool]]:
    """(payload, redelivered) of everything left in ``queue``, acked, on a new
    connection; the queue is deleted after."""
    got = []
    async with AsyncConnection(url) as conn:
        async with AsyncConsumer(conn, [queue]) as consumer:
            while True:
                try:
                    message = await consumer.get(timeout=idle)
                except asyncio.TimeoutError:
                    break
                got.append((message.payload, bool(message.delivery_info.get('redelivered'))))
                await message.ack()
        channel = await conn.channel()
        await channel.run(queue(channel.channel).delete)
    return got


def test_task_cancelled_before_ack_message_redelivered(url: str) -> None:
    # The task owns its consumer (async with): cancelling it closes the
    # consumer, which gives the held message back; the others acked stay acked.
    exchange, queue = entities()
    acked: list[int] = []

    async def main() -> tuple[Any, list[tuple[Any, bool]]]:
        held: list[Any] = []
        holding = asyncio.Event()
        async with AsyncConnection(url) as conn:
            await publish(conn, exchange, queue, list(range(10)))

            async def handler() -> None:
                async with AsyncConsumer(conn, [queue], prefetch_count=3) as consumer:
                    async for message in consumer:
                        if message.payload == 4:
                            held.append(message)
                            holding.set()
                            await asyncio.sleep(60)  # cancelled here, before the ack
                        await message.ack()
                        acked.append(message.payload)

            await cancel_when(asyncio.ensure_future(handler()), holding)
        return held[0], await receive_all(url, queue)

    held, rest = run(main())
    assert held.payload == 4 and not held.acknowledged
    assert acked == [0, 1, 2, 3]
    assert rest[0] == (4, True)  # back at the head, marked redelivered
    assert sorted(body for body, _ in rest) == list(range(4, 10))


def test_task_cancelled_connection_closed_without_consumer_close(url: str) -> None:
    # As if the process shut down: the task's consumer is never closed, the
    # connection is; the message the task held comes back all the same.
    exchange, queue = entities()

    async def main() -> list[tuple[Any, bool]]:
        holding = asyncio.Event()
        conn = AsyncConnection(url)
        await conn.ensure_connection()
        await publish(conn, exchange, queue, ['a', 'b'])
        consumer = AsyncConsumer(conn, [queue], prefetch_count=1)

        async def handler() -> None:
            await consumer.get(timeout=5)
            holding.set()
            await asyncio.sleep(60)

        await cancel_when(asyncio.ensure_future(handler()), holding)
        await conn.close()
        return await receive_all(url, queue)

    rest = run(main())
    assert sorted(body for body, _ in rest) == ['a', 'b']
    assert ('a', True) in rest


def test_cancelled_at_random_points_nothing_lost_nothing_twice(url: str) -> None:
    # Task after task receives and is cancelled at a random point: while
    # waiting for a message, or holding one unacked.  Never during an ack, so
    # every message must be acked exactly once in the end.
    exchange, queue = entities()
    total = 60
    rng = random.Random(15)

    async def main() -> list[Any]:
        acked: list[Any] = []
        async with AsyncConnection(url) as conn:
            await publish(conn, exchange, queue, list(range(total)))
            for _ in range(40):
                hold_after = rng.randrange(4)
                received = asyncio.Event()

                async def handler(hold_after: int = hold_after,
                                  received: asyncio.Event = received) -> None:
                    async with AsyncConsumer(conn, [queue], prefetch_count=4) as consumer:
                        for n in range(hold_after + 1):
                            message = await consumer.get(timeout=5)
                            if n == hold_after:
                                received.set()
                                await asyncio.sleep(60)
                            await message.ack()
                            acked.append(message.payload)

                task = asyncio.ensure_future(handler())
                if rng.random() < 0.3:  # now, while it waits in get()
                    for _ in range(rng.randrange(3)):
                        await asyncio.sleep(0)
                    received.set()
                await cancel_when(task, received)
        rest = await receive_all(url, queue)
        return acked + [body for body, _ in rest]

    acked = run(main())
    assert sorted(acked) == list(range(total))  # each exactly once


def test_publish_cancelled_while_waiting(url: str) -> None:
    # Many publishes in flight on one producer (AMQP: each awaits its confirm);
    # some are cancelled.  The producer keeps working, every publish that
    # returned is delivered, nothing twice, nothing that was never sent.
    exchange, queue = entities()
    rng = random.Random(7)

    async def main() -> tuple[list[int], list[int], list[Any]]:
        async with AsyncConnection(url) as conn:
            channel = await conn.channel()
            producer = AsyncProducer(channel, exchange, routing_key=queue.routing_key)
            await producer.publish('first', declare=[queue])
            tasks = [asyncio.ensure_future(producer.publish(i)) for i in range(200)]
            doomed = rng.sample(range(200), 80)
            for turn in range(4):  # before they start (memory:// never waits), then later
                for i in doomed[turn::4]:
                    tasks[i].cancel()
                await asyncio.sleep(0)
            results = await asyncio.gather(*tasks, return_exceptions=True)
            errors = [r for r in results
                      if isinstance(r, BaseException) and not isinstance(
                          r, asyncio.CancelledError)]
            assert not errors, errors
            returned = [i for i, t in enumerate(tasks) if not t.cancelled()]
            cancelled = [i for i, t in enumerate(tasks) if t.cancelled()]
            for i in range(200, 220):  # the same producer, after the cancellations
                await producer.publish(i)
            await producer.close()
            return returned, cancelled, [body for body, _ in await receive_all(url, queue)]

    returned, cancelled, got = run(main())
    assert cancelled, 'no publish was cancelled in flight'
    assert len(got) == len(set(got))
    assert set(got) <= {'first', *range(220)}
    assert {'first', *returned, *range(200, 220)} <= set(got)
