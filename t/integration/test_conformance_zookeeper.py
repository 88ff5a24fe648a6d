"""The conformance suite over zookeeper:// on the shared ZooKeeper (``ZOOKEEPER_URL``);
each test class works in a virtual host (a chroot) of its own, removed afterwards."""
from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from kombu import Connection, Exchange, Producer, Queue
from kombu.exceptions import LimitExceeded
from t.integration.conformance import ConformanceSuite
from t.integration.conformance.shared_store import SharedStoreCases
from t.integration.zookeeper_server import private_vhost, shared_url
from t.servers import unique_name

pytestmark = pytest.mark.integration


@pytest.fixture(scope='module')
def zk_vhost_url() -> Iterator[str]:
    with private_vhost('kombu-conf') as url:
        yield url


class TestZooKeeperConformance(SharedStoreCases, ConformanceSuite):
    # Everything optional is supported: priorities (x-max-priority, in the node
    # names), TTL, dead-lettering, max-length and queue expiry from the virtual
    # base, fanout and headers through exchange tables stored in ZooKeeper.

    @pytest.fixture(autouse=True)
    def _url(self, zk_vhost_url: str) -> Any:
        self.url = zk_vhost_url

    # The suite's 1 MiB message (1.4 MB as base64) is over what a znode holds: it
    # goes in parts (test_large_message_and_fifo_order); here the parts are gone after.
    def test_message_in_parts_leaves_nothing_behind(self) -> None:
        from kazoo.client import KazooClient
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        big = 'y' * (3 * 1024 * 1024)
        self.publish(conn, [big, 'small'], routing_key=queue.routing_key)
        transport = conn.transport
        blobs = f'{transport.root}/.kombu-blobs'
        zk = KazooClient(','.join(f'{h}:{p}' for h, p in transport.hosts))
        zk.start(timeout=10)
        try:
            assert len(zk.get_children(blobs)) == 1
            assert self.get_all(conn, queue) == [big, 'small']
            assert zk.get_children(blobs) == []
        finally:
            zk.stop()
            zk.close()

    def test_over_max_message_size_is_refused(self) -> None:
        queue = self.queue()
        conn = Connection(self.url, transport_options={'max_message_size': 100_000})
        self._connections.append(conn)
        self.declare(conn, queue)
        with pytest.raises(LimitExceeded, match='max_message_size'):
            self.publish(conn, ['x' * 200_000], routing_key=queue.routing_key)
        assert self.get_all(conn, queue) == []

    # -- what ZooKeeper adds to the suite: state shared between processes -------

    def test_exchange_declared_elsewhere_routes(self) -> None:
        # The declaring and binding connection is gone before the publisher, which
        # declares nothing, publishes: the table and the type come from ZooKeeper.
        exchange = self.exchange('fanout')
        queues = [self.queue(exchange) for _ in range(2)]
        with Connection(self.url) as setup:
            self.declare(setup, exchange, *queues)
        with Connection(self.url) as publisher:
            Producer(publisher.default_channel).publish(
                'to all', exchange=exchange.name, routing_key='x', serializer='json')
        conn = self.connection()
        for queue in queues:
            assert self.get_eventually(conn, queue, 1) == ['to all']

    def test_queue_ttl_declared_elsewhere_applies(self) -> None:
        queue = self.queue(message_ttl=0.1)
        with Connection(self.url) as setup:
            self.declare(setup, queue)
        with Connection(self.url) as publisher:  # knows nothing of the queue's x-message-ttl
            Producer(publisher.default_channel).publish(
                'old', routing_key=queue.name, serializer='json')
        time.sleep(0.3)
        conn = self.connection()
        assert self.get_all(conn, queue) == []

    def test_deleting_a_queue_unbinds_it_everywhere(self) -> None:
        exchange = self.exchange('direct')
        queue = self.queue(exchange, 'k')
        with Connection(self.url) as setup:
            self.declare(setup, exchange, queue)
        with Connection(self.url) as other:  # never saw the binding
            queue.bind(other.default_channel).delete()
        conn = self.connection()
        channel = conn.default_channel
        assert channel.get_table(exchange.name) == []
        Producer(channel).publish('lost', exchange=exchange.name, routing_key='k')
        assert not channel._has_queue(queue.name)

    def test_several_hosts_in_the_url(self) -> None:
        # The same server named twice, plus an address nobody listens on: kazoo
        # connects to one that answers.
        base, _, vhost = self.url.partition('://')[2].partition('/')
        url = f'zookeeper://127.0.0.1:1,{base}/{vhost}'
        queue = self.queue()
        conn = Connection(url)
        self._connections.append(conn)
        self.declare(conn, queue)
        self.publish(conn, ['via list'], routing_key=queue.routing_key)
        assert self.get_eventually(self.connection(), queue, 1) == ['via list']


def test_vhost_is_a_chroot() -> None:
    from kazoo.client import KazooClient
    base = shared_url()
    vhost = unique_name('kombu-vh')
    name = unique_name('q')
    with Connection(f'{base}/{vhost}') as conn:
        q = Queue(name, Exchange(''), routing_key=name)
        q.bind(conn.default_channel).declare()
        Producer(conn.default_channel).publish('in vhost', routing_key=name)
    zk = KazooClient(base.split('://', 1)[1])
    zk.start(timeout=10)
    try:
        children = zk.get_children(f'/{vhost}/{name}')
        assert len(children) == 1 and children[0].startswith('entry-')
        assert zk.exists(f'/{name}') is None
        with Connection(f'{base}/other-{vhost}') as other:
            assert Queue(name, Exchange(''), routing_key=name).bind(
                other.default_channel).get() is None
    finally:
        for path in (f'/{vhost}', f'/other-{vhost}'):
            zk.delete(path, recursive=True)
        zk.stop()
        zk.close()
