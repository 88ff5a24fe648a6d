"""rediscluster:// publish and consume msg/s next to redis:// on one node, in the same run.

Usage::

    python bench/bench_rediscluster.py [--messages 2000] [--rounds 3] [--queues 3]

The cluster is ``REDIS_CLUSTER_URL`` (``.ci/servers.d/redis_cluster.sh``), else a private
three-master cluster started for the run; the single node is ``REDIS_URL`` (default
``redis://127.0.0.1:6379/0``), else a private redis-server.

publish
    ``Producer.publish`` of a Celery-shaped task message (json, default exchange), spread
    round robin over ``--queues`` queues (on the cluster they hash to different masters).
consume
    the pre-filled queues drained by one ``Consumer`` (every message acked).
fanout publish / fanout consume
    broadcasts through a fanout exchange to one subscribed consumer (PUB/SUB on ``redis://``,
    sharded pub/sub on a Redis 7 cluster): publishing them all, then draining them.
The median of ``--rounds`` rounds is printed, and the cluster/single ratio.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

BODY = {'task': 'proj.tasks.add', 'id': 'c2b9f1c4-5d3e-4a89-9b1e-bb1f1e8e0a11',
        'args': [2, 2], 'kwargs': {}, 'retries': 0, 'eta': None}


def _open(port: int) -> bool:
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=0.2):
            return True
    except OSError:
        return False


def single_node(cleanup: list[Callable[[], None]]) -> str:
    url = os.environ.get('REDIS_URL', 'redis://127.0.0.1:6379/0')
    if _open(int(url.split(':')[2].split('/')[0])):
        return url
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(['redis-server', '--bind', '127.0.0.1', '--port', str(port),
                             '--save', ''], stdout=subprocess.DEVNULL)
    cleanup.append(proc.terminate)
    while not _open(port):
        time.sleep(0.05)
    return f'redis://127.0.0.1:{port}/0'


def cluster(cleanup: list[Callable[[], None]]) -> str:
    url = os.environ.get('REDIS_CLUSTER_URL')
    if url:
        return url
    from t.integration.rediscluster.cluster import PrivateCluster
    setup = PrivateCluster(masters=3).start()
    cleanup.append(setup.stop)
    return setup.url


def fanout(url: str, messages: int) -> tuple[float, float]:
    """Broadcasts to one subscribed consumer: publish msg/s, then consume msg/s."""
    from kombu import Connection, Consumer, Exchange, Producer, Queue
    exchange = Exchange(f'bench-rc-fan-{uuid.uuid4().hex[:8]}', 'fanout')
    queue = Queue(f'{exchange.name}-q', exchange)
    with Connection(url) as conn, Connection(url) as producer_conn:
        got = [0]

        def on_message(body: Any, message: Any) -> None:
            got[0] += 1
            message.ack()
        with Consumer(conn.default_channel, [queue], callbacks=[on_message]):
            try:
                conn.drain_events(timeout=0.2)  # subscribes
            except socket.timeout:
                pass
            producer = Producer(producer_conn.default_channel, exchange)
            start = time.perf_counter()
            for _ in range(messages):
                producer.publish(BODY, serializer='json')
            publish = messages / (time.perf_counter() - start)
            start = time.perf_counter()
            while got[0] < messages:
                conn.drain_events(timeout=5)
            consume = messages / (time.perf_counter() - start)
        queue.bind(conn.default_channel).delete()
    return publish, consume


def run(url: str, messages: int, nqueues: int) -> tuple[float, ...]:
    return (*queues_round(url, messages, nqueues), *fanout(url, messages))


def queues_round(url: str, messages: int, nqueues: int,
                 options: dict[str, Any] | None = None) -> tuple[float, float]:
    """Publish ``messages`` over ``nqueues`` queues, then consume them: both msg/s."""
    from kombu import Connection, Consumer, Producer, Queue
    queues = [Queue(f'bench-rc-{uuid.uuid4().hex[:8]}-{i}') for i in range(nqueues)]
    with Connection(url, transport_options={'polling_interval': 0.01, **(options or {})}) as conn:
        channel = conn.default_channel
        for queue in queues:
            queue.bind(channel).declare()
        producer = Producer(channel)
        start = time.perf_counter()
        for n in range(messages):
            producer.publish(BODY, routing_key=queues[n % nqueues].name, serializer='json')
        publish = messages / (time.perf_counter() - start)
        got = [0]

        def on_message(body: Any, message: Any) -> None:
            got[0] += 1
            message.ack()
        start = time.perf_counter()
        with Consumer(channel, queues, callbacks=[on_message], prefetch_count=100):
            while got[0] < messages:
                conn.drain_events(timeout=5)
        consume = messages / (time.perf_counter() - start)
        for queue in queues:
            queue.bind(channel).delete()
    return publish, consume


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--messages', type=int, default=2000)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--queues', type=int, default=3)
    args = parser.parse_args()
    cleanup: list[Callable[[], None]] = []
    try:
        targets = {'redis (1 node)': single_node(cleanup),
                   'rediscluster (3 masters)': cluster(cleanup)}
        results: dict[str, list[float]] = {}
        for name, url in targets.items():
            rounds = [run(url, args.messages, args.queues) for _ in range(args.rounds)]
            results[name] = [statistics.median(r[i] for r in rounds)
                             for i in range(len(rounds[0]))]
        print(f'{args.messages} messages over {args.queues} queues, median of '
              f'{args.rounds} rounds')
        columns = ('publish msg/s', 'consume msg/s', 'fanout publish', 'fanout consume')
        print(f'{"target":<26}' + ''.join(f'{c:>16}' for c in columns))
        for name, values in results.items():
            print(f'{name:<26}' + ''.join(f'{v:>16.0f}' for v in values))
        single, clustered = results.values()
        print(f'{"cluster / single":<26}' +
              ''.join(f'{c / s:>16.2f}' for s, c in zip(single, clustered)))
    finally:
        for stop in cleanup:
            stop()


if __name__ == '__main__':
    main()
