"""kombu.otel cost on memory://: publish + consume + ack msg/s with tracing
never enabled, enabled (SDK, in-memory exporter) and enabled then disabled
again, in the same run.

    python bench/bench_otel.py [-n 20000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kombu import Connection, Exchange, Queue, otel


def round_trips(n: int) -> float:
    name = f'bench-otel-{uuid.uuid4().hex[:8]}'
    exchange = Exchange(name, 'direct')
    queue = Queue(name, exchange, name)
    with Connection('memory://') as conn:
        producer = conn.Producer(exchange=exchange, routing_key=name)
        producer.publish('warm', declare=[queue])
        consumer = conn.Consumer([queue], callbacks=[lambda body, message: message.ack()])
        consumer.consume()
        conn.drain_events(timeout=1)
        start = time.perf_counter()
        for i in range(n):
            producer.publish(i)
            conn.drain_events(timeout=1)
        return n / (time.perf_counter() - start)


def best(n: int, repeat: int) -> float:
    return max(round_trips(n) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('-n', type=int, default=20000)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    off = best(args.n, args.repeat)
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.instrument(tracer_provider=provider, meter_provider=MeterProvider())
    on = best(args.n, args.repeat)
    otel.uninstrument()
    spans = len(exporter.get_finished_spans())
    exporter.clear()
    gc.collect()
    off_again = best(args.n, args.repeat)
    print(f'{"memory:// publish+consume+ack":34} {"msg/s":>10} {"vs off":>7}')
    for name, rate in (('tracing never enabled', off), ('kombu.otel enabled', on),
                       ('enabled, then uninstrument()', off_again)):
        print(f'{name:34} {rate:10,.0f} {rate / off:7.2f}')
    print(f'({spans} spans exported while enabled)')


if __name__ == '__main__':
    main()
