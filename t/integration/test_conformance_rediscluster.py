"""The conformance suite over rediscluster:// against a real three-master Redis Cluster.

``.ci/servers.d/redis_cluster.sh`` creates one on spare loopback ports and exports
``REDIS_CLUSTER_URL`` (``rediscluster://127.0.0.1:7300;rediscluster://127.0.0.1:7301;...``).
Every test's queues hash to slots spread over the three masters, so the cases
also prove that no command of the transport spans slots.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from kombu import Connection, Consumer, Queue
from kombu.utils.url import url_to_parts
from t.integration.conformance.suite import ConformanceSuite
from t.servers import IN_CI, port_open

pytest.importorskip('redis')

pytestmark = pytest.mark.integration

REDIS_CLUSTER_URL = os.environ.get('REDIS_CLUSTER_URL', '')
HOW = ('no Redis Cluster: start one with `bash .ci/servers.d/redis_cluster.sh` (three '
       'redis-server --cluster-enabled yes) and set REDIS_CLUSTER_URL to what it prints')


def cluster_url() -> str:
    if REDIS_CLUSTER_URL:
        first = url_to_parts(REDIS_CLUSTER_URL.split(';')[0])
        if port_open(first.hostname or '127.0.0.1', first.port or 6379):
            return REDIS_CLUSTER_URL
    if IN_CI:
        pytest.fail(HOW, pytrace=False)
    pytest.skip(HOW)


class TestRedisClusterConformance(ConformanceSuite):
    # One list per priority step, step 0 consumed first: the order of redis://,
    # kept so that Celery's Redis priorities mean the same after a migration.
    priority_order = 'lowest-first'

    def ensure_server(self) -> None:
        cls = type(self)
        cls.url = cluster_url()
        with Connection(cls.url, transport_options=cls.transport_options) as conn:
            sharded = conn.default_channel._sharded_fanout
        # Redis 7: fanout over sharded pub/sub, which (as redis://'s PUB/SUB) gives
        # copies only to queues consumed at the time; before, copies in every queue.
        cls.supports_fanout_without_consumers = not sharded

    def store_raw(self, conn: Connection, queue: Queue, entry: Any) -> None:
        # Straight into the queue's step-0 list, past the envelope.
        data = entry if isinstance(entry, str) else json.dumps(entry)
        channel = conn.default_channel
        channel.client.lpush(channel.layout.queue_key(queue.name, 0), data)

    def queues_on_every_master(self, conn: Connection) -> list[Queue]:
        """One queue per master: names whose slots three different nodes own."""
        client = conn.transport.cluster_client()
        layout = conn.default_channel.layout
        found: dict[str, Queue] = {}
        masters = {node.name for node in client.get_primaries()}
        while len(found) < len(masters):
            queue = self.queue()
            node = client.get_node_from_key(layout.queue_key(queue.name, 0))
            found.setdefault(node.name, queue)
        return list(found.values())

    def test_visibility_timeout_restores_on_every_master(self) -> None:
        options = dict(self.transport_options, visibility_timeout=1)
        holder = Connection(self.url, transport_options=options)
        sweeper = Connection(self.url, transport_options=options)
        self._connections += [holder, sweeper]
        queues = self.queues_on_every_master(holder)
        self.declare(holder, *queues)
        for queue in queues:
            self.publish(holder, [queue.name], routing_key=queue.name)
        held = [queue.bind(holder.default_channel).get(no_ack=False) for queue in queues]
        assert [m.payload for m in held] == [q.name for q in queues]
        assert sweeper.default_channel.restore_visible() == 0  # not overdue yet
        time.sleep(1.2)
        assert sweeper.default_channel.restore_visible() == len(queues)
        again = [queue.bind(sweeper.default_channel).get(no_ack=False) for queue in queues]
        assert [m.payload for m in again] == [q.name for q in queues]
        assert all(m.delivery_info['redelivered'] for m in again)
        for message in again:
            message.ack()
        for message in held:  # a late ack of the first delivery drops nothing new
            message.ack()
        assert sweeper.default_channel.restore_visible() == 0
        assert [queue.bind(sweeper.default_channel).get() for queue in queues] == [None] * 3

    def test_consumer_fair_across_masters(self) -> None:
        conn = self.connection()
        queues = self.queues_on_every_master(conn)
        self.declare(conn, *queues)
        for queue in queues:
            self.publish(conn, [f'{queue.name}-{i}' for i in range(20)], routing_key=queue.name)
        order: list[str] = []

        def on_message(body: str, message: Any) -> None:
            order.append(body.rsplit('-', 1)[0])
            message.ack()
        with Consumer(conn.default_channel, queues, callbacks=[on_message]):
            while len(order) < 60:
                conn.drain_events(timeout=5)
        # Round robin over the queues: each of the first 30 deliveries takes its turn.
        assert {order[:30].count(q.name) for q in queues} == {10}


class TestRedisClusterCopiesFanoutConformance(TestRedisClusterConformance):
    """The whole suite again with ``fanout_pubsub`` off: the fallback of servers before
    Redis 7, a copy of every fanout message in every bound queue."""

    transport_options = {'fanout_pubsub': False}
