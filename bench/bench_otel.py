"""kombu.otel cost on memory://: publish + consume + ack msg/s with tracing
never enabled, enabled (SDK, in-memory exporter) for every connection, for
one connection by the ``opentelemetry`` transport option (that connection,
and another one without the option), and enabled then disabled again, in the
same run.

    python bench/bench_otel.py [-n 20000] [--repeat 5] [--cpu]

``--cpu`` times with the process's CPU clock, which other load on a shared
machine disturbs less than the wall clock.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kombu import Connection, Exchange, Queue, otel

#: the clock rates are measured with (``--cpu``: process CPU time)
clock = time.perf_counter


def round_trips(n: int, options: dict[str, Any] | None = None) -> float:
    name = f'bench-otel-{uuid.uuid4().hex[:8]}'
    exchange = Exchange(name, 'direct')
    queue = Queue(name, exchange, name)
    with Connection('memory://', transport_options=options) as conn:
        producer = conn.Producer(exchange=exchange, routing_key=name)
        producer.publish('warm', declare=[queue])
        consumer = conn.Consumer([queue], callbacks=[lambda body, message: message.ack()])
        consumer.consume()
        conn.drain_events(timeout=1)
        start = clock()
        for i in range(n):
            producer.publish(i)
            conn.drain_events(timeout=1)
        return n / (clock() - start)


def best(n: int, repeat: int, options: dict[str, Any] | None = None) -> float:
    return max(round_trips(n, options) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('-n', type=int, default=20000)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--cpu', action='store_true', help='time with process CPU time')
    args = parser.parse_args()
    if args.cpu:
        global clock
        clock = time.process_time
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    round_trips(args.n)  # warm-up: the first round pays for imports and caches
    off = best(args.n, args.repeat)
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.instrument(tracer_provider=provider, meter_provider=MeterProvider())
    on = best(args.n, args.repeat)
    otel.uninstrument()
    spans = len(exporter.get_finished_spans())
    exporter.clear()
    traced = {'opentelemetry': {'tracer_provider': provider,
                                'meter_provider': MeterProvider()}}
    option_on = best(args.n, args.repeat, traced)
    # hooks stay registered (filtering by connection): an untraced connection's cost
    option_other = best(args.n, args.repeat)
    otel.uninstrument()
    spans += len(exporter.get_finished_spans())
    exporter.clear()
    gc.collect()
    off_again = best(args.n, args.repeat)
    print(f'{"memory:// publish+consume+ack":44} {"msg/s":>10} {"vs off":>7}')
    for name, rate in (('tracing never enabled', off), ('kombu.otel.instrument()', on),
                       ('transport option on this connection', option_on),
                       ('option on another connection, not this', option_other),
                       ('enabled, then uninstrument()', off_again)):
        print(f'{name:44} {rate:10,.0f} {rate / off:7.2f}')
    print(f'({spans} spans exported while enabled)')


if __name__ == '__main__':
    main()
