"""Producer/Consumer overhead: this package next to upstream Kombu 5.7, same run.

Usage::

    python bench/bench_publish.py [--n 20000] [--rounds 3]

Upstream runs this same file under the throw-away virtualenv of
``t/upstream.py`` (skipped with a note if it cannot be built). Workloads:

publish-null
    ``Producer.publish(dict, routing_key=..., declare=[queue])`` on a channel
    whose ``basic_publish`` does nothing: the library's own per-publish cost
    (serialization, properties, declaration cache, no entity copies).
publish-memory
    the same through ``memory://``.
consume-memory
    ``n`` messages published then consumed (decoded, acked) from ``memory://``.

Medians of ``--rounds`` are printed in microseconds per message.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BODY = {'task': 'proj.tasks.add', 'id': 'c2b9f1c4-5d3e-4a89-9b1e-bb1f1e8e0a11',
        'args': [2, 2], 'kwargs': {}, 'retries': 0, 'eta': None}


class _Client:
    def __init__(self) -> None:
        self.declared_entities: set = set()


class _Conn:
    def __init__(self) -> None:
        self.client = _Client()


class NullChannel:
    """Accepts everything and sends nothing."""

    def __init__(self) -> None:
        self.connection = _Conn()
        self.events: dict = {'basic_return': set()}

    def prepare_queue_arguments(self, arguments, **kwargs):
        return arguments

    def prepare_message(self, body, priority=None, content_type=None,
                        content_encoding=None, headers=None, properties=None):
        return body

    def basic_publish(self, message, **kwargs):
        return None

    def exchange_declare(self, **kwargs):
        return None

    def queue_declare(self, **kwargs):
        return kwargs.get('queue'), 0, 0

    def queue_bind(self, **kwargs):
        return None


def publish_null(n: int) -> float:
    from kombu import Exchange, Producer, Queue
    exchange = Exchange('bench-ex', 'direct')
    queue = Queue('bench-q', exchange, 'rk')
    producer = Producer(NullChannel(), exchange=exchange)
    publish = producer.publish
    start = time.perf_counter()
    for _ in range(n):
        publish(BODY, routing_key='rk', declare=[queue], headers={'task': 'add'})
    return time.perf_counter() - start


def publish_memory(n: int) -> float:
    from kombu import Connection, Exchange, Producer, Queue
    with Connection('memory://') as conn:
        exchange = Exchange('bench-mem', 'direct')
        queue = Queue('bench-mem-q', exchange, 'rk')
        producer = Producer(conn, exchange=exchange)
        start = time.perf_counter()
        for _ in range(n):
            producer.publish(BODY, routing_key='rk', declare=[queue])
        elapsed = time.perf_counter() - start
        queue.bind(conn.default_channel).purge()
    return elapsed


def consume_memory(n: int) -> float:
    from kombu import Connection, Consumer, Exchange, Producer, Queue
    with Connection('memory://') as conn:
        exchange = Exchange('bench-cons', 'direct')
        queue = Queue('bench-cons-q', exchange, 'rk')
        producer = Producer(conn, exchange=exchange)
        for _ in range(n):
            producer.publish(BODY, routing_key='rk', declare=[queue])
        seen = [0]

        def on_message(body, message):
            seen[0] += 1
            message.ack()
        start = time.perf_counter()
        with Consumer(conn, [queue], callbacks=[on_message], prefetch_count=100):
            while seen[0] < n:
                conn.drain_events(timeout=5)
        return time.perf_counter() - start


WORKLOADS = {'publish-null': publish_null, 'publish-memory': publish_memory,
             'consume-memory': consume_memory}


def measure(n: int, rounds: int) -> dict:
    results = {}
    for name, fun in WORKLOADS.items():
        fun(min(n, 1000))  # warm up imports and caches
        times = [fun(n) for _ in range(rounds)]
        results[name] = statistics.median(times) / n * 1e6
    return results


def upstream_results(n: int, rounds: int) -> dict | None:
    sys.path.insert(0, ROOT)
    try:
        from t.upstream import upstream_python
        python = upstream_python()
    except BaseException as exc:  # pytest.skip raises an exception, too
        print(f'(upstream Kombu unavailable: {exc})', file=sys.stderr)
        return None
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    out = subprocess.run(
        [str(python), os.path.abspath(__file__), '--n', str(n), '--rounds', str(rounds),
         '--json'], cwd='/', env=env, capture_output=True, text=True, timeout=600)
    if out.returncode:
        print(out.stderr, file=sys.stderr)
        return None
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--n', type=int, default=20000)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--json', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:  # child mode: whatever kombu this interpreter imports
        print(json.dumps(measure(args.n, args.rounds)))
        return
    sys.path.insert(0, ROOT)
    ours = measure(args.n, args.rounds)
    theirs = upstream_results(args.n, args.rounds) or {}
    print(f'{"workload":<16}{"this (us/msg)":>16}{"upstream (us/msg)":>20}{"ratio":>8}')
    for name, value in ours.items():
        other = theirs.get(name)
        ratio = f'{other / value:.2f}x' if other else '-'
        shown = f'{other:.2f}' if other else '-'
        print(f'{name:<16}{value:>16.2f}{shown:>20}{ratio:>8}')


if __name__ == '__main__':
    main()
