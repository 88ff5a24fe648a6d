"""pgmq:// consumers waiting for messages: client-side polling, server-side long polls
(``wait_time_seconds``/``poll_interval_ms``) and LISTEN/NOTIFY (``use_notify``), against
the PGMQ at ``PGMQ_URL`` (``.ci/start-servers`` exports it).

Usage::

    python bench/bench_pgmq_wait.py [--messages 300] [--pings 10]

Per mode: publish-to-callback latency of messages sent one at a time to an idle consumer
(median and 90th percentile), the reads the consumer issues per second while idle, and
consume msg/s of a filled queue; the raw pgmq client's ``read`` + ``delete`` loop is the
baseline of the last column.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from t.integration.pgmq_reads import count_reads

BODY = {'task': 'proj.tasks.add', 'args': [2, 2], 'kwargs': {}}
BASE = {'init_extension': False}
MODES: dict[str, dict[str, Any]] = {
    'poll 1 s (old)': {'wait_time_seconds': 0, 'polling_interval': 1.0},
    'poll 0.1 s': {'wait_time_seconds': 0, 'polling_interval': 0.1},
    'long poll 100ms': {'wait_time_seconds': 10},
    'long poll 10ms': {'wait_time_seconds': 10, 'poll_interval_ms': 10},
    'notify 250ms': {'use_notify': True, 'wait_time_seconds': 10},
    'notify 0ms': {'use_notify': True, 'wait_time_seconds': 10,
                   'notify_throttle_interval_ms': 0},
}


def latency_and_idle(url: str, options: dict[str, Any], pings: int) -> tuple[float, float, float]:
    from kombu import Connection, Queue
    name = f'bench_wait_{uuid.uuid4().hex[:8]}'
    received: list[float] = []
    stop = threading.Event()
    with Connection(url, transport_options={**BASE, **options}) as consumer, \
            Connection(url, transport_options=BASE) as publisher:
        queue = Queue(name)
        queue(consumer.default_channel).declare()
        consumer.Consumer(queue, accept=['json'], callbacks=[
            lambda body, message: (received.append(time.perf_counter() - body['t']),
                                   message.ack())]).consume()
        counts = count_reads(consumer)

        def drain() -> None:
            while not stop.is_set():
                try:
                    consumer.drain_events(timeout=2.0)   # as Celery's worker loop
                except TimeoutError:
                    pass
        thread = threading.Thread(target=drain)
        thread.start()
        time.sleep(1.0)   # settle (LISTEN, first waits)
        idle_start, before = time.perf_counter(), sum(counts.values())
        time.sleep(2.0)
        idle = (sum(counts.values()) - before) / (time.perf_counter() - idle_start)
        producer = publisher.Producer()
        for _ in range(pings):
            producer.publish({**BODY, 't': time.perf_counter()}, routing_key=name,
                             serializer='json')
            time.sleep(0.3)
        deadline = time.monotonic() + 5
        while len(received) < pings and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        producer.publish({**BODY, 't': time.perf_counter()}, routing_key=name,
                         serializer='json')   # wakes the consumer to see stop
        thread.join()
        queue(publisher.default_channel).delete()
    ms = sorted(x * 1000 for x in received[:pings])
    return statistics.median(ms), ms[int(len(ms) * 0.9) - 1], idle


def consume_rate(url: str, options: dict[str, Any], n: int) -> float:
    from kombu import Connection, Queue
    name = f'bench_wait_{uuid.uuid4().hex[:8]}'
    with Connection(url, transport_options={**BASE, **options}) as conn:
        queue = Queue(name)
        queue(conn.default_channel).declare()
        producer = conn.Producer()
        for _ in range(n):
            producer.publish(BODY, routing_key=name, serializer='json')
        got = [0]
        conn.Consumer(queue, accept=['json'], callbacks=[
            lambda body, message: (got.__setitem__(0, got[0] + 1), message.ack())]).consume()
        start = time.perf_counter()
        while got[0] < n:
            conn.drain_events(timeout=10)
        rate = n / (time.perf_counter() - start)
        queue(conn.default_channel).delete()
    return rate


def raw_consume_rate(url: str, n: int) -> float:
    from urllib.parse import urlsplit

    from pgmq import PGMQueue
    parts = urlsplit(url)
    client = PGMQueue(host=parts.hostname or '127.0.0.1', port=str(parts.port or 5432),
                      database=parts.path.strip('/') or 'postgres',
                      username=parts.username or 'postgres', password=parts.password or '',
                      init_extension=False)
    name = f'raw_wait_{uuid.uuid4().hex[:8]}'
    client.create_queue(name)
    for _ in range(n):
        client.send(name, BODY)
    got, start = 0, time.perf_counter()
    while got < n:
        for record in client.read_with_poll(name, vt=30, qty=1, max_poll_seconds=1):
            client.delete(name, record.msg_id)
            got += 1
    rate = n / (time.perf_counter() - start)
    client.drop_queue(name)
    client.pool.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--messages', type=int, default=300)
    parser.add_argument('--pings', type=int, default=10)
    args = parser.parse_args()
    url = os.environ.get('PGMQ_URL')
    if not url:
        sys.exit('set PGMQ_URL (.ci/start-servers)')
    raw = raw_consume_rate(url, args.messages)
    print(f'raw pgmq read_with_poll + delete: {raw:.0f} msg/s')
    print(f'{"mode":<18}{"p50 ms":>8}{"p90 ms":>8}{"idle reads/s":>14}'
          f'{"consume msg/s":>15}{"vs raw":>8}')
    for mode, options in MODES.items():
        p50, p90, idle = latency_and_idle(url, options, args.pings)
        rate = consume_rate(url, options, args.messages)
        print(f'{mode:<18}{p50:>8.1f}{p90:>8.1f}{idle:>14.1f}{rate:>15.0f}{rate / raw:>8.2f}')


if __name__ == '__main__':
    main()
