"""sqs:// publish and consume msg/s on moto_server, next to raw boto3 on the same server.

Usage::

    python -m moto.server -H 127.0.0.1 -p 5123 &     # or: source .ci/servers.d/sqs.sh
    KOMBU_SQS_ENDPOINT=http://127.0.0.1:5123 python bench/bench_sqs.py [--messages 500]

Workloads (a Celery-shaped task message):

publish
    ``Producer.publish`` to a queue (default exchange, json); raw boto3 sends an
    already encoded body of the same size with ``send_message``.
consume (sync)
    a pre-filled queue drained by a ``Consumer`` with ``drain_events`` (prefetch 10,
    every message acked); raw boto3 receives 10 at a time and deletes each batch.
consume (hub)
    the same queue drained on a :class:`~kombu.asynchronous.Hub` (the path a Celery
    worker uses: async ReceiveMessage through the urllib3 HTTP client).

moto answers every call itself (a few ms each), so the numbers measure the client
overhead on top of a fixed per-request cost: compare the columns, not machines.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from typing import Any, Callable
from urllib.parse import urlparse

ENDPOINT = os.environ.get('KOMBU_SQS_ENDPOINT', 'http://127.0.0.1:5123')
OPTIONS = {'is_secure': urlparse(ENDPOINT).scheme == 'https', 'region': 'us-east-1',
           'polling_interval': 0, 'wait_time_seconds': 0, 'visibility_timeout': 60}
BODY = {'task': 'proj.tasks.add', 'id': 'c2b9f1c4-5d3e-4a89-9b1e-bb1f1e8e0a11',
        'args': [2, 2], 'kwargs': {}, 'retries': 0, 'eta': None}


def url() -> str:
    parsed = urlparse(ENDPOINT)
    return f'sqs://testing:testing@{parsed.hostname}:{parsed.port}'


def boto() -> Any:
    import boto3
    return boto3.client('sqs', endpoint_url=ENDPOINT, region_name='us-east-1',
                        aws_access_key_id='testing', aws_secret_access_key='testing')


def new_queue() -> str:
    return f'bench-sqs-{uuid.uuid4().hex[:10]}'


def raw_publish(n: int) -> float:
    client = boto()
    queue_url = client.create_queue(QueueName=new_queue())['QueueUrl']
    body = json.dumps({'body': json.dumps(BODY), 'properties': {'delivery_info': {}}})
    start = time.perf_counter()
    for _ in range(n):
        client.send_message(QueueUrl=queue_url, MessageBody=body)
    elapsed = time.perf_counter() - start
    client.delete_queue(QueueUrl=queue_url)
    return n / elapsed


def raw_consume(n: int) -> float:
    client = boto()
    queue_url = client.create_queue(QueueName=new_queue())['QueueUrl']
    for start_at in range(0, n, 10):
        client.send_message_batch(QueueUrl=queue_url, Entries=[
            {'Id': str(i), 'MessageBody': json.dumps(BODY)}
            for i in range(min(10, n - start_at))])
    got = 0
    start = time.perf_counter()
    while got < n:
        messages = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                          WaitTimeSeconds=0).get('Messages') or []
        if messages:
            client.delete_message_batch(QueueUrl=queue_url, Entries=[
                {'Id': str(i), 'ReceiptHandle': m['ReceiptHandle']}
                for i, m in enumerate(messages)])
            got += len(messages)
    elapsed = time.perf_counter() - start
    client.delete_queue(QueueUrl=queue_url)
    return n / elapsed


def kombu_publish(n: int) -> float:
    from kombu import Connection, Producer, Queue
    name = new_queue()
    with Connection(url(), transport_options=OPTIONS) as conn:
        queue = Queue(name, routing_key=name)
        queue.bind(conn.default_channel).declare()
        producer = Producer(conn.default_channel)
        start = time.perf_counter()
        for _ in range(n):
            producer.publish(BODY, routing_key=name, serializer='json')
        elapsed = time.perf_counter() - start
        queue.bind(conn.default_channel).delete()
    return n / elapsed


def _filled(conn: Any, n: int) -> Any:
    from kombu import Producer, Queue
    name = new_queue()
    queue = Queue(name, routing_key=name)
    queue.bind(conn.default_channel).declare()
    producer = Producer(conn.default_channel)
    for _ in range(n):
        producer.publish(BODY, routing_key=name, serializer='json')
    return queue


def kombu_consume(n: int) -> float:
    from kombu import Connection, Consumer
    with Connection(url(), transport_options=OPTIONS) as conn:
        queue = _filled(conn, n)
        got = [0]

        def on_message(body: Any, message: Any) -> None:
            got[0] += 1
            message.ack()
        start = time.perf_counter()
        with Consumer(conn, [queue], callbacks=[on_message], prefetch_count=10):
            while got[0] < n:
                try:
                    conn.drain_events(timeout=1)
                except TimeoutError:
                    pass
        elapsed = time.perf_counter() - start
        queue.bind(conn.default_channel).delete()
    return n / elapsed


def kombu_consume_hub(n: int) -> float:
    from kombu import Connection, Consumer
    from kombu.asynchronous import Hub, set_event_loop
    hub = Hub()
    set_event_loop(hub)
    try:
        with Connection(url(), transport_options=OPTIONS) as conn:
            queue = _filled(conn, n)
            got = [0]

            def on_message(body: Any, message: Any) -> None:
                got[0] += 1
                message.ack()
            consumer = Consumer(conn.channel(), [queue], callbacks=[on_message],
                                prefetch_count=10)
            start = time.perf_counter()
            consumer.consume()
            loop = hub.create_loop()
            while got[0] < n:
                next(loop)
            elapsed = time.perf_counter() - start
            consumer.cancel()
            queue.bind(conn.default_channel).delete()
    finally:
        set_event_loop(None)
        hub.close()
    return n / elapsed


def median(fun: Callable[[int], float], n: int, rounds: int) -> float:
    return statistics.median(fun(n) for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--messages', type=int, default=500)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    n, rounds = args.messages, args.rounds
    rows = [
        ('publish', median(kombu_publish, n, rounds), median(raw_publish, n, rounds)),
        ('consume (sync)', median(kombu_consume, n, rounds), median(raw_consume, n, rounds)),
        ('consume (hub)', median(kombu_consume_hub, n, rounds), None),
    ]
    print(f'sqs:// on {ENDPOINT}, {n} messages, median of {rounds} rounds (msg/s)')
    print(f'{"workload":<16} {"kombu":>10} {"raw boto3":>10}')
    raw_sync = rows[1][2]
    for name, ours, raw in rows:
        raw = raw_sync if raw is None else raw
        print(f'{name:<16} {ours:>10.0f} {raw:>10.0f}')


if __name__ == '__main__':
    main()
