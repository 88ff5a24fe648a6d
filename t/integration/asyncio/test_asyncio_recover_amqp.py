"""An ``AsyncConsumer`` on native amqp:// recovers from a lost connection:
reconnects (also to the next alternate URL), declares its entities again,
sets its prefetch again and resumes; what it had not acked is redelivered,
nothing is lost, a settle of a message from the lost connection acks nothing
on the new one; refused credentials are never retried.

The faults: ``rabbitmqctl close_connection`` of only this test's connections
(by ``connection_name``), and a TCP proxy in front of the first URL shut down.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Iterator

import pytest

from kombu.asyncio import AsyncConnection, AsyncConsumer, AsyncMessage, AsyncProducer
from kombu.exceptions import AccessRefused, OperationalError
from t.integration.asyncio.amqp_faults import closed, drain, lose_connection
from t.integration.asyncio.losing import assert_only_unacked_twice, through_a_loss
from t.integration.rabbitmq.broker import (
    amqp_url,
    private_vhost,
    rabbitmqctl,
    rabbitmqctl_json,
)
from t.servers import StallingProxy, unique_name
from t.unit.asyncio.common import entities, run

pytestmark = pytest.mark.integration
POLICY = {'max_retries': 5, 'interval_start': 0, 'interval_step': 0.2, 'interval_max': 1}
N = 30
LOST = 'Consumer lost its connection'


@pytest.fixture(scope='module')
def vhost() -> Iterator[str]:
    pytest.importorskip('aiormq')
    with private_vhost('aio-recover') as name:
        yield name


def losses(caplog: pytest.LogCaptureFixture) -> int:
    return sum(LOST in r.getMessage() for r in caplog.records)


def consumer_prefetch(vhost: str, queue: str) -> list[int]:
    rows = rabbitmqctl_json('list_consumers', '-p', vhost, 'queue_name', 'prefetch_count')
    return [int(row['prefetch_count']) for row in rows if row['queue_name'] == queue]


@pytest.mark.parametrize('native', [True, False], ids=['native', 'adapter'])
def test_consumer_recovers_after_the_connection_is_closed(
        vhost: str, native: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, 'kombu.asyncio.recovery')
    url = amqp_url(vhost)
    name = unique_name('aio-recover')
    exchange, queue = entities()

    async def main() -> list[tuple[int, bool]]:
        async with AsyncConnection(url, transport_options={'connection_name': name},
                                   native=native) as conn, \
                AsyncConnection(url) as other:
            producer = AsyncProducer(other, exchange, routing_key=queue.routing_key)
            consumer = AsyncConsumer(conn, [queue], prefetch_count=5, retry_policy=POLICY)

            async def recovered(stale: AsyncMessage) -> None:
                if native:  # basic.consume again, with its basic.qos
                    assert await asyncio.to_thread(consumer_prefetch, vhost, queue.name) == [5]

            seen = await through_a_loss(consumer, producer, N, [queue],
                                        lambda: lose_connection(conn, name), recovered)
            await consumer.close()
            return seen

    redelivered = assert_only_unacked_twice(run(main()), N)
    # also those the broker had pushed and the consumer not handed out yet
    assert set(redelivered) <= set(range(3, 10))
    assert losses(caplog) == 1  # a stale ack acking another tag would close the channel
    assert drain(url, queue) == []


def test_a_producer_retry_recovers_the_channel_it_shares_with_a_consumer(
        vhost: str, caplog: pytest.LogCaptureFixture) -> None:
    """The consumer never saw the loss: its held messages are stale all the same."""
    caplog.set_level(logging.WARNING, 'kombu.asyncio.recovery')
    url = amqp_url(vhost)
    name = unique_name('aio-shared')
    exchange, queue = entities()
    seen: list[int] = []

    async def main() -> None:
        async with AsyncConnection(url, transport_options={'connection_name': name}) as conn:
            channel = await conn.channel()
            producer = AsyncProducer(channel, exchange, routing_key=queue.routing_key)
            for i in range(5):
                await producer.publish(i, declare=[queue])
            consumer = AsyncConsumer(channel, [queue], prefetch_count=3)
            held = [await consumer.get(timeout=10) for _ in range(2)]
            await lose_connection(conn, name)
            for i in range(5, 10):
                await producer.publish(i, declare=[queue], retry=True, retry_policy=POLICY)
            assert all(m.stale for m in held)
            for message in held:  # tags 1, 2 on the new channel are others'
                await message.ack()
            while len(set(seen)) < 10:
                message = await consumer.get(timeout=10)
                seen.append(message.payload)
                await message.ack()
            await consumer.close()

    run(main())
    assert sorted(seen) == list(range(10))  # the two held once more, nothing else
    assert not any(LOST in r.getMessage() for r in caplog.records)  # the channel held up
    assert drain(url, queue) == []


def test_consumer_fails_over_and_declares_on_the_next_broker(vhost: str) -> None:
    """The callbacks path (``run()``); the second URL is a vhost without the
    queue: only the consumer's own declare (exchange, queue, binding) makes
    the messages published there without declaring reach it."""
    name = unique_name('aio-failover')
    exchange, queue = entities()
    got: list[int] = []
    done = asyncio.Event()

    async def handle(body: int, message: AsyncMessage) -> None:
        got.append(body)
        await message.ack()
        if len(got) == N:
            done.set()

    with private_vhost('aio-recover-b') as second, StallingProxy(5672) as proxy:
        first = amqp_url(vhost).replace(':5672/', f':{proxy.port}/')

        async def main() -> int:
            async with AsyncConnection(f'{first};{amqp_url(second)}',
                                       transport_options={'connection_name': name}) as conn, \
                    AsyncConnection(amqp_url(vhost)) as one, \
                    AsyncConnection(amqp_url(second)) as two:
                consumer = AsyncConsumer(conn, [queue], callbacks=[handle], prefetch_count=10,
                                         retry_policy=POLICY)
                producer = AsyncProducer(one, exchange, routing_key=queue.routing_key)
                for i in range(10):
                    await producer.publish(i, declare=[queue])
                task = asyncio.ensure_future(consumer.run())
                while len(got) < 10:
                    await asyncio.sleep(0.01)
                lost = conn._amqp
                await asyncio.to_thread(proxy.close)  # the first broker is gone for good
                await closed(lost)
                await asyncio.to_thread(wait_bound, second, queue.name)
                producer = AsyncProducer(two, exchange, routing_key=queue.routing_key,
                                         auto_declare=False)
                for i in range(10, N):
                    await producer.publish(i)
                await asyncio.wait_for(done.wait(), 20)
                await consumer.close()
                await task
                return int(conn.sync.port)

        assert run(main()) == 5672  # consuming from the second URL
        assert sorted(got) == list(range(N))
        assert drain(amqp_url(second), queue) == []
    assert drain(amqp_url(vhost), queue) == []


def wait_settled(vhost: str, queue: str, timeout: float = 20) -> None:
    """Until ``queue`` in ``vhost`` has no message ready or unacknowledged."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = rabbitmqctl_json('list_queues', '-p', vhost, 'name', 'messages_ready',
                                'messages_unacknowledged')
        if any(r['name'] == queue and not r['messages_ready']
               and not r['messages_unacknowledged'] for r in rows):
            return
        time.sleep(0.2)
    raise AssertionError(f'the messages of {queue} in {vhost} were not all acked')


