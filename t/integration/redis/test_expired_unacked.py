"""An expired message dropped by a consumer leaves no unacked entry behind.

Regression (found with Celery: a task whose ``expires`` passed in the queue came back
later with ``redelivered`` set, restored from the stale entry once its consumer died).
"""
from __future__ import annotations

import socket
import time

import pytest

from kombu import Connection, Consumer, Queue

pytestmark = pytest.mark.integration


def test_expired_message_popped_by_consumer_is_not_resurrected(redis_url, rclient, uname):
    queue = Queue(uname('expiry'))
    got = []
    with Connection(redis_url) as conn:
        producer = conn.Producer()
        producer.publish({'n': 1}, routing_key=queue.name, declare=[queue], expiration=0.2)
        producer.publish({'n': 2}, routing_key=queue.name, declare=[queue])
        time.sleep(0.4)
        with Consumer(conn, [queue], callbacks=[lambda body, m: (got.append(body), m.ack())]):
            deadline = time.monotonic() + 5
            while not got and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.5)
                except socket.timeout:
                    pass
            try:   # one more trip: buffered acks are sent with it
                conn.drain_events(timeout=0.3)
            except socket.timeout:
                pass
    assert got == [{'n': 2}]
    assert rclient.llen(queue.name) == 0
    assert rclient.hlen('unacked') == 0, rclient.hkeys('unacked')
    assert rclient.zcard('unacked_index') == 0
