"""Quorum queues on the three-node cluster: one replica on every member."""
from __future__ import annotations

import pytest

from kombu import Connection, Producer, Queue

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_cluster_has_three_running_members(full_cluster):
    assert len(full_cluster.running_nodes()) == 3


def test_quorum_queue_is_replicated_on_every_member(full_cluster, uname):
    queue = Queue(uname('qq'), durable=True, queue_arguments={'x-queue-type': 'quorum'})
    first, _, last = full_cluster.nodes
    with Connection(full_cluster.failover_url) as conn:
        queue(conn.default_channel).declare()
        Producer(conn).publish({'n': 1}, routing_key=queue.name, declare=[queue])
    try:
        info = full_cluster.queue_info(queue.name, 'type', 'leader', 'members', 'online')
        members = sorted(node.name for node in full_cluster.nodes)
        assert info['type'] == 'quorum'
        assert sorted(info['members']) == members
        assert sorted(info['online']) == members
        assert info['leader'] == first.name  # declared there: the leader is local
        # a member that is not the leader serves it too
        with Connection(last.url) as conn:
            message = queue(conn.default_channel).get(no_ack=True)
            assert message is not None and message.payload == {'n': 1}
    finally:
        with Connection(last.url) as conn:
            queue(conn.default_channel).delete()
