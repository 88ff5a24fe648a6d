"""Toolkit overhead on memory://: this package next to upstream Kombu 5.7, same run.

Usage::

    python bench/bench_toolkit.py [--n 5000] [--calls 10] [--rounds 3]

Upstream runs this same file under the throw-away virtualenv of ``t/upstream.py``
(skipped with a note if it cannot be built).  Workloads:

simple-put-get
    ``SimpleQueue.put`` of ``n`` messages, then ``get(timeout=1)`` + ``ack`` of each
    (microseconds per message).
mixin-consume
    a ``ConsumerMixin`` consuming ``n`` pre-published messages (acked) until
    ``should_stop`` (microseconds per message).
pidbox-call
    ``Mailbox.call([node], 'ping')`` round trips to one node consuming in a thread
    (microseconds per call).  Upstream's memory transport sleeps its one-second
    polling interval whenever the caller finds the reply queue empty, so it
    measures about a second per call.

Medians of ``--rounds`` are printed.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BODY = {'task': 'proj.tasks.add', 'id': 'c2b9f1c4-5d3e-4a89-9b1e-bb1f1e8e0a11',
        'args': [2, 2], 'kwargs': {}, 'retries': 0, 'eta': None}


def _name(prefix: str) -> str:
    return f'{prefix}-{uuid.uuid4().hex[:8]}'


def simple_put_get(n: int) -> float:
    from kombu import Connection
    with Connection('memory://') as conn:
        with conn.SimpleQueue(_name('bench-simple')) as q:
            start = time.perf_counter()
            for _ in range(n):
                q.put(BODY)
            for _ in range(n):
                q.get(timeout=1).ack()
            return (time.perf_counter() - start) / n


def mixin_consume(n: int) -> float:
    from kombu import Connection, Exchange, Queue
    from kombu.mixins import ConsumerMixin
    name = _name('bench-mixin')
    queue = Queue(name, Exchange(name), routing_key=name)

    class Worker(ConsumerMixin):
        def __init__(self, connection):
            self.connection = connection
            self.seen = 0

        def get_consumers(self, Consumer, channel):
            return [Consumer([queue], callbacks=[self.on_message], prefetch_count=100)]

        def on_message(self, body, message):
            message.ack()
            self.seen += 1
            if self.seen >= n:
                self.should_stop = True

    with Connection('memory://') as conn:
        producer = conn.Producer()
        for _ in range(n):
            producer.publish(BODY, exchange=queue.exchange, routing_key=name,
                             declare=[queue])
        worker = Worker(conn)
        start = time.perf_counter()
        worker.run(safety_interval=0.1)
        return (time.perf_counter() - start) / n


def pidbox_call(calls: int) -> float:
    from kombu import Connection, pidbox
    mailbox = pidbox.Mailbox(_name('bench-ns'), type='fanout')
    node_conn = Connection('memory://')
    node = mailbox(node_conn).Node('bench@node', handlers={'ping': lambda state: 'pong'})
    ready, halt = threading.Event(), threading.Event()

    def serve():
        node.channel = node_conn.channel()
        with node.listen():
            ready.set()
            while not halt.is_set():
                try:
                    node_conn.drain_events(timeout=0.05)
                except socket.timeout:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        with Connection('memory://') as conn:
            bound = mailbox(conn)
            start = time.perf_counter()
            for _ in range(calls):
                reply = bound.call(['bench@node'], 'ping', timeout=5)
                assert reply == [{'bench@node': 'pong'}], reply
            return (time.perf_counter() - start) / calls
    finally:
        halt.set()
        thread.join(10)
        node_conn.release()


def measure(n: int, calls: int, rounds: int) -> dict:
    workloads = {'simple-put-get': (simple_put_get, n), 'mixin-consume': (mixin_consume, n),
                 'pidbox-call': (pidbox_call, calls)}
    results = {}
    for name, (fun, count) in workloads.items():
        fun(min(count, 5))  # warm up imports and caches
        results[name] = statistics.median(fun(count) for _ in range(rounds)) * 1e6
    return results


def upstream_results(n: int, calls: int, rounds: int) -> dict | None:
    sys.path.insert(0, ROOT)
    try:
        from t.upstream import upstream_python
        python = upstream_python()
    except BaseException as exc:  # pytest.skip raises an exception, too
        print(f'(upstream Kombu unavailable: {exc})', file=sys.stderr)
        return None
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    out = subprocess.run(
        [str(python), os.path.abspath(__file__), '--n', str(n), '--calls', str(calls),
         '--rounds', str(rounds), '--json'],
        cwd='/', env=env, capture_output=True, text=True, timeout=600)
    if out.returncode:
        print(out.stderr, file=sys.stderr)
        return None
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--n', type=int, default=5000)
    parser.add_argument('--calls', type=int, default=10)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--json', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:  # child mode: whatever kombu this interpreter imports
        print(json.dumps(measure(args.n, args.calls, args.rounds)))
        return
    sys.path.insert(0, ROOT)
    ours = measure(args.n, args.calls, args.rounds)
    theirs = upstream_results(args.n, args.calls, args.rounds) or {}
    print(f'{"workload":<16}{"this (us/op)":>14}{"upstream (us/op)":>20}{"ratio":>10}')
    for name, value in ours.items():
        other = theirs.get(name)
        ratio = f'{other / value:.2f}x' if other else '-'
        shown = f'{other:.1f}' if other else '-'
        print(f'{name:<16}{value:>14.1f}{shown:>20}{ratio:>10}')


if __name__ == '__main__':
    main()
