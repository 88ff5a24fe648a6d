"""The ``opentelemetry`` transport option on real brokers (Redis, RabbitMQ, SQS
on moto): publish on one connection, consume on another, sync and asyncio on
either side; the consumer span is a child of the publish span, attributes and
metrics as the semantic conventions say."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from t.integration.redis.servers import claim_db
from t.servers import require_server
from t.unit.asyncio.common import entities
from t.unit.otel.common import Telemetry, traced
from t.unit.otel.roundtrip import APIS, consume, delete_queue, publish

pytestmark = pytest.mark.integration
N = 5


@pytest.fixture(params=['redis', 'amqp', 'sqs'])
def broker(request: Any) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(URL, transport options, messaging.system)."""
    if request.param == 'amqp':
        require_server('RabbitMQ', '127.0.0.1', 5672, 'rabbitmq-server (see .ci/servers.d)')
        yield 'amqp://guest:guest@127.0.0.1:5672//', {}, 'rabbitmq'
    elif request.param == 'sqs':
        pytest.importorskip('boto3')
        from t.integration.test_conformance_sqs import OPTIONS, URL, ensure_moto
        ensure_moto()
        yield URL, dict(OPTIONS), 'aws_sqs'
    else:
        require_server('Redis', '127.0.0.1', 6379,
                       'redis-server --bind 127.0.0.1 --port 6379 --save ""')
        db, lock = claim_db()
        yield f'redis://127.0.0.1:6379/{db}', {}, 'redis'
        import redis
        redis.Redis(db=db).flushdb()
        lock.close()


@pytest.mark.parametrize('publisher', APIS)
@pytest.mark.parametrize('consumer', APIS)
def test_option_traces_across_connections(broker: tuple[str, dict[str, Any], str],
                                          publisher: str, consumer: str,
                                          option_telemetry: Telemetry) -> None:
    url, options, system = broker
    exchange, queue = entities()
    publish(publisher, url, traced(option_telemetry, **options), exchange, queue, N)
    try:
        got = consume(consumer, url, traced(option_telemetry, **options), queue, N)
    finally:
        delete_queue(url, options, queue)
    assert sorted(got) == list(range(N))
    option_telemetry.assert_linked(N, exchange.name, system=system, message_ids=True)
