"""Helpers shared by the Redis integration tests: publish, drain, count."""
from __future__ import annotations

import socket
import time
from collections import Counter
from typing import Callable

from kombu import Connection, Producer, Queue


def report(label: str, published: list, consumed: list) -> tuple[int, int]:
    """Print and return (lost, duplicated) of ``consumed`` against ``published``."""
    counts = Counter(consumed)
    lost = sum(1 for m in published if m not in counts)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    print(f'{label}: published={len(published)} consumed={len(consumed)} '
          f'lost={lost} duplicated={duplicated}')
    return lost, duplicated


def publish(url: str, queue: Queue, bodies: list) -> None:
    """Declare ``queue`` and publish ``bodies`` to it on a connection of their own."""
    with Connection(url) as conn:
        producer = Producer(conn.channel())
        queue(producer.channel).declare()
        for body in bodies:
            producer.publish(body, exchange=queue.exchange, routing_key=queue.routing_key)


def drain_until(conn: Connection, done: Callable[[], bool], timeout: float = 5.0) -> None:
    """``drain_events`` until ``done()`` or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        try:
            conn.drain_events(timeout=0.3)
        except socket.timeout:
            pass
