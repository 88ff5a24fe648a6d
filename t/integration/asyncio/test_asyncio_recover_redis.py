"""An ``AsyncConsumer`` on native redis:// recovers from a lost connection and
fails over to the next alternate URL; what it had not acked comes back on the
new connection (marked redelivered), nothing is lost, a settle of a message
from the lost connection does not ack its redelivered copy; ``publish(retry=True)``
fails over the same way.  A killed client loses nothing either, and its
acks still count: the server is the same.

The faults: a TCP proxy in front of the first URL shut down, and ``CLIENT
KILL`` of only this test's clients (by their ``client_name``).
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any, Iterator

import pytest

from kombu import Connection
from kombu.asyncio import AsyncConnection, AsyncConsumer, AsyncMessage, AsyncProducer
from t.integration.asyncio.losing import assert_only_unacked_twice, through_a_loss
from t.servers import StallingProxy, unique_name
from t.unit.asyncio.common import entities, run

pytestmark = pytest.mark.integration
POLICY = {'max_retries': 5, 'interval_start': 0, 'interval_step': 0.2, 'interval_max': 1}
N = 30
LOST = 'Consumer lost its connection'


@pytest.fixture
def rclient(redis_url: str) -> Iterator[Any]:
    """A plain client of the test's database (to read the unacked hash)."""
    import redis
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def remaining(url: str, queue: Any) -> int:
    with Connection(url) as conn:
        return int(conn.SimpleQueue(queue).qsize())


def test_consumer_recovers_and_fails_over(redis_url: str, rclient: Any,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, 'kombu.asyncio.recovery')
    exchange, queue = entities()
    with StallingProxy(6379) as proxy:
        first = redis_url.replace(':6379/', f':{proxy.port}/')

        async def main() -> tuple[list[tuple[int, bool]], int]:
            async with AsyncConnection(f'{first};{redis_url}') as conn, \
                    AsyncConnection(redis_url) as other:
                assert conn.sync.port == proxy.port
                producer = AsyncProducer(other, exchange, routing_key=queue.routing_key)
                consumer = AsyncConsumer(conn, [queue], prefetch_count=5, retry_policy=POLICY)

                async def recovered(stale: AsyncMessage) -> None:
                    # given back and taken again: its copy has the same tag, unacked
                    assert rclient.hexists('unacked', stale.delivery_tag)

                # the first server is gone for good
                seen = await through_a_loss(consumer, producer, N, [queue],
                                            lambda: asyncio.to_thread(proxy.close), recovered)
                await consumer.close()
                return seen, int(conn.sync.port)

        seen, port = run(main())
    assert port == 6379  # consuming through the second URL
    assert sorted(assert_only_unacked_twice(seen, N)) == [3, 4]
    assert sum(LOST in r.getMessage() for r in caplog.records) == 1
    assert remaining(redis_url, queue) == 0 and rclient.hlen('unacked') == 0


def test_publish_retry_fails_over(redis_url: str) -> None:
    exchange, queue = entities()
    errors: list[str] = []
    policy = dict(POLICY, errback=lambda exc, interval: errors.append(type(exc).__name__))
    with StallingProxy(6379) as proxy:
        first = redis_url.replace(':6379/', f':{proxy.port}/')

        async def main() -> int:
            async with AsyncConnection(f'{first};{redis_url}') as conn:
                producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
                await producer.publish(0, declare=[queue], retry=True, retry_policy=policy)
                await asyncio.to_thread(proxy.close)
                await producer.publish(1, declare=[queue], retry=True, retry_policy=policy)
                await producer.publish(2, declare=[queue], retry=True, retry_policy=policy)
                return int(conn.sync.port)

        assert run(main()) == 6379
    assert errors[:1] == ['RedisConnectionError']
    with Connection(redis_url) as conn:
        simple = conn.SimpleQueue(queue)
        got = [simple.get(timeout=5) for _ in range(3)]
        for message in got:
            message.ack()
        assert [m.payload for m in got] == [0, 1, 2] and simple.qsize() == 0


def kill_clients(client: Any, name: str) -> int:
    ids = [c['id'] for c in client.client_list() if c.get('name') == name]
    for client_id in ids:
        client.client_kill_filter(_id=client_id)
    return len(ids)


def test_killed_client_reconnects_and_loses_nothing(redis_url: str, rclient: Any) -> None:
    exchange, queue = entities()
    name = unique_name('aio-kill')
    seen: list[tuple[int, bool]] = []

    async def main() -> None:
        async with AsyncConnection(redis_url, transport_options={'client_name': name}) as conn, \
                AsyncConnection(redis_url) as other:
            producer = AsyncProducer(other, exchange, routing_key=queue.routing_key)
            for i in range(10):
                await producer.publish(i, declare=[queue])
            consumer = AsyncConsumer(conn, [queue], prefetch_count=5)
            held = [await consumer.get(timeout=10) for _ in range(3)]
            await held[0].ack()  # the connection kept for acks is killed too
            assert await asyncio.to_thread(kill_clients, rclient, name) >= 2
            for i in range(10, N):
                await producer.publish(i, declare=[queue])
            for message in held[1:]:  # on a new connection: good
                await message.ack()
            seen.extend((m.payload, False) for m in held)
            while len(seen) < N:
                message = await consumer.get(timeout=10)
                seen.append((message.payload, bool(message.delivery_info.get('redelivered'))))
                await message.ack()
            await consumer.close()

    run(main())
    counts = Counter(p for p, _ in seen)
    assert sorted(counts) == list(range(N))  # nothing lost
    # the acks are retried on a new connection: none met the kill
    assert all(times == 1 for times in counts.values())
    assert not any(flag for _, flag in seen)
    assert remaining(redis_url, queue) == 0 and rclient.hlen('unacked') == 0
