"""The transport driven by Kombu's Hub (how Celery's worker runs it)."""
from __future__ import annotations

import time

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.asynchronous import Hub

pytestmark = pytest.mark.integration


def run_until(hub, predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        hub.run_once()
    return predicate()


def test_hub_consumes_batches_and_idles_without_busy_polling(redis_url, uname, rclient):
    name = uname('hub')
    queue = Queue(name, Exchange(name), name)
    fan = Exchange(name + '.fan', 'fanout')
    hub = Hub()
    got = []
    with Connection(redis_url) as conn, Connection(redis_url) as pub:
        conn.register_with_event_loop(hub)
        channel = conn.channel()
        consumer = Consumer(channel, [queue, Queue(name + '.fq', fan)], prefetch_count=8,
                            callbacks=[lambda b, m: (got.append(b), m.ack())])
        consumer.consume()
        producer = Producer(pub.channel())
        queue(producer.channel).declare()
        for i in range(30):
            producer.publish(i, exchange=queue.exchange, routing_key=name)
        assert run_until(hub, lambda: len(got) == 30)
        assert got == list(range(30))
        # idle: BRPOP is in flight, the hub sleeps in poll
        cpu, wall = time.process_time(), time.monotonic()
        run_until(hub, lambda: False, timeout=1.5)
        assert time.process_time() - cpu < 0.5 * (time.monotonic() - wall)
        Producer(pub.channel(), fan).publish('broadcast')
        producer.publish('late', exchange=queue.exchange, routing_key=name)
        assert run_until(hub, lambda: len(got) == 32)
        assert set(got[30:]) == {'broadcast', 'late'}
        consumer.cancel()
        hub.close()
    assert rclient.hlen('unacked') == 0
