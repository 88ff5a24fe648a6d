"""The asyncio API on a real RabbitMQ: aiormq natively, interop with the sync API."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kombu import Connection
from kombu.asyncio import AsyncConnection, AsyncConsumer, AsyncProducer
from t.servers import require_server
from t.unit.asyncio.common import cancel_mid_message, cancelled_gets, entities, run, take

pytestmark = pytest.mark.integration
URL = 'amqp://guest:guest@127.0.0.1:5672//'
N = 200


@pytest.fixture(params=[True, False], ids=['native', 'adapter'])
def native(request: Any) -> bool:
    require_server('RabbitMQ', '127.0.0.1', 5672, 'rabbitmq-server (see .ci/servers.d)')
    return bool(request.param)


def drain_sync(queue: Any, expected: int) -> list[Any]:
    got: list[Any] = []
    with Connection(URL) as sync:
        with sync.Consumer([queue], callbacks=[
                lambda body, message: (got.append(body), message.ack())]):
            while len(got) < expected:
                sync.drain_events(timeout=5)
        queue(sync.default_channel).delete()
    return got


def test_async_publish_sync_consume(native: bool) -> None:
    exchange, queue = entities()

    async def publish() -> bool:
        async with AsyncConnection(URL, native=native) as conn:
            channel = await conn.channel()
            producer = AsyncProducer(channel, exchange, routing_key=queue.routing_key)
            for i in range(N):
                await producer.publish({'n': i}, declare=[queue], headers={'k': i},
                                       priority=5, compression='zlib', correlation_id=str(i))
            return channel.native

    assert run(publish()) is native
    got = drain_sync(queue, N)
    assert sorted(b['n'] for b in got) == list(range(N))


def test_sync_publish_async_consume(native: bool) -> None:
    exchange, queue = entities()
    with Connection(URL) as sync:
        producer = sync.Producer(exchange=exchange, routing_key=queue.routing_key)
        for i in range(N):
            producer.publish({'n': i}, declare=[queue], headers={'h': i}, reply_to='r')

    async def consume() -> list[int]:
        async with AsyncConnection(URL, native=native) as conn:
            consumer = AsyncConsumer(conn, [queue], prefetch_count=20)
            message = await consumer.get(timeout=5)
            assert message.headers['h'] == message.payload['n']
            assert message.properties['reply_to'] == 'r'
            await message.ack()
            return [message.payload['n']] + [b['n'] for b in await take(consumer, N - 1)]

    assert sorted(run(consume())) == list(range(N))
    assert drain_sync(queue, 0) == []


def test_prefetch_is_broker_qos(native: bool) -> None:
    exchange, queue = entities()

    async def main() -> list[Any]:
        async with AsyncConnection(URL, native=native) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            for i in range(5):
                await producer.publish(i, declare=[queue])
            consumer = AsyncConsumer(conn, [queue], prefetch_count=2)
            first = [await consumer.get(timeout=5), await consumer.get(timeout=5)]
            with pytest.raises(asyncio.TimeoutError):
                await consumer.get(timeout=0.3)
            await first[0].ack()
            await first[1].ack()
            rest = []
            for _ in range(3):
                rest.append(await consumer.get(timeout=5))
                await rest[-1].ack()
            await consumer.close()
            return [m.payload for m in first + rest]

    assert sorted(run(main())) == [0, 1, 2, 3, 4]
    drain_sync(queue, 0)


def test_cancelled_consumer_task_message_comes_back(native: bool) -> None:
    exchange, queue = entities()

    async def main() -> None:
        async with AsyncConnection(URL, native=native) as conn:
            await AsyncProducer(conn, exchange, routing_key=queue.routing_key).publish(
                'precious', declare=[queue])
            held = await cancel_mid_message(AsyncConsumer(conn, [queue]))
            assert held.payload == 'precious'

    run(main())
    assert drain_sync(queue, 1) == ['precious']


def test_cancelled_gets_lose_nothing(native: bool) -> None:
    exchange, queue = entities()

    async def main() -> list[int]:
        async with AsyncConnection(URL, native=native) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            for i in range(30):
                await producer.publish(i, declare=[queue])
            consumer = AsyncConsumer(conn, [queue], prefetch_count=5)
            seen = await cancelled_gets(consumer, 300)
            await consumer.close()
            return seen

    assert sorted(run(main())) == list(range(30))
    drain_sync(queue, 0)


def test_native_publisher_confirms_raise_on_nack() -> None:
    from kombu import Queue
    from kombu.exceptions import MessageNacked
    require_server('RabbitMQ', '127.0.0.1', 5672, 'rabbitmq-server (see .ci/servers.d)')
    exchange, plain = entities()
    # a full queue that refuses more: the broker nacks the publish
    queue = Queue(plain.name, exchange, plain.routing_key,
                  queue_arguments={'x-max-length': 1, 'x-overflow': 'reject-publish'})

    async def main() -> None:
        async with AsyncConnection(URL) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            await producer.publish('fits', declare=[queue])
            with pytest.raises(MessageNacked):
                await producer.publish('refused', declare=[queue])

    run(main())
    assert drain_sync(queue, 1) == ['fits']


def test_native_channels_share_one_aiormq_connection() -> None:
    require_server('RabbitMQ', '127.0.0.1', 5672, 'rabbitmq-server (see .ci/servers.d)')

    async def main() -> tuple[bool, bool, bool]:
        conn = AsyncConnection(URL)
        first, second = await conn.channel(), await conn.channel()
        assert first.driver is not None and second.driver is not None
        shared = first.driver.connection is second.driver.connection
        distinct = first.driver.channel is not second.driver.channel
        amqp = first.driver.connection
        await conn.close()
        return shared, distinct, amqp.is_closed

    assert run(main()) == (True, True, True)


def test_native_consumer_close_on_shared_channel_stops_delivery() -> None:
    # The channel stays open: closing the consumer sends basic.cancel, and what
    # the broker pushed and nobody was handed goes back (prefetch 5, one taken).
    require_server('RabbitMQ', '127.0.0.1', 5672, 'rabbitmq-server (see .ci/servers.d)')
    exchange, queue = entities()

    async def main() -> tuple[Any, int]:
        async with AsyncConnection(URL) as conn:
            channel = await conn.channel()
            producer = AsyncProducer(channel, exchange, routing_key=queue.routing_key)
            for i in range(5):
                await producer.publish(i, declare=[queue])
            consumer = AsyncConsumer(channel, [queue], prefetch_count=5)
            first = await consumer.get(timeout=5)
            await first.ack()
            await consumer.close()
            await producer.publish('after')
            for _ in range(50):  # the broker counts routed messages asynchronously
                _, ready, consumers = await channel.run(
                    queue(channel.channel).queue_declare, passive=True)
                if ready == 5:
                    break
                await asyncio.sleep(0.05)
            return first.payload, consumers

    payload, consumers = run(main())
    assert payload == 0 and consumers == 0
    assert drain_sync(queue, 5) == [1, 2, 3, 4, 'after']


def test_native_consumers_sharing_a_channel_get_their_own_queues() -> None:
    # One basic.consume per consumer: each is handed its own queue's messages
    # only, and closing one leaves the other consuming.
    require_server('RabbitMQ', '127.0.0.1', 5672, 'rabbitmq-server (see .ci/servers.d)')
    exchange, red = entities()
    blue = type(red)(red.name + '-blue', exchange, red.name + '-blue')

    async def main() -> tuple[list[Any], list[Any], list[Any]]:
        async with AsyncConnection(URL) as conn:
            channel = await conn.channel()
            producer = AsyncProducer(channel, exchange)
            for queue in (red, blue):
                for i in range(3):
                    await producer.publish(f'{queue.name[-4:]}{i}', routing_key=queue.routing_key,
                                           declare=[queue])
            reds = AsyncConsumer(channel, [red], prefetch_count=2)
            blues = AsyncConsumer(channel, [blue], prefetch_count=2)
            got_red = [(await reds.get(timeout=5)) for _ in range(2)]
            got_blue = [await blues.get(timeout=5)]
            for message in got_red + got_blue:
                await message.ack()
            await reds.close()
            later = [await blues.get(timeout=5) for _ in range(2)]
            for message in later:
                await message.ack()
            await blues.close()
            return ([m.payload for m in got_red], [m.payload for m in got_blue],
                    [m.payload for m in later])

    got_red, got_blue, later = run(main())
    tail = red.name[-4:]
    assert got_red == [f'{tail}0', f'{tail}1']
    assert got_blue == ['blue0'] and later == ['blue1', 'blue2']
    assert drain_sync(red, 1) == [f'{tail}2']
    assert drain_sync(blue, 0) == []
