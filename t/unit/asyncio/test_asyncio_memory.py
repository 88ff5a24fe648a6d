"""The asyncio API on memory:// (inline, and through the thread adapter)."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kombu import Connection
from kombu.asyncio import AsyncConnection, AsyncConsumer, AsyncProducer, ThreadRunner
from t.unit.asyncio.common import cancel_mid_message, cancelled_gets, entities, run


@pytest.fixture(params=['inline', 'thread'])
def runner(request: Any) -> Any:
    return (lambda: ThreadRunner()) if request.param == 'thread' else (lambda: None)



def test_publish_consume_counted(runner: Any) -> None:
    exchange, queue = entities()

    async def main() -> list[Any]:
        async with AsyncConnection('memory://', runner=runner()) as conn:
            consumer = AsyncConsumer(conn, [queue])
            await consumer.consume()
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            for i in range(50):
                await producer.publish({'n': i}, serializer='json', compression='zlib',
                                       headers={'h': i}, priority=3)
            got = []
            async for message in consumer:
                assert message.headers['h'] == message.payload['n']
                got.append(message.payload['n'])
                await message.ack()
                if len(got) == 50:
                    break
            await consumer.close()
            return got

    assert run(main()) == list(range(50))


def test_sync_and_async_share_queue() -> None:
    exchange, queue = entities()

    async def main() -> list[Any]:
        async with AsyncConnection('memory://') as conn:
            with Connection('memory://') as sync:
                sync.Producer().publish('from-sync', exchange=exchange,
                                        routing_key=queue.routing_key, declare=[queue])
            q = conn.SimpleQueue(queue)
            message = await q.get(timeout=2)
            await message.ack()
            await q.put('from-async')
            with Connection('memory://') as sync:
                back = sync.SimpleQueue(queue).get(timeout=2)
                back.ack()
            await q.close()
            return [message.payload, back.payload]

    assert run(main()) == ['from-sync', 'from-async']


def test_prefetch_caps_unacked(runner: Any) -> None:
    exchange, queue = entities()

    async def main() -> None:
        async with AsyncConnection('memory://', runner=runner()) as conn:
            consumer = AsyncConsumer(conn, [queue], prefetch_count=2)
            await consumer.consume()
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            for i in range(5):
                await producer.publish(i)
            first = [await consumer.get(timeout=1), await consumer.get(timeout=1)]
            with pytest.raises(asyncio.TimeoutError):
                await consumer.get(timeout=0.1)
            await first[0].ack()
            third = await consumer.get(timeout=1)
            assert [m.payload for m in first + [third]] == [0, 1, 2]
            await consumer.close()

    run(main())


def test_cancelled_handler_message_comes_back(runner: Any) -> None:
    exchange, queue = entities()

    async def main() -> list[Any]:
        async with AsyncConnection('memory://', runner=runner()) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            consumer = AsyncConsumer(conn, [queue])
            await consumer.consume()
            await producer.publish('precious')
            held = await cancel_mid_message(consumer)
            assert not held.acknowledged
            again = AsyncConsumer(conn, [queue])
            message = await again.get(timeout=2)
            await message.ack()
            await again.close()
            return [message.payload, message.delivery_info.get('redelivered')]

    payload, _ = run(main())
    assert payload == 'precious'


def test_cancelled_get_loses_nothing() -> None:
    exchange, queue = entities()

    async def main() -> int:
        async with AsyncConnection('memory://', runner=ThreadRunner()) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            consumer = AsyncConsumer(conn, [queue])
            await consumer.consume()
            for i in range(20):
                await producer.publish(i)
            seen = await cancelled_gets(consumer, 200, idle=0.3)
            await consumer.close()
            assert sorted(seen) == list(range(20))
            return len(seen)

    assert run(main()) == 20


def test_callbacks_sync_and_async() -> None:
    exchange, queue = entities()
    got: list[Any] = []

    async def main() -> None:
        async with AsyncConnection('memory://') as conn:
            async def on_async(body: Any, message: Any) -> None:
                got.append(('async', body))
                await message.ack()

            consumer = AsyncConsumer(conn, [queue], callbacks=[
                lambda body, message: got.append(('sync', body)), on_async])
            await consumer.consume()
            await AsyncProducer(conn, exchange, routing_key=queue.routing_key).publish('x')
            await consumer.drain_events(timeout=2)
            await consumer.close()

    run(main())
    assert got == [('sync', 'x'), ('async', 'x')]


def test_reject_and_requeue() -> None:
    exchange, queue = entities()

    async def main() -> list[Any]:
        async with AsyncConnection('memory://') as conn:
            q = conn.SimpleQueue(queue)
            await q.put('a')
            await q.put('b')
            first = await q.get(timeout=1)
            await first.requeue()
            second = await q.get(timeout=1)
            await second.reject()
            third = await q.get(timeout=1)
            await third.ack()
            with pytest.raises(q.Empty):
                await q.get(timeout=0.05)
            await q.close()
            return [first.payload, second.payload, third.payload]

    # memory:// requeues at the head of the queue, as Kombu does
    assert sorted(run(main())) == ['a', 'a', 'b']


def test_corrupt_entry_reaches_awaited_on_decode_error(runner: Any) -> None:
    # A stored entry that is not an envelope is handed out, not raised past the
    # consumer; an async on_decode_error is awaited (it can await the ack).
    from kombu.exceptions import DecodeError
    exchange, queue = entities()
    errors: list[BaseException] = []

    async def on_decode_error(message: Any, exc: BaseException) -> None:
        errors.append(exc)
        await message.ack()

    async def main() -> list[Any]:
        got: list[Any] = []
        async with AsyncConnection('memory://', runner=runner()) as conn:
            consumer = AsyncConsumer(conn, [queue], on_decode_error=on_decode_error,
                                     callbacks=[lambda body, m: got.append(body)])
            await consumer.consume()
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            await producer.publish('before', serializer='json')
            channel = await conn.channel()
            channel.channel._put(queue.name, '{not json')
            await producer.publish('after', serializer='json')
            for _ in range(3):
                await consumer.drain_events(timeout=5)
            await consumer.close()
            return got

    got = run(main())
    assert got == ['before', 'after']
    assert len(errors) == 1 and isinstance(errors[0], DecodeError)
    with Connection('memory://') as sync:  # the corrupt one was acked; the others not
        assert sync.SimpleQueue(queue).qsize() == 2
