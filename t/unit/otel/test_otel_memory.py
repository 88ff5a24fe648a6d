"""kombu.otel on memory://: spans linked across connections, sync and asyncio."""
from __future__ import annotations

import json

from kombu import Connection, serialization
from kombu.asyncio import AsyncConnection, AsyncConsumer, AsyncProducer
from kombu.message import hooks
from kombu.otel import instrument, is_instrumented, uninstrument
from t.unit.asyncio.common import entities, run, take
from t.unit.otel.common import Telemetry


def test_sync_consumer_continues_producer_trace(telemetry: Telemetry) -> None:
    exchange, queue = entities()
    with Connection('memory://') as conn:
        producer = conn.Producer(exchange=exchange, routing_key=queue.routing_key)
        for i in range(5):
            producer.publish({'n': i}, declare=[queue], headers={'mine': 1})
    got = []
    with Connection('memory://') as conn:
        with conn.Consumer([queue], callbacks=[
                lambda body, message: (got.append(body), message.ack())]):
            while len(got) < 5:
                conn.drain_events(timeout=1)
    telemetry.assert_linked(5, exchange.name)
    assert telemetry.spans('PRODUCER')[0].attributes['messaging.system'] == 'memory'


def test_async_producer_to_async_consumer(telemetry: Telemetry) -> None:
    exchange, queue = entities()

    async def main() -> list:
        async with AsyncConnection('memory://') as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue.routing_key)
            for i in range(4):
                await producer.publish(i, declare=[queue])
        async with AsyncConnection('memory://') as other:
            return await take(AsyncConsumer(other, [queue]), 4)

    assert sorted(run(main())) == [0, 1, 2, 3]
    telemetry.assert_linked(4, exchange.name)


def test_caller_headers_untouched_and_off_means_no_hooks() -> None:
    assert not is_instrumented()
    assert not any(getattr(hooks, e) for e in hooks.EVENTS)
    t = Telemetry()
    instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    try:
        headers = {'a': 1}
        exchange, queue = entities()
        with Connection('memory://') as conn:
            conn.Producer().publish('x', exchange=exchange, routing_key=queue.routing_key,
                                    declare=[queue], headers=headers)
            message = conn.SimpleQueue(queue).get(timeout=1)
            assert 'traceparent' in message.headers
            message.ack()
        assert headers == {'a': 1}  # the trace context went into the message's copy
    finally:
        uninstrument()
    assert not any(getattr(hooks, e) for e in hooks.EVENTS)


def test_body_size_counts_encoded_bytes_not_characters(telemetry: Telemetry) -> None:
    # a serializer whose text keeps non-ASCII characters: a str body
    serialization.register('json-unicode', lambda o: json.dumps(o, ensure_ascii=False),
                           json.loads, 'application/x-json-unicode', 'utf-8')
    exchange, queue = entities()
    body = {'text': 'grüße, 東京 🚀'}
    try:
        with Connection('memory://') as conn:
            producer = conn.Producer(exchange=exchange, routing_key=queue.routing_key)
            producer.publish(body, declare=[queue], serializer='json-unicode')
            got = []
            with conn.Consumer([queue], accept=['json-unicode'], callbacks=[
                    lambda payload, message: (got.append(payload), message.ack())]):
                conn.drain_events(timeout=1)
            assert got == [body]
    finally:
        serialization.unregister('json-unicode')
    text = json.dumps(body, ensure_ascii=False)
    assert len(text.encode('utf-8')) > len(text)
    for kind in ('PRODUCER', 'CONSUMER'):
        [span] = telemetry.spans(kind)
        assert span.attributes['messaging.message.body.size'] == len(text.encode('utf-8'))
