"""A private three-node RabbitMQ cluster, started once per test session.

Nodes and their handling are in t/integration/rabbitmq/private_node.py; the
shared broker on 5672 is never touched.  A test that kills a member restarts
it (:meth:`Cluster.restart`) before the next test runs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterator

import pytest

from t.integration.rabbitmq.private_node import RabbitNode, private_cluster


@dataclass
class Cluster:
    nodes: list[RabbitNode]
    #: names of members whose VM runs with the RabbitMQ app stopped (``stop_app``)
    stopped_apps: set[str] = field(default_factory=set)

    @property
    def failover_url(self) -> str:
        """All members as failover alternates (``amqp://a;amqp://b;amqp://c``)."""
        return ';'.join(node.url for node in self.nodes)

    def node_on_port(self, port: int) -> RabbitNode:
        return next(node for node in self.nodes if node.amqp_port == port)

    def alive(self) -> list[RabbitNode]:
        return [node for node in self.nodes if node.proc and node.proc.poll() is None
                and node.name not in self.stopped_apps]

    def ctl_json(self, *args: str) -> list:
        out = self.alive()[0].ctl(*args, '--formatter', 'json')
        return json.loads(out) if out.strip() else []

    def queue_info(self, name: str, *columns: str) -> dict:
        rows = self.ctl_json('list_queues', 'name', *columns)
        return next(row for row in rows if row['name'] == name)

    def running_nodes(self) -> list[str]:
        status = json.loads(self.alive()[0].ctl('cluster_status', '--formatter', 'json'))
        return sorted(status['running_nodes'])

    def fail(self, node: RabbitNode, how: str) -> None:
        """``'kill'``: ``kill -9`` its VM; ``'stop_app'``: a clean stop of RabbitMQ
        (clients are told, queue leadership is handed over), the VM stays up."""
        if how == 'kill':
            node.kill()
        else:
            node.ctl('stop_app')
            self.stopped_apps.add(node.name)

    def restart(self, node: RabbitNode) -> None:
        """Bring a failed member back; it rejoins with its data."""
        if node.name in self.stopped_apps:
            node.ctl('start_app')
            self.stopped_apps.discard(node.name)
        else:
            node.start()
        node.wait_ready()
        node.ctl('await_startup')


@pytest.fixture(scope='session')
def cluster() -> Iterator[Cluster]:
    with private_cluster(3) as nodes:
        yield Cluster(nodes)


@pytest.fixture
def full_cluster(cluster: Cluster) -> Cluster:
    """The cluster with every member running (as a previous test may have left it)."""
    for node in cluster.nodes:
        if node not in cluster.alive():
            cluster.restart(node)
    assert cluster.running_nodes() == sorted(node.name for node in cluster.nodes)
    return cluster
