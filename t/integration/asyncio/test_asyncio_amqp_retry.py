"""``await producer.publish(..., retry=True)`` on native amqp:// when the
connection is lost: reconnect (also to the next alternate URL), publish again,
the message consumed exactly once; refused credentials are never retried.

The faults: a server-side ``rabbitmqctl close_connection`` of only this test's
connections (by their ``connection_name``) on the shared broker, and a TCP
proxy in front of it that is shut down.
"""
from __future__ import annotations

import asyncio
from typing import Iterator

import pytest

from kombu.asyncio import AsyncConnection, AsyncProducer
from kombu.exceptions import AccessRefused, OperationalError
from t.integration.asyncio.amqp_faults import closed, drain, lose_connection
from t.integration.rabbitmq.broker import amqp_url, private_vhost, rabbitmqctl
from t.servers import StallingProxy, unique_name
from t.unit.asyncio.common import entities, run

pytestmark = pytest.mark.integration
POLICY = {'max_retries': 5, 'interval_start': 0, 'interval_step': 0.2, 'interval_max': 1}


@pytest.fixture(scope='module')
def vhost() -> Iterator[str]:
    pytest.importorskip('aiormq')
    with private_vhost('aio-retry') as name:
        yield name


def test_publish_retry_reconnects_after_the_connection_is_closed(vhost: str) -> None:
    url = amqp_url(vhost)
    name = unique_name('aio-retry')
    exchange, queue = entities()
    errors: list[str] = []
    policy = dict(POLICY, errback=lambda exc, interval: errors.append(type(exc).__name__))

    async def main() -> None:
        async with AsyncConnection(url, transport_options={'connection_name': name}) as conn:
            channel = await conn.channel()
            producer = AsyncProducer(channel, exchange, routing_key=queue.routing_key)
            await producer.publish(0, declare=[queue], retry=True, retry_policy=policy)
            lost = await lose_connection(conn, name)
            with pytest.raises(OperationalError):  # without retry: the typed error
                await producer.publish(-1, declare=[queue])
            await producer.publish(1, declare=[queue], retry=True, retry_policy=policy)
            assert conn._amqp is not lost and channel.driver.connection is conn._amqp
            await producer.publish(2, declare=[queue], retry=True, retry_policy=policy)

    run(main())
    assert errors == ['ConnectionLost']  # one loss, one reconnect
    assert sorted(drain(url, queue)) == [0, 1, 2]


def test_publish_retry_fails_over_to_the_next_alternate(vhost: str) -> None:
    direct = amqp_url(vhost)
    name = unique_name('aio-failover')
    exchange, queue = entities()
    with StallingProxy(5672) as proxy:
        first = direct.replace(':5672/', f':{proxy.port}/')

        async def main() -> int:
            conn = AsyncConnection(f'{first};{direct}',
                                   transport_options={'connection_name': name})
            async with conn:
                assert conn.sync.port == proxy.port
                producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
                await producer.publish(0, declare=[queue], retry=True, retry_policy=POLICY)
                lost = conn._amqp
                await asyncio.to_thread(proxy.close)  # the first broker is gone for good
                await closed(lost)
                await producer.publish(1, declare=[queue], retry=True, retry_policy=POLICY)
                return int(conn.sync.port)

        assert run(main()) == 5672  # reconnected to the second URL
    assert sorted(drain(direct, queue)) == [0, 1]


def test_publish_retry_never_retries_refused_credentials(
        vhost: str, private_user: tuple[str, str]) -> None:
    user, url = private_user
    name = unique_name('aio-refused')
    exchange, queue = entities()
    errors: list[str] = []
    policy = dict(POLICY, max_retries=20,
                  errback=lambda exc, interval: errors.append(type(exc).__name__))

    async def main() -> None:
        async with AsyncConnection(url, transport_options={'connection_name': name}) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            await producer.publish(0, declare=[queue], retry=True, retry_policy=policy)
            await asyncio.to_thread(rabbitmqctl, 'change_password', user, 'second-password')
            await lose_connection(conn, name)
            with pytest.raises(AccessRefused):
                await producer.publish(1, declare=[queue], retry=True, retry_policy=policy)

    run(main())
    assert errors == ['ConnectionLost']  # the loss; the refused login is not retried
    assert drain(amqp_url(vhost), queue) == [0]