def wait_bound(vhost: str, queue: str, timeout: float = 20) -> None:
    """Until ``queue`` is bound in ``vhost`` (the consumer declared it there)."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = rabbitmqctl_json('list_bindings', '-p', vhost, 'source_name',
                                'destination_name')
        if any(r['destination_name'] == queue and r['source_name'] for r in rows):
            return
        time.sleep(0.2)
    raise AssertionError(f'{queue} was not declared and bound in {vhost}')


def test_consumer_without_recover_raises(vhost: str) -> None:
    url = amqp_url(vhost)
    name = unique_name('aio-norecover')
    exchange, queue = entities()

    async def main() -> None:
        async with AsyncConnection(url, transport_options={'connection_name': name}) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            await producer.publish(0, declare=[queue])
            consumer = AsyncConsumer(conn, [queue], recover=False)
            message = await consumer.get(timeout=10)
            await lose_connection(conn, name)
            with pytest.raises(OperationalError):
                await message.ack()
            with pytest.raises(OperationalError):
                await consumer.get(timeout=10)
            await consumer.close()  # on a lost connection: nothing to give back

    run(main())
    assert drain(url, queue) == [0]  # the unacked message came back


def test_consumer_never_retries_refused_credentials(
        vhost: str, private_user: tuple[str, str]) -> None:
    user, url = private_user
    name = unique_name('aio-refused')
    exchange, queue = entities()
    errors: list[Any] = []
    policy = dict(POLICY, max_retries=20, errback=lambda exc, interval: errors.append(exc))

    async def main() -> None:
        async with AsyncConnection(url, transport_options={'connection_name': name}) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            await producer.publish(0, declare=[queue])
            consumer = AsyncConsumer(conn, [queue], retry_policy=policy)
            assert (await consumer.get(timeout=10)).payload == 0
            await asyncio.to_thread(rabbitmqctl, 'change_password', user, 'second-password')
            await lose_connection(conn, name)
            with pytest.raises(AccessRefused):
                await consumer.get(timeout=10)

    run(main())
    assert errors == []  # refused at the first attempt, not retried
    assert drain(amqp_url(vhost), queue) == [0]
