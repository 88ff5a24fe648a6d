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
import sys
import time
import uuid
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from _kombu_runs import envelope as stored_envelope  # noqa: E402
from _kombu_runs import kombu_consume, kombu_publish, median, print_table  # noqa: E402

OPTIONS = {'polling_interval': 0.01}


def envelope() -> str:
    return json.dumps(stored_envelope())


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
        rows = [('publish', median(kombu_publish, url, n, OPTIONS, rounds=rounds),
                 median(raw_publish, url, n, rounds=rounds)),
                ('consume', median(kombu_consume, url, n, OPTIONS, rounds=rounds),
                 median(raw_consume, url, n, rounds=rounds))]
        print_table(f'{name}:// at {os.environ[variable]}, {n} messages, median of {rounds} '
                    'rounds (msg/s)', f'raw {client}', rows)


if __name__ == '__main__':
    main()
