"""memory:// throughput and latency: this package next to upstream Kombu 5.7, same run.

Usage::

    python bench/bench_memory.py [--n 20000] [--rounds 3] [--repeat 3] [--no-upstream]
    python bench/bench_memory.py --worker [--n 20000] [--repeat 3]   # JSON out
    python bench/bench_memory.py --baseline-tree /tmp/before [--cpu]  # a change, before/after

``--baseline-tree DIR`` compares with another source tree of this package (e.g.
``git archive <rev> | tar -x -C DIR``) instead of upstream, the same workloads
run by this file under each tree.  ``--cpu`` times with ``time.process_time``:
on a machine shared with other work, CPU time varies far less than wall time.

Each round runs this same file as a worker process under this package and
under upstream Kombu (the throw-away virtualenv of ``t/upstream.py``), in
alternating order.  A worker runs each workload ``--repeat`` times and keeps
the best (the run least disturbed by other load); medians over the rounds are
printed, and the ratio is the median of the per-round ratios.  Only public Kombu API is used, so
both can run it.

Workloads (a Celery-shaped task message, json serializer):

publish
    ``Producer.publish`` to a direct exchange with one bound queue.
consume
    a pre-filled queue consumed by a ``Consumer`` (decode + ack each message).
roundtrip
    publish one message, drain it, repeat: p50 latency in microseconds.
fanout
    publish to a fanout exchange with 4 bound queues (messages/s published).
topic
    publish to a topic exchange with 20 wildcard bindings, 5 routing keys.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BODY = {'task': 'proj.tasks.add', 'id': 'c2b9f1c4-5d3e-4a89-9b1e-bb1f1e8e0a11',
        'args': [2, 2], 'kwargs': {}, 'retries': 0, 'eta': None}
HEADERS = {'lang': 'py', 'task': 'proj.tasks.add'}


def _name(kind: str) -> str:
    return f'bench.{kind}.{uuid.uuid4().hex[:8]}'


def _rate(n: int, elapsed: float) -> float:
    return n / elapsed if elapsed else float('inf')


def bench_publish(n: int) -> float:
    from kombu import Connection, Exchange, Queue
    with Connection('memory://') as conn:
        exchange = Exchange(_name('x'), 'direct')
        queue = Queue(_name('q'), exchange, routing_key='rk')
        producer = conn.Producer()
        producer.publish(BODY, exchange=exchange, routing_key='rk', declare=[queue])
        start = time.perf_counter()
        for _ in range(n):
            producer.publish(BODY, exchange=exchange, routing_key='rk', headers=HEADERS,
                             serializer='json')
        elapsed = time.perf_counter() - start
        queue(conn.default_channel).delete()
    return _rate(n, elapsed)


def bench_consume(n: int) -> float:
    from kombu import Connection, Exchange, Queue
    with Connection('memory://') as conn:
        exchange = Exchange(_name('x'), 'direct')
        queue = Queue(_name('q'), exchange, routing_key='rk')
        producer = conn.Producer()
        producer.publish(BODY, exchange=exchange, routing_key='rk', declare=[queue])
        for _ in range(n - 1):
            producer.publish(BODY, exchange=exchange, routing_key='rk', headers=HEADERS,
                             serializer='json')
        got = [0]

        def on_message(body, message):
            got[0] += 1
            message.ack()

        with conn.Consumer([queue], callbacks=[on_message], accept=['json']):
            start = time.perf_counter()
            while got[0] < n:
                conn.drain_events(timeout=5)
            elapsed = time.perf_counter() - start
        queue(conn.default_channel).delete()
    return _rate(n, elapsed)


def bench_roundtrip(n: int) -> float:
    """p50 microseconds from publish to the consumer callback, one at a time."""
    from kombu import Connection, Exchange, Queue
    n = max(n // 4, 100)
    with Connection('memory://') as conn:
        exchange = Exchange(_name('x'), 'direct')
        queue = Queue(_name('q'), exchange, routing_key='rk')
        producer = conn.Producer()
        done = []
        samples = []

        def on_message(body, message):
            message.ack()
            done.append(1)

        with conn.Consumer([queue], callbacks=[on_message], accept=['json']):
            for _ in range(n):
                start = time.perf_counter()
                producer.publish(BODY, exchange=exchange, routing_key='rk', declare=[queue],
                                 headers=HEADERS, serializer='json')
                conn.drain_events(timeout=5)
                samples.append(time.perf_counter() - start)
        queue(conn.default_channel).delete()
    assert len(done) == n
    return statistics.median(samples) * 1e6


def bench_fanout(n: int) -> float:
    from kombu import Connection, Exchange, Queue
    n = max(n // 4, 100)
    with Connection('memory://') as conn:
        exchange = Exchange(_name('fan'), 'fanout')
        queues = [Queue(_name('q'), exchange) for _ in range(4)]
        producer = conn.Producer()
        producer.publish(BODY, exchange=exchange, declare=queues)
        start = time.perf_counter()
        for _ in range(n):
            producer.publish(BODY, exchange=exchange, headers=HEADERS, serializer='json')
        elapsed = time.perf_counter() - start
        channel = conn.default_channel
        sizes = [q(channel).queue_declare(passive=True).message_count for q in queues]
        assert sizes == [n + 1] * 4, sizes
        for q in queues:
            q(channel).delete()
    return _rate(n, elapsed)


def bench_topic(n: int) -> float:
    from kombu import Connection, Exchange, Queue
    with Connection('memory://') as conn:
        exchange = Exchange(_name('topic'), 'topic')
        queues = [Queue(_name('q'), exchange, routing_key=f'{region}.{kind}.#')
                  for region in ('usd', 'eur', 'gbp', 'jpy', '*')
                  for kind in ('stock', 'bond', 'fx', 'option')]
        keys = ['usd.stock.nasdaq', 'eur.bond.x', 'gbp.fx', 'jpy.option.a.b', 'chf.stock']
        producer = conn.Producer()
        producer.publish(BODY, exchange=exchange, routing_key='none', declare=queues)
        start = time.perf_counter()
        for i in range(n):
            producer.publish(BODY, exchange=exchange, routing_key=keys[i % 5],
                             headers=HEADERS, serializer='json')
        elapsed = time.perf_counter() - start
        for q in queues:
            q(conn.default_channel).delete()
    return _rate(n, elapsed)


WORKLOADS = {
    'publish': ('msg/s', bench_publish),
    'consume': ('msg/s', bench_consume),
    'roundtrip p50': ('us', bench_roundtrip),
    'fanout (4 queues)': ('msg/s', bench_fanout),
    'topic (20 bindings)': ('msg/s', bench_topic),
}


def worker(n: int, repeat: int = 1, cpu: bool = False) -> None:
    # Best of ``repeat`` runs: the least disturbed by other load on the machine
    # (both packages get the same treatment).
    if cpu:  # every workload reads the clock through time.perf_counter
        time.perf_counter = time.process_time
    result = {}
    for name, (unit, fun) in WORKLOADS.items():
        runs = [fun(n) for _ in range(repeat)]
        result[name] = min(runs) if unit == 'us' else max(runs)
    print(json.dumps(result))


def run_worker(python: str, n: int, root: str | None, repeat: int = 1,
               cpu: bool = False) -> dict:
    """Run the workloads with the package of source tree ``root`` (None: upstream's)."""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    if root is not None:
        env['PYTHONPATH'] = root
    proc = subprocess.run([python, os.path.abspath(__file__), '--worker', '--n', str(n),
                           '--repeat', str(repeat)] + (['--cpu'] if cpu else []),
                          cwd=root or '/', env=env, capture_output=True,
                          text=True, timeout=600)
    if proc.returncode:
        raise SystemExit(f'worker failed ({python}):\n{proc.stderr}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def upstream_python() -> str | None:
    sys.path.insert(0, ROOT)
    try:
        from t.upstream import upstream_python as make
        return str(make())
    except BaseException as exc:  # pytest.skip raises a BaseException subclass
        print(f'(upstream Kombu unavailable: {exc})')
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, default=20000)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--repeat', type=int, default=3,
                        help='runs of each workload per worker; the best counts')
    parser.add_argument('--worker', action='store_true')
    parser.add_argument('--no-upstream', action='store_true')
    parser.add_argument('--baseline-tree', metavar='DIR',
                        help='compare with this source tree of the package, not upstream')
    parser.add_argument('--cpu', action='store_true', help='time CPU, not wall clock')
    args = parser.parse_args()
    if args.worker:
        return worker(args.n, args.repeat, args.cpu)
    baseline_root: str | None = None
    if args.baseline_tree:
        baseline_root = os.path.abspath(args.baseline_tree)
        baseline: str | None = sys.executable
    else:
        baseline = None if args.no_upstream else upstream_python()
    ours: list[dict] = []
    theirs: list[dict] = []
    for round_ in range(args.rounds):
        order = [(True, sys.executable), (False, baseline)]
        if round_ % 2:
            order.reverse()
        for is_ours, python in order:
            if python is None:
                continue
            (ours if is_ours else theirs).append(
                run_worker(python, args.n, ROOT if is_ours else baseline_root,
                           args.repeat, args.cpu))
    against = args.baseline_tree or 'upstream'
    print(f'memory:// n={args.n}, best of {args.repeat} per worker, '
          f'median of {args.rounds} rounds, {"CPU" if args.cpu else "wall"} time; '
          f'"upstream" column: {against}')
    print('ratio: median of the per-round ratios (each round runs both back to back)')
    print(f'{"workload":<22}{"unit":>7}{"ours":>12}{"upstream":>12}{"ratio":>9}'
          f'{"min..max":>16}')
    for name, (unit, _) in WORKLOADS.items():
        mine = statistics.median(r[name] for r in ours)
        base = statistics.median(r[name] for r in theirs) if theirs else None
        ratio = spread = ''
        if base:
            ratios = [(t[name] / o[name] if unit == 'us' else o[name] / t[name])
                      for o, t in zip(ours, theirs)]
            digits = 3 if args.baseline_tree else 1  # a change: small differences matter
            ratio = f'{statistics.median(ratios):.{digits}f}x'
            spread = f'{min(ratios):.{digits}f}..{max(ratios):.{digits}f}'
        base_text = f'{base:,.1f}' if base else '-'
        print(f'{name:<22}{unit:>7}{mine:>12,.1f}{base_text:>12}{ratio:>9}{spread:>16}')


if __name__ == '__main__':
    main()
