"""mongodb:// and zookeeper:// publish and consume msg/s, next to the raw client
(pymongo, kazoo) doing the same storage work on the same server in the same run.

Usage (the servers of ``.ci/start-servers``)::

    eval "$(bash .ci/start-servers)"    # exports MONGODB_URL and ZOOKEEPER_URL
    python bench/bench_mongozk.py [--messages 1000] [--rounds 3] [--only mongodb]

publish
    ``Producer.publish`` of a Celery-shaped task message (json, default exchange);
    raw: one insert (pymongo ``insert_one`` of ``{queue, priority, payload}``) or one
    sequential znode (kazoo ``create``) of an already built envelope.
consume
    a pre-filled queue drained by a ``Consumer`` (every message acked); raw pymongo:
    ``find_one_and_delete`` sorted by priority (Kombu's one-step claim; ours is two
    steps so that a server crash loses nothing), raw kazoo: one listing, then
    ``get`` + ``delete`` per message.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

BODY = {'task': 'proj.tasks.add', 'id': 'c2b9f1c4-5d3e-4a89-9b1e-bb1f1e8e0a11',
        'args': [2, 2], 'kwargs': {}, 'retries': 0, 'eta': None}


def envelope() -> str:
    import base64
    return json.dumps({
        'body': base64.b64encode(json.dumps(BODY).encode()).decode(),
        'content-type': 'application/json', 'content-encoding': 'utf-8', 'headers': {},
        'properties': {'delivery_info': {'exchange': '', 'routing_key': 'q'},
                       'priority': 0, 'body_encoding': 'base64',
                       'delivery_tag': str(uuid.uuid4())}})


def kombu_publish(url: str, n: int) -> float:
    from kombu import Connection, Producer, Queue
    name = f'bench-{uuid.uuid4().hex[:8]}'
    with Connection(url) as conn:
        queue = Queue(name)(conn.default_channel)
        queue.declare()
        producer = Producer(conn.default_channel)
        start = time.perf_counter()
        for _ in range(n):
            producer.publish(BODY, routing_key=name, serializer='json')
        elapsed = time.perf_counter() - start
        queue.delete()
    return n / elapsed


def kombu_consume(url: str, n: int) -> float:
    from kombu import Connection, Consumer, Producer, Queue
    name = f'bench-{uuid.uuid4().hex[:8]}'
    with Connection(url, transport_options={'polling_interval': 0.01}) as conn:
        queue = Queue(name)
        queue(conn.default_channel).declare()
        producer = Producer(conn.default_channel)
        for _ in range(n):
            producer.publish(BODY, routing_key=name, serializer='json')
        got = [0]

        def on_message(body: Any, message: Any) -> None:
            got[0] += 1
            message.ack()
        start = time.perf_counter()
        with Consumer(conn, [queue], callbacks=[on_message]):
            while got[0] < n:
                conn.drain_events(timeout=5)
        elapsed = time.perf_counter() - start
        queue(conn.default_channel).delete()
    return n / elapsed


def mongo_collection(url: str) -> Any:
    import pymongo
    client = pymongo.MongoClient(url, retryWrites=False)  # as the transport uses it
    return client, client.get_default_database('kombu_default')['bench_raw']


def raw_mongo_publish(url: str, n: int) -> float:
    client, messages = mongo_collection(url)
    queue, payload = uuid.uuid4().hex, envelope()
    start = time.perf_counter()
    for _ in range(n):
        messages.insert_one({'payload': payload, 'queue': queue, 'priority': 255})
    elapsed = time.perf_counter() - start
    messages.delete_many({'queue': queue})
    client.close()
    return n / elapsed


def raw_mongo_consume(url: str, n: int) -> float:
    import pymongo
    client, messages = mongo_collection(url)
    queue, payload = uuid.uuid4().hex, envelope()
    messages.insert_many([{'payload': payload, 'queue': queue, 'priority': 255}
                          for _ in range(n)])
    start = time.perf_counter()
    while messages.find_one_and_delete(
            {'queue': queue}, sort=[('priority', pymongo.ASCENDING)]) is not None:
        json.loads(payload)
    elapsed = time.perf_counter() - start
    client.close()
    return n / elapsed


def zk_client(url: str) -> tuple[Any, str]:
    from kazoo.client import KazooClient
    hosts, _, vhost = url.partition('://')[2].partition('/')
    zk = KazooClient(hosts)
    zk.start(timeout=10)
    path = f'/{vhost.strip("/") or "bench"}/raw-{uuid.uuid4().hex[:8]}'
    zk.ensure_path(path)
    return zk, path


def raw_zk_publish(url: str, n: int) -> float:
    zk, path = zk_client(url)
    data = envelope().encode()
    start = time.perf_counter()
    for _ in range(n):
        zk.create(f'{path}/entry-255-', data, sequence=True)
    elapsed = time.perf_counter() - start
    zk.delete(path, recursive=True)
    zk.stop()
    zk.close()
    return n / elapsed


def raw_zk_consume(url: str, n: int) -> float:
    zk, path = zk_client(url)
    data = envelope().encode()
    for _ in range(n):
        zk.create(f'{path}/entry-255-', data, sequence=True)
    start = time.perf_counter()
    for name in sorted(zk.get_children(path)):
        raw, _ = zk.get(f'{path}/{name}')
        zk.delete(f'{path}/{name}')
        json.loads(raw)
    elapsed = time.perf_counter() - start
    zk.delete(path, recursive=True)
    zk.stop()
    zk.close()
    return n / elapsed


def median(fun: Callable[[str, int], float], url: str, n: int, rounds: int) -> float:
    return statistics.median(fun(url, n) for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--messages', type=int, default=1000)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--only', choices=['mongodb', 'zookeeper'])
    args = parser.parse_args()
    n, rounds = args.messages, args.rounds
    runs = {'mongodb': ('MONGODB_URL', 'pymongo', raw_mongo_publish, raw_mongo_consume,
                        lambda url: f'{url.rstrip("/")}/kombu_bench'),
            'zookeeper': ('ZOOKEEPER_URL', 'kazoo', raw_zk_publish, raw_zk_consume,
                          lambda url: f'{url.rstrip("/")}/kombu-bench')}
    for name, (variable, client, raw_publish, raw_consume, target) in runs.items():
        if args.only and name != args.only:
            continue
        if not os.environ.get(variable):
            print(f'{name}: {variable} is not set (eval "$(bash .ci/start-servers)"), skipped')
            continue
        url = target(os.environ[variable])
        rows = [('publish', median(kombu_publish, url, n, rounds),
                 median(raw_publish, url, n, rounds)),
                ('consume', median(kombu_consume, url, n, rounds),
                 median(raw_consume, url, n, rounds))]
        print(f'{name}:// at {os.environ[variable]}, {n} messages, median of {rounds} '
              f'rounds (msg/s)')
        print(f'{"workload":<10} {"kombu":>10} {"raw " + client:>12}')
        for workload, ours, raw in rows:
            print(f'{workload:<10} {ours:>10.0f} {raw:>12.0f}')


if __name__ == '__main__':
    main()
