"""slmq:// publish and consume msg/s on the local HTTPS fake of the SoftLayer MQ API
(``t/fakes/slmq.py``; the service is discontinued), next to the raw
``softlayer_messaging`` client on the same fake.

Usage::

    python bench/bench_slmq.py [--messages 300] [--rounds 3]

publish: ``Producer.publish`` vs ``queue.push`` of an envelope of the same size.
consume: a ``Consumer`` draining and acking (pop + delete per message) vs raw
``queue.pop(1)`` + ``message.delete()``.  Each message costs HTTPS requests to a
Python server, so the columns compare client overhead over a fixed request cost.
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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BODY = {'task': 'proj.tasks.add', 'id': 'c2b9f1c4-5d3e-4a89-9b1e-bb1f1e8e0a11',
        'args': [2, 2], 'kwargs': {}, 'retries': 0, 'eta': None}


def raw_client(service: Any) -> Any:
    from softlayer_messaging import get_client
    client = get_client(service.account, endpoint=f'https://127.0.0.1:{service.port}')
    client.authenticate(service.username, service.api_key)
    return client


def raw_publish(service: Any, n: int) -> float:
    client, name = raw_client(service), f'raw_{uuid.uuid4().hex[:8]}'
    client.create_queue(name)
    queue, body = client.queue(name), json.dumps({'body': json.dumps(BODY)})
    start = time.perf_counter()
    for _ in range(n):
        queue.push(body)
    elapsed = time.perf_counter() - start
    queue.delete(force=True)
    return n / elapsed


def raw_consume(service: Any, n: int) -> float:
    client, name = raw_client(service), f'raw_{uuid.uuid4().hex[:8]}'
    client.create_queue(name)
    queue, body = client.queue(name), json.dumps({'body': json.dumps(BODY)})
    for _ in range(n):
        queue.push(body)
    start = time.perf_counter()
    got = 0
    while got < n:
        for item in queue.pop(1)['items']:
            queue.message(item['id']).delete()
            got += 1
    elapsed = time.perf_counter() - start
    queue.delete(force=True)
    return n / elapsed


def kombu_publish(service: Any, n: int) -> float:
    from kombu import Connection, Producer, Queue
    name = f'kombu_{uuid.uuid4().hex[:8]}'
    with Connection(service.url) as conn:
        queue = Queue(name)(conn.default_channel)
        queue.declare()
        producer = Producer(conn.default_channel)
        start = time.perf_counter()
        for _ in range(n):
            producer.publish(BODY, routing_key=name, serializer='json')
        elapsed = time.perf_counter() - start
        queue.delete()
    return n / elapsed


def kombu_consume(service: Any, n: int) -> float:
    from kombu import Connection, Consumer, Producer, Queue
    name = f'kombu_{uuid.uuid4().hex[:8]}'
    with Connection(service.url, transport_options={'polling_interval': 0}) as conn:
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


def median(fun: Callable[[Any, int], float], service: Any, n: int, rounds: int) -> float:
    return statistics.median(fun(service, n) for _ in range(rounds))


def main() -> None:
    from t.fakes.slmq import FakeSLMQ
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--messages', type=int, default=300)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    service = FakeSLMQ().start()
    os.environ['REQUESTS_CA_BUNDLE'] = service.certfile
    try:
        n, rounds = args.messages, args.rounds
        rows = [('publish', median(kombu_publish, service, n, rounds),
                 median(raw_publish, service, n, rounds)),
                ('consume', median(kombu_consume, service, n, rounds),
                 median(raw_consume, service, n, rounds))]
    finally:
        service.stop()
    print(f'slmq:// on the local HTTPS fake, {n} messages, median of {rounds} rounds (msg/s)')
    print(f'{"workload":<10} {"kombu":>10} {"raw client":>10}')
    for name, ours, raw in rows:
        print(f'{name:<10} {ours:>10.0f} {raw:>10.0f}')


if __name__ == '__main__':
    main()
