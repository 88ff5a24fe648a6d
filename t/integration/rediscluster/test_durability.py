"""rediscluster:// replica waits on the shared cluster (three masters, no replica): asking
for a replica that does not exist is the real way to see a WAIT fall short."""
from __future__ import annotations

import time
import uuid

import pytest

from kombu import Connection, Producer, Queue
from kombu.exceptions import NotReplicated
from kombu.transport.redis.qos import unconfirmed_acks
from kombu.transport.rediscluster.durability import ReplicatedWriter
from t.integration.test_conformance_rediscluster import cluster_url
from t.servers import unique_name

redis = pytest.importorskip('redis')

pytestmark = pytest.mark.integration

SHORT_WAIT = {'replica_wait': 1, 'replica_wait_timeout': 50}


def test_without_replicas_automatic_means_no_wait() -> None:
    with Connection(cluster_url()) as conn:
        assert conn.default_channel.writer() is None


def test_publish_short_of_replicas_raises_and_is_not_confirmed() -> None:
    queue = Queue(unique_name('rc-wait'))
    with Connection(cluster_url(), transport_options=SHORT_WAIT) as conn:
        channel = conn.default_channel
        queue.bind(channel).declare()
        try:
            with pytest.raises(NotReplicated) as info:
                Producer(channel).publish('x', routing_key=queue.name)
            assert (info.value.wanted, info.value.acked) == (1, 0)
            assert isinstance(info.value, conn.connection_errors)  # publish retries it
            # the master has it, unconfirmed: a retry may duplicate, never lose
            assert channel._size(queue.name) == 1
        finally:
            queue.bind(channel).delete()


def test_ack_short_of_replicas_is_kept_in_doubt_then_sent_again() -> None:
    queue = Queue(unique_name('rc-ackwait'))
    url = cluster_url()
    with Connection(url) as plain, Connection(url, transport_options=SHORT_WAIT) as waiting:
        queue.bind(plain.default_channel).declare()
        try:
            Producer(plain.default_channel).publish('x', routing_key=queue.name)
            channel = waiting.default_channel
            message = channel.basic_get(queue.name)
            tag = message.delivery_tag
            message.ack()  # applied by the master, WAIT short: in doubt, no error
            assert channel.acks.in_doubt(queue.name, tag)
            # what the sweep sends again: a newer record of the same tag (a later
            # delivery) stays, so the guard cannot drop a redelivered message
            layout = channel.layout
            client = channel.client
            client.hset(layout.unacked(queue.name), tag, '{}')
            client.zadd(layout.unacked_index(queue.name), {tag: time.time() + 60})
            plain.default_channel.acks.resend()
            assert not channel.acks.in_doubt(queue.name, tag)
            assert client.hexists(layout.unacked(queue.name), tag)
        finally:
            unconfirmed_acks.clear()
            queue.bind(plain.default_channel).delete()


def test_writer_follows_moved_and_reloads_a_missing_script() -> None:
    with Connection(cluster_url()) as conn:
        cluster = conn.transport.cluster_client()
        key = f'{{rc-moved-{uuid.uuid4().hex}}}.k'
        slot = cluster.keyslot(key)
        owner = cluster.get_node_from_key(key)
        other = next(n for n in cluster.get_primaries() if n.name != owner.name)
        # a stale slot table: the first attempt meets MOVED from the wrong master
        cluster.nodes_manager.slots_cache[slot] = [other]
        writer = ReplicatedWriter(cluster, replicas=0, timeout_ms=100)
        source = f"return redis.call('INCR', KEYS[1]) -- {uuid.uuid4().hex}"
        try:
            assert writer.run(key, [writer.evalsha(source, [key], [])]) == [1]
            assert cluster.get_redis_connection(owner).get(key) == b'1'  # on its owner
        finally:
            cluster.delete(key)
