"""amqp:// publish and consume throughput: this package next to raw py-amqp.

Usage::

    python bench/bench_amqp.py [--messages 20000] [--rounds 5] [--upstream]

Each round runs every implementation once, in alternating order, against the
RabbitMQ on 127.0.0.1:5672; medians are printed.  ``--upstream`` also runs
upstream Kombu 5.7 from the throw-away virtualenv of ``t/upstream.py`` (this
same file, run by that virtualenv's Python, so it imports upstream).

Workloads (the shape of a Celery task message):

publish
    ``Producer.publish(dict, exchange=..., routing_key=..., declare=[queue])``
    with the json serializer; raw py-amqp sends an already-encoded body with
    the same properties (the baseline does no serialization).
consume
    a pre-filled queue is consumed with prefetch 100 and every message acked;
    Kombu decodes each body (json), raw py-amqp does not.

Raw py-amqp reads the socket before every publish (to notice
``connection.blocked``); this package's channel does that at most every 10 ms,
which is why its publish rate can exceed the raw baseline.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid

URL = 'amqp://guest:guest@127.0.0.1:5672//'
HOST = '127.0.0.1:5672'
BODY = {'task': 'proj.tasks.add', 'id': 'c2b9f1c4-5d3e-4a89-9b1e-bb1f1e8e0a11',
        'args': [2, 2], 'kwargs': {}, 'retries': 0, 'eta': None}
HEADERS = {'lang': 'py', 'task': 'proj.tasks.add', 'id': BODY['id']}


def _names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f'bench.x.{tag}', f'bench.q.{tag}'


# -- raw py-amqp


def raw_publish(n: int) -> float:
    import amqp
    ex, q = _names()
    conn = amqp.Connection(HOST)
    conn.connect()
    chan = conn.channel()
    chan.exchange_declare(ex, 'direct', durable=False, auto_delete=True)
    chan.queue_declare(q, durable=False, auto_delete=False)
    chan.queue_bind(q, ex, q)
    body = json.dumps(BODY).encode()
    start = time.perf_counter()
    for _ in range(n):
        msg = amqp.Message(body, content_type='application/json', content_encoding='utf-8',
                           application_headers=HEADERS, delivery_mode=2, priority=0)
        chan.basic_publish(msg, exchange=ex, routing_key=q)
    chan.queue_declare(q, passive=True)  # a round trip: everything was sent
    elapsed = time.perf_counter() - start
    chan.queue_delete(q)
    conn.close()
    return n / elapsed


def _fill(q: str, n: int) -> None:
    import amqp
    conn = amqp.Connection(HOST)
    conn.connect()
    chan = conn.channel()
    chan.queue_declare(q, durable=False, auto_delete=False)
    body = json.dumps(BODY).encode()
    for _ in range(n):
        chan.basic_publish(amqp.Message(body, content_type='application/json',
                                        content_encoding='utf-8',
                                        application_headers=HEADERS),
                           exchange='', routing_key=q)
    while chan.queue_declare(q, passive=True).message_count < n:
        time.sleep(0.01)
    conn.close()


def raw_consume(n: int) -> float:
    import amqp
    _, q = _names()
    _fill(q, n)
    conn = amqp.Connection(HOST)
    conn.connect()
    chan = conn.channel()
    chan.basic_qos(0, 100, False)
    count = [0]

    def on_message(message):
        count[0] += 1
        chan.basic_ack(message.delivery_tag)
    tag = chan.basic_consume(q, callback=on_message)
    start = time.perf_counter()
    while count[0] < n:
        conn.drain_events(timeout=5)
    elapsed = time.perf_counter() - start
    chan.basic_cancel(tag)
    chan.queue_delete(q)
    conn.close()
    return n / elapsed


# -- Kombu (ours, or upstream when run by the upstream virtualenv)


def kombu_publish(n: int) -> float:
    from kombu import Connection, Exchange, Producer, Queue
    ex_name, q_name = _names()
    ex = Exchange(ex_name, type='direct', durable=False, auto_delete=True)
    queue = Queue(q_name, ex, routing_key=q_name, durable=False)
    with Connection(URL) as conn:
        producer = Producer(conn)
        publish = producer.publish
        start = time.perf_counter()
        for _ in range(n):
            publish(BODY, exchange=ex, routing_key=q_name, declare=[queue], headers=HEADERS,
                    serializer='json')
        conn.default_channel.queue_declare(q_name, passive=True)
        elapsed = time.perf_counter() - start
        conn.default_channel.queue_delete(q_name)
    return n / elapsed


def kombu_consume(n: int) -> float:
    from kombu import Connection, Consumer, Queue
    _, q_name = _names()
    _fill(q_name, n)
    count = [0]

    def on_message(body, message):
        count[0] += 1
        message.ack()
    with Connection(URL) as conn:
        queue = Queue(q_name, durable=False)
        with Consumer(conn, [queue], callbacks=[on_message], prefetch_count=100):
            start = time.perf_counter()
            while count[0] < n:
                conn.drain_events(timeout=5)
            elapsed = time.perf_counter() - start
        conn.default_channel.queue_delete(q_name)
    return n / elapsed


WORKLOADS = {
    ('raw', 'publish'): raw_publish, ('raw', 'consume'): raw_consume,
    ('kombu', 'publish'): kombu_publish, ('kombu', 'consume'): kombu_consume,
}


def run_upstream(workload: str, n: int) -> float:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
    from t.upstream import upstream_python
    python = str(upstream_python())
    out = subprocess.run(
        [python, os.path.abspath(__file__), '--one', workload, '--messages', str(n)],
        cwd='/', capture_output=True, text=True, timeout=600,
        env={k: v for k, v in os.environ.items() if k != 'PYTHONPATH'})
    if out.returncode:
        raise RuntimeError(out.stderr)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--messages', type=int, default=20000)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--upstream', action='store_true')
    parser.add_argument('--one', help=argparse.SUPPRESS)  # used for the upstream subprocess
    args = parser.parse_args()
    if args.one:
        print(WORKLOADS['kombu', args.one](args.messages))
        return
    try:
        socket.create_connection(('127.0.0.1', 5672), timeout=2).close()
    except OSError:
        sys.exit('RabbitMQ is not listening on 127.0.0.1:5672 (bash .ci/start-servers)')
    import kombu
    impls = ['raw', 'ours'] + (['upstream'] if args.upstream else [])
    results: dict = {}
    for round_no in range(args.rounds):
        order = impls if round_no % 2 == 0 else impls[::-1]
        for workload in ('publish', 'consume'):
            for impl in order:
                if impl == 'upstream':
                    rate = run_upstream(workload, args.messages)
                else:
                    rate = WORKLOADS['raw' if impl == 'raw' else 'kombu', workload](
                        args.messages)
                results.setdefault((impl, workload), []).append(rate)
    print(f'amqp:// bench, {args.messages} messages x {args.rounds} rounds (medians, msg/s); '
          f'kombu from {os.path.dirname(kombu.__file__)}')
    print(f'{"workload":<10}' + ''.join(f'{impl:>12}' for impl in impls) + f'{"ours/raw":>10}')
    for workload in ('publish', 'consume'):
        medians = {impl: statistics.median(results[impl, workload]) for impl in impls}
        row = ''.join(f'{medians[impl]:>12,.0f}' for impl in impls)
        print(f'{workload:<10}{row}{medians["ours"] / medians["raw"]:>10.0%}')


if __name__ == '__main__':
    main()
