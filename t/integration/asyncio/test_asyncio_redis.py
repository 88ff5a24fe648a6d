"""The asyncio API on a real Redis: interop with the sync API, counted."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kombu import Connection, Exchange, Queue
from kombu.asyncio import AsyncConnection, AsyncConsumer, AsyncProducer
from kombu.exceptions import OperationalError
from t.servers import unique_name
from t.unit.asyncio.common import cancel_mid_message, cancelled_gets, entities, run, take

pytestmark = pytest.mark.integration
N = 200


@pytest.fixture(params=[True, False], ids=['native', 'adapter'])
def native(request: Any) -> bool:
    return bool(request.param)


@pytest.fixture
def url(redis_url: str) -> str:
    return redis_url




def test_async_publish_sync_consume(url: str, native: bool) -> None:
    exchange, queue = entities()

    async def publish() -> None:
        async with AsyncConnection(url, native=native) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            for i in range(N):
                await producer.publish({'n': i}, declare=[queue], headers={'k': 'v'},
                                       compression='zlib', retry=True)
            await producer.close()

    run(publish())
    got: list[int] = []
    with Connection(url) as sync:
        with sync.Consumer([queue], callbacks=[
                lambda body, message: (got.append(body['n']), message.ack())]):
            while len(got) < N:
                sync.drain_events(timeout=5)
    assert sorted(got) == list(range(N))


def test_sync_publish_async_consume(url: str, native: bool) -> None:
    exchange, queue = entities()
    with Connection(url) as sync:
        producer = sync.Producer(exchange=exchange, routing_key=queue.routing_key)
        for i in range(N):
            producer.publish({'n': i}, declare=[queue], serializer='pickle')

    async def consume() -> list[int]:
        async with AsyncConnection(url, native=native) as conn:
            consumer = AsyncConsumer(conn, [queue], accept=['pickle'], prefetch_count=10)
            return [body['n'] for body in await take(consumer, N)]

    assert sorted(run(consume())) == list(range(N))
    with Connection(url) as sync:
        assert sync.SimpleQueue(queue).qsize() == 0


def test_cancelled_consumer_task_message_comes_back(url: str, native: bool) -> None:
    exchange, queue = entities()

    async def main() -> Any:
        async with AsyncConnection(url, native=native) as conn:
            await AsyncProducer(conn, exchange, routing_key=queue.routing_key).publish(
                'precious', declare=[queue])
            consumer = AsyncConsumer(conn, [queue])
            held = await cancel_mid_message(consumer)
            assert held.payload == 'precious'

    run(main())
    with Connection(url) as sync:  # a sync consumer on another connection gets it
        message = sync.SimpleQueue(queue).get(timeout=5)
        message.ack()
        assert message.payload == 'precious'


def test_ensure_connection_fails_over(url: str, native: bool) -> None:
    errors: list[float] = []

    async def main() -> str:
        conn = AsyncConnection(f'redis://127.0.0.1:1/0;{url}')
        await conn.ensure_connection(errback=lambda exc, interval: errors.append(interval),
                                     max_retries=3, interval_start=0)
        uri = conn.sync.as_uri()
        await conn.close()
        return uri

    assert run(main()) == url
    assert len(errors) == 1

    async def refused() -> None:
        conn = AsyncConnection('redis://127.0.0.1:1/0')
        try:
            await conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
        finally:
            await conn.close()

    with pytest.raises(OperationalError):
        run(refused())


def test_native_ack_emulation_matches_sync_layout(url: str) -> None:
    import redis
    exchange, queue = entities()
    client = redis.Redis.from_url(url)

    async def main() -> None:
        async with AsyncConnection(url) as conn:
            channel = await conn.channel()
            assert channel.driver is not None  # the native path, not the adapter
            await AsyncProducer(channel, exchange, routing_key=queue.routing_key).publish(
                'held', declare=[queue], priority=7)
            consumer = AsyncConsumer(channel, [queue])
            message = await consumer.get(timeout=5)
            tag = message.delivery_tag
            # recorded exactly as the sync transport records it
            payload, ex, rk = json.loads(client.hget('unacked', tag))
            assert (payload['body'], ex, rk) == (message.message._raw['body'],
                                                 exchange.name, queue.routing_key)
            assert client.zscore('unacked_index', tag) is not None
            await message.ack()
            assert client.hget('unacked', tag) is None
            assert client.zscore('unacked_index', tag) is None
            await consumer.close()

    run(main())


def test_native_close_gives_back_unacked(url: str) -> None:
    exchange, queue = entities()

    async def main() -> int:
        async with AsyncConnection(url) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            for i in range(10):
                await producer.publish(i, declare=[queue])
            consumer = AsyncConsumer(conn, [queue], prefetch_count=4)
            held = [await consumer.get(timeout=5) for _ in range(3)]
            await held[0].ack()
            await consumer.close()  # 2 held + whatever was fetched go back
            return len(held)

    run(main())
    with Connection(url) as sync:
        q = sync.SimpleQueue(queue)
        got = []
        while True:
            try:
                m = q.get(timeout=1)
            except q.Empty:
                break
            got.append(m.payload)
            m.ack()
    assert sorted(got) == list(range(1, 10))


def test_cancelled_gets_lose_nothing(url: str, native: bool) -> None:
    exchange, queue = entities()

    async def main() -> list[int]:
        async with AsyncConnection(url, native=native) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            for i in range(30):
                await producer.publish(i, declare=[queue])
            consumer = AsyncConsumer(conn, [queue])
            seen = await cancelled_gets(consumer, 300)
            await consumer.close()
            return seen

    assert sorted(run(main())) == list(range(30))


def test_native_concurrent_acks_share_a_round_trip(url: str) -> None:
    import redis
    exchange, queue = entities()
    client = redis.Redis.from_url(url)

    async def main() -> int:
        async with AsyncConnection(url) as conn:
            channel = await conn.channel()
            driver = channel.driver
            assert driver is not None
            producer = AsyncProducer(channel, exchange, routing_key=queue.routing_key)
            for i in range(40):
                await producer.publish(i, declare=[queue])
            consumer = AsyncConsumer(channel, [queue], prefetch_count=40)
            held = [await consumer.get(timeout=5) for _ in range(40)]
            assert client.hlen('unacked') == 40
            trips = 0
            forget = driver._forget  # one HDEL + ZREM round trip

            def counting(*args: Any, **kwargs: Any) -> Any:
                nonlocal trips
                trips += 1
                return forget(*args, **kwargs)

            driver._forget = counting
            await asyncio.gather(*(m.ack() for m in held))
            assert all(m.acknowledged for m in held)
            await consumer.close()
            return trips

    assert run(main()) == 1
    assert client.hlen('unacked') == 0 and client.zcard('unacked_index') == 0


def sync_get_all(url: str, queue: Any) -> list[Any]:
    """Every message left in ``queue``, in order, acked (sync API, another connection)."""
    got = []
    with Connection(url) as sync:
        bound = queue(sync.default_channel)
        while True:
            message = bound.get(no_ack=False)
            if message is None:
                return got
            got.append(message.payload)
            message.ack()


def test_native_channel_close_gives_back_unacked_in_order(url: str) -> None:
    # The consumer is never closed: closing its channel (or the connection)
    # gives back what it received natively and nobody acked, oldest first.
    exchange, queue = entities()

    async def main() -> None:
        async with AsyncConnection(url) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            for body in 'abcd':
                await producer.publish(body, declare=[queue])
            channel = await conn.channel()
            consumer = AsyncConsumer(channel, [queue], prefetch_count=3)
            held = [await consumer.get(timeout=5) for _ in range(3)]
            await held[1].ack()
            await channel.close()

    run(main())
    assert sync_get_all(url, queue) == ['a', 'c', 'd']


def dead_lettering() -> tuple[Exchange, Queue, Queue]:
    """An exchange, a queue of it that dead-letters to the other queue."""
    exchange, plain = entities()
    dlx, dead = entities()
    queue = Queue(plain.name, exchange, plain.routing_key, queue_arguments={
        'x-dead-letter-exchange': dlx.name, 'x-dead-letter-routing-key': dead.routing_key})
    return exchange, queue, dead


def test_native_consumer_skips_and_dead_letters_expired(url: str) -> None:
    exchange, queue, dead = dead_lettering()

    async def main() -> list[Any]:
        async with AsyncConnection(url) as conn:
            channel = await conn.channel()
            assert channel.driver is not None
            await channel.run(lambda: [e(channel.channel).declare() for e in (dead, queue)])
            producer = AsyncProducer(channel, exchange, routing_key=queue.routing_key)
            await producer.publish('short', expiration=0.05)
            await producer.publish('keep')
            await asyncio.sleep(0.2)
            consumer = AsyncConsumer(channel, [queue])
            message = await consumer.get(timeout=5)  # 'short' expired on the way
            await message.ack()
            await consumer.close()
            return [message.payload]

    assert run(main()) == ['keep']
    assert sync_get_all(url, dead) == ['short']
    assert sync_get_all(url, queue) == []


def test_native_publish_keeps_max_length_of_another_process(url: str) -> None:
    # The queue's x-max-length was declared by another connection: the native
    # publish goes the sync way (which loads the stored arguments) and drops heads.
    exchange, queue = entities()
    limited = Queue(queue.name, exchange, queue.routing_key, max_length=2)
    with Connection(url) as sync:
        limited(sync.default_channel).declare()

    async def main() -> None:
        async with AsyncConnection(url) as conn:
            channel = await conn.channel()
            producer = AsyncProducer(channel, routing_key=queue.name)  # the default exchange
            assert channel.driver is not None and channel.driver.can_publish(
                {'properties': {}}, '')
            for body in 'abcd':
                await producer.publish(body)

    run(main())
    assert sync_get_all(url, queue) == ['c', 'd']


def test_native_reject_dead_letters(url: str) -> None:
    exchange, queue, dead = dead_lettering()

    async def main() -> None:
        async with AsyncConnection(url) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            await producer.publish('bad', declare=[dead, queue])
            await producer.publish('good')
            async with AsyncConsumer(conn, [queue]) as consumer:
                await (await consumer.get(timeout=5)).reject()

    run(main())
    assert sync_get_all(url, dead) == ['bad']
    assert sync_get_all(url, queue) == ['good']


def test_fanout_reaches_async_consumers(url: str, native: bool) -> None:
    # Redis fanout is PUB/SUB: the consumer subscribes (the sync consumer on
    # the runner) and gets a copy per queue.
    name = unique_name('aiofan')
    exchange = Exchange(name, 'fanout')
    queues = [Queue(f'{name}-{n}', exchange) for n in range(2)]

    async def main() -> list[Any]:
        async with AsyncConnection(url, native=native) as conn:
            consumer = AsyncConsumer(conn, queues)
            with pytest.raises(asyncio.TimeoutError):
                await consumer.get(timeout=0.2)  # subscribed now
            await AsyncProducer(conn, exchange).publish('to all')
            got = []
            for _ in range(2):
                message = await consumer.get(timeout=5)
                got.append((message.delivery_info['routing_key'], message.payload))
                await message.ack()
            await consumer.close()
            return got

    assert run(main()) == [('', 'to all'), ('', 'to all')]


def test_native_concurrent_publishes_beyond_the_pool_wait(url: str) -> None:
    # More tasks than max_connections publish at once: they wait for a
    # connection of the pool (redis-py 8's raised MaxConnectionsError).
    exchange, queue = entities()

    async def main() -> None:
        async with AsyncConnection(url, transport_options={'max_connections': 4}) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            await producer.publish(-1, declare=[queue])
            await asyncio.gather(*[producer.publish(i) for i in range(300)])

    run(main())
    assert sorted(sync_get_all(url, queue)) == list(range(-1, 300))
