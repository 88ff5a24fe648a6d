"""The Kombu side of the per-broker bench scripts: one publish run and one consume run
over any URL, so that every script times our API the same way and only its raw-client
column differs.

publish
    ``Producer.publish`` of a Celery-shaped task message (json, default exchange) to a
    freshly declared queue; the queue is deleted afterwards.
consume
    the queue pre-filled by the same producer, drained by a ``Consumer`` with
    ``drain_events``, every message acked; timed from the ``Consumer`` start, or with
    ``from_first`` from the first delivery (a Kafka consumer group join is not counted).
"""
from __future__ import annotations

import base64
import json
import socket
import statistics
import time
import uuid
from typing import Any, Callable, Iterable, Mapping, Optional

#: the body every script publishes: the size and shape of a small Celery task.
BODY: dict[str, Any] = {'task': 'proj.tasks.add', 'id': 'c2b9f1c4-5d3e-4a89-9b1e-bb1f1e8e0a11',
                        'args': [2, 2], 'kwargs': {}, 'retries': 0, 'eta': None}


def envelope() -> dict[str, Any]:
    """The stored form of :data:`BODY` on a virtual transport (what raw clients write)."""
    return {'body': base64.b64encode(json.dumps(BODY).encode()).decode(),
            'content-type': 'application/json', 'content-encoding': 'utf-8', 'headers': {},
            'properties': {'delivery_info': {'exchange': '', 'routing_key': 'q'},
                           'priority': 0, 'body_encoding': 'base64',
                           'delivery_tag': str(uuid.uuid4())}}


def queue_name(prefix: str = 'bench-') -> str:
    return f'{prefix}{uuid.uuid4().hex[:8]}'


def kombu_publish(url: str, n: int, transport_options: Optional[Mapping[str, Any]] = None,
                  prefix: str = 'bench-') -> float:
    """Messages per second of ``n`` publishes to one new queue."""
    from kombu import Connection, Producer, Queue
    name = queue_name(prefix)
    with Connection(url, transport_options=dict(transport_options or {})) as conn:
        # bound by its own name: brokers with real bindings (Kafka, Pub/Sub) route by it
        queue = Queue(name, routing_key=name)(conn.default_channel)
        queue.declare()
        producer = Producer(conn.default_channel)
        start = time.perf_counter()
        for _ in range(n):
            producer.publish(BODY, routing_key=name, serializer='json')
        elapsed = time.perf_counter() - start
        queue.delete()
    return n / elapsed


def kombu_consume(url: str, n: int, transport_options: Optional[Mapping[str, Any]] = None,
                  prefix: str = 'bench-', prefetch_count: Optional[int] = None,
                  from_first: bool = False) -> float:
    """Messages per second of draining and acking ``n`` messages from one queue."""
    from kombu import Connection, Consumer, Producer, Queue
    name = queue_name(prefix)
    with Connection(url, transport_options=dict(transport_options or {})) as conn:
        queue = Queue(name, routing_key=name)
        queue(conn.default_channel).declare()
        producer = Producer(conn.default_channel)
        for _ in range(n):
            producer.publish(BODY, routing_key=name, serializer='json')
        got, first = [0], [0.0]

        def on_message(body: Any, message: Any) -> None:
            if not got[0]:
                first[0] = time.perf_counter()
            got[0] += 1
            message.ack()
        start = time.perf_counter()
        with Consumer(conn, [queue], callbacks=[on_message], prefetch_count=prefetch_count):
            while got[0] < n:
                try:
                    conn.drain_events(timeout=10)
                except socket.timeout:  # a slow group join or pull: the count decides
                    pass
        end = time.perf_counter()
        queue(conn.default_channel).delete()
    if from_first:  # the first message only starts the clock
        return (n - 1) / (end - first[0])
    return n / (end - start)


def median(fun: Callable[..., float], *args: Any, rounds: int) -> float:
    """The median of ``rounds`` calls: one slow round (a GC, a checkpoint) moves nothing."""
    return statistics.median(fun(*args) for _ in range(rounds))


def print_table(title: str, raw_label: str,
                rows: Iterable[tuple[str, float, float]]) -> None:
    print(title)
    width = max(10, len(raw_label))
    print(f'{"workload":<10} {"kombu":>10} {raw_label:>{width}}')
    for workload, ours, raw in rows:
        print(f'{workload:<10} {ours:>10.0f} {raw:>{width}.0f}')
