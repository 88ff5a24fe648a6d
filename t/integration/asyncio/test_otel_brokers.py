"""kombu.otel on real Redis and RabbitMQ: the consumer span is a child of the
publish span across connections, sync -> asyncio and asyncio -> sync."""
from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from kombu import Connection
from kombu.asyncio import AsyncConnection, AsyncConsumer, AsyncProducer
from t.integration.redis.servers import claim_db
from t.servers import require_server
from t.unit.asyncio.common import entities, run, take
from t.unit.otel.common import Telemetry

pytestmark = pytest.mark.integration
N = 20


@pytest.fixture(params=['redis', 'amqp'])
def broker(request: Any) -> Iterator[tuple[str, str]]:
    if request.param == 'amqp':
        require_server('RabbitMQ', '127.0.0.1', 5672, 'rabbitmq-server (see .ci/servers.d)')
        yield 'amqp://guest:guest@127.0.0.1:5672//', 'rabbitmq'
        return
    require_server('Redis', '127.0.0.1', 6379,
                   'redis-server --bind 127.0.0.1 --port 6379 --save ""')
    db, lock = claim_db()
    yield f'redis://127.0.0.1:6379/{db}', 'redis'
    import redis
    redis.Redis(db=db).flushdb()
    lock.close()


def test_async_publish_sync_consume_linked(broker: tuple[str, str],
                                           telemetry: Telemetry) -> None:
    url, system = broker
    exchange, queue = entities()

    async def publish() -> None:
        async with AsyncConnection(url) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            for i in range(N):
                await producer.publish({'n': i}, declare=[queue])

    run(publish())
    got: list[Any] = []
    with Connection(url) as sync:
        with sync.Consumer([queue], callbacks=[
                lambda body, message: (got.append(body['n']), message.ack())]):
            while len(got) < N:
                sync.drain_events(timeout=5)
        queue(sync.default_channel).delete()
    assert sorted(got) == list(range(N))
    telemetry.assert_linked(N, exchange.name)
    assert {s.attributes['messaging.system'] for s in telemetry.spans('CONSUMER')} == {system}


def test_sync_publish_async_consume_linked(broker: tuple[str, str],
                                           telemetry: Telemetry) -> None:
    url, system = broker
    exchange, queue = entities()
    with Connection(url) as sync:
        producer = sync.Producer(exchange=exchange, routing_key=queue.routing_key)
        for i in range(N):
            producer.publish({'n': i}, declare=[queue])

    async def consume() -> list[Any]:
        async with AsyncConnection(url) as conn:
            got = await take(AsyncConsumer(conn, [queue], prefetch_count=5), N)
            await (await conn.channel()).run(lambda c: queue(c).delete(),
                                             conn.sync.default_channel)
            return got

    assert sorted(b['n'] for b in run(consume())) == list(range(N))
    telemetry.assert_linked(N, exchange.name)
    assert {s.attributes['messaging.system'] for s in telemetry.spans('PRODUCER')} == {system}


def test_native_publish_span_covers_broker_io(broker: tuple[str, str],
                                              telemetry: Telemetry) -> None:
    from kombu.exceptions import OperationalError
    url, _ = broker
    exchange, queue = entities()

    async def main() -> None:
        async with AsyncConnection(url) as conn:
            channel = await conn.channel()
            assert channel.driver is not None
            producer = AsyncProducer(channel, exchange, routing_key=queue.routing_key)
            await producer.publish('ok', declare=[queue])
            sent_at = time.time_ns()

            async def broken(*args: Any, **kwargs: Any) -> bool:
                raise OperationalError('broker gone')

            channel.driver.publish = broken
            with pytest.raises(OperationalError):
                await producer.publish('lost', declare=[queue])
            ok_span = telemetry.spans('PRODUCER')[0]
            assert ok_span.end_time <= sent_at
            await channel.run(lambda: queue(channel.channel).delete())

    run(main())
    spans = telemetry.spans('PRODUCER')
    assert [s.status.status_code.name for s in spans] == ['UNSET', 'ERROR']
    assert spans[1].events[0].name == 'exception'
    assert telemetry.metric('messaging.client.sent.messages') == 1
    assert telemetry.metric('messaging.client.operation.duration') == 2
