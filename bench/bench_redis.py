"""redis:// publish, consume and round-trip latency: this package next to raw redis-py.

Usage::

    python bench/bench_redis.py [--messages 20000] [--rounds 3] [--upstream]

Each round runs every implementation once, in turn, against the Redis on
127.0.0.1:6379 (database 15, flushed before and after); medians are printed.
``--upstream`` also runs upstream Kombu 5.7 from the throw-away virtualenv of
``t/upstream.py`` (this same file, run by that virtualenv's Python, so it
imports upstream).

Workloads (the shape of a Celery task message):

publish
    ``Producer.publish(dict, exchange=..., routing_key=...)`` through a direct
    exchange with the json serializer; raw redis-py LPUSHes an already
    encoded envelope of the same size (no serialization, no routing).
consume
    a pre-filled queue consumed with prefetch 100, every message acked;
    Kombu decodes each body, raw redis-py BRPOPs and does nothing else.
round trip
    publish one message and wait until the consumer got (and acked) it;
    raw redis-py: LPUSH then BRPOP.  p50 and p99 in milliseconds.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

URL = 'redis://127.0.0.1:6379/15'
BODY = {'task': 'proj.tasks.add', 'id': 'c2b9f1c4-5d3e-4a89-9b1e-bb1f1e8e0a11',
        'args': [2, 2], 'kwargs': {}, 'retries': 0, 'eta': None}


def _name() -> str:
    return f'bench.{uuid.uuid4().hex[:10]}'


def _envelope() -> bytes:
    body = json.dumps(BODY)
    return json.dumps({'body': body, 'content-encoding': 'utf-8',
                       'content-type': 'application/json', 'headers': {},
                       'properties': {'delivery_tag': str(uuid.uuid4()), 'priority': 0,
                                      'body_encoding': 'base64',
                                      'delivery_info': {'exchange': 'x', 'routing_key': 'q'},
                                      'delivery_mode': 2}}).encode()


# -- raw redis-py ------------------------------------------------------------------


def raw_publish(n: int) -> float:
    import redis
    r = redis.Redis.from_url(URL)
    q, env = _name(), _envelope()
    start = time.perf_counter()
    for _ in range(n):
        r.lpush(q, env)
    elapsed = time.perf_counter() - start
    r.delete(q)
    return n / elapsed


def raw_consume(n: int) -> float:
    import redis
    r = redis.Redis.from_url(URL)
    q, env = _name(), _envelope()
    for i in range(0, n, 1000):
        r.lpush(q, *[env] * min(1000, n - i))
    start = time.perf_counter()
    for _ in range(n):
        r.brpop(q, 1)
    return n / (time.perf_counter() - start)


def raw_roundtrip(n: int) -> list[float]:
    import redis
    r = redis.Redis.from_url(URL)
    q, env = _name(), _envelope()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        r.lpush(q, env)
        r.brpop(q, 1)
        samples.append(time.perf_counter() - t0)
    return samples


# -- Kombu (this package, or upstream when run by the upstream virtualenv) ----------


def _setup(conn, name):
    from kombu import Exchange, Queue
    exchange = Exchange(name, 'direct', durable=False)
    queue = Queue(name, exchange, name, durable=False)
    queue(conn.default_channel).declare()
    return exchange, queue


def kombu_publish(n: int) -> float:
    from kombu import Connection, Producer
    name = _name()
    with Connection(URL) as conn:
        exchange, queue = _setup(conn, name)
        producer = Producer(conn.default_channel, exchange, serializer='json')
        producer.publish(BODY, routing_key=name)  # warm up
        start = time.perf_counter()
        for _ in range(n):
            producer.publish(BODY, routing_key=name)
        elapsed = time.perf_counter() - start
        queue(conn.default_channel).delete()
    return n / elapsed


def kombu_consume(n: int) -> float:
    from kombu import Connection, Consumer, Producer
    name = _name()
    with Connection(URL) as conn:
        exchange, queue = _setup(conn, name)
        producer = Producer(conn.default_channel, exchange, serializer='json')
        for _ in range(n):
            producer.publish(BODY, routing_key=name)
        count = [0]

        def on_message(body, message):
            count[0] += 1
            message.ack()
        with Consumer(conn.channel(), [queue], callbacks=[on_message], prefetch_count=100):
            start = time.perf_counter()
            while count[0] < n:
                conn.drain_events(timeout=5)
            elapsed = time.perf_counter() - start
        queue(conn.default_channel).delete()
    return n / elapsed


def kombu_roundtrip(n: int) -> list[float]:
    from kombu import Connection, Consumer, Producer
    name = _name()
    samples = []
    with Connection(URL) as conn, Connection(URL) as pub:
        exchange, queue = _setup(conn, name)
        producer = Producer(pub.default_channel, exchange, serializer='json')
        count = [0]

        def on_message(body, message):
            count[0] += 1
            message.ack()
        with Consumer(conn.channel(), [queue], callbacks=[on_message], prefetch_count=10):
            for _ in range(n):
                t0 = time.perf_counter()
                expected = count[0] + 1
                producer.publish(BODY, routing_key=name)
                while count[0] < expected:
                    conn.drain_events(timeout=5)
                samples.append(time.perf_counter() - t0)
        queue(conn.default_channel).delete()
    return samples


def run_impl(impl: str, n: int) -> dict[str, float]:
    rt_n = max(200, n // 10)
    if impl == 'raw':
        pub, con, rt = raw_publish(n), raw_consume(n), raw_roundtrip(rt_n)
    else:
        pub, con, rt = kombu_publish(n), kombu_consume(n), kombu_roundtrip(rt_n)
    rt_ms = sorted(s * 1000 for s in rt)
    return {'publish': pub, 'consume': con, 'p50': statistics.median(rt_ms),
            'p99': rt_ms[int(len(rt_ms) * 0.99) - 1]}


def run_upstream(n: int) -> dict[str, float]:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from t.upstream import upstream_python
    python = upstream_python()
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    out = subprocess.run([str(python), os.path.abspath(__file__), '--child', 'kombu',
                          '--messages', str(n)], cwd='/', env=env, capture_output=True,
                         text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--messages', type=int, default=20000)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--upstream', action='store_true')
    parser.add_argument('--child', choices=['kombu', 'raw'])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_impl(args.child, args.messages)))
        return
    import redis

    import kombu
    redis.Redis.from_url(URL).flushdb()
    impls = ['raw', 'ours'] + (['upstream'] if args.upstream else [])
    results: dict[str, list[dict[str, float]]] = {i: [] for i in impls}
    for _ in range(args.rounds):
        for impl in impls:
            if impl == 'upstream':
                results[impl].append(run_upstream(args.messages))
            else:
                results[impl].append(run_impl('raw' if impl == 'raw' else 'kombu',
                                              args.messages))
    redis.Redis.from_url(URL).flushdb()
    print(f'redis:// benchmark, {args.messages} messages x {args.rounds} rounds (medians); '
          f'kombu from {os.path.dirname(kombu.__file__)}, redis-py {redis.__version__}')
    print(f'{"implementation":<16}{"publish/s":>12}{"consume/s":>12}'
          f'{"rt p50 ms":>12}{"rt p99 ms":>12}')
    for impl in impls:
        med = {k: statistics.median(r[k] for r in results[impl]) for k in results[impl][0]}
        print(f'{impl:<16}{med["publish"]:>12,.0f}{med["consume"]:>12,.0f}'
              f'{med["p50"]:>12.3f}{med["p99"]:>12.3f}')


if __name__ == '__main__':
    main()
