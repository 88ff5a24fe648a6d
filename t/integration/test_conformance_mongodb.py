"""The conformance suite over mongodb:// on the shared SecantusDB (``MONGODB_URL``);
each test class works in a database of its own, dropped afterwards."""
from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import pytest

from kombu import Connection, Consumer, Producer
from t.integration.conformance import ConformanceSuite
from t.integration.conformance.shared_store import SharedStoreCases
from t.integration.mongodb_server import private_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope='module')
def mongo_db_url() -> Iterator[str]:
    with private_database('kombu_conf') as url:
        yield url


class MongoDBCapabilities:
    # Fanout goes through the capped broadcast collection, read with a tailable
    # cursor by each consuming channel (Kombu's layout): a copy exists for the
    # queues being consumed, nothing waits in queues no consumer reads.
    supports_fanout_without_consumers = False
    transport_options: dict[str, Any] = {'polling_interval': 0.05, 'ttl': True}


class TestMongoDBConformance(MongoDBCapabilities, SharedStoreCases, ConformanceSuite):

    @pytest.fixture(autouse=True)
    def _url(self, mongo_db_url: str) -> Any:
        self.url = mongo_db_url

    # -- what MongoDB adds to the suite: state shared between processes --------

    def test_binding_made_elsewhere_routes(self) -> None:
        exchange = self.exchange('topic')
        queue = self.queue(exchange, 'a.*')
        with Connection(self.url) as setup:
            self.declare(setup, exchange, queue)
        with Connection(self.url) as publisher:  # declares nothing
            Producer(publisher.default_channel).publish(
                'routed', exchange=exchange.name, routing_key='a.b', serializer='json')
        assert self.get_eventually(self.connection(), queue, 1) == ['routed']

    def test_fanout_bound_elsewhere_reaches_consumers(self) -> None:
        exchange = self.exchange('fanout')
        queue = self.queue(exchange)
        with Connection(self.url) as setup:
            self.declare(setup, exchange, queue)
        got: list[Any] = []
        conn = self.connection()
        with Consumer(conn, [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            self.assert_no_delivery(conn, timeout=0.2)
            with Connection(self.url) as publisher:
                Producer(publisher.default_channel).publish(
                    'to all', exchange=exchange.name, routing_key='', serializer='json')
            self.drain(conn, lambda: len(got) == 1)
        assert got == ['to all']

    def test_queue_ttl_declared_elsewhere_applies(self) -> None:
        queue = self.queue(message_ttl=0.1)
        with Connection(self.url) as setup:
            self.declare(setup, queue)
        with Connection(self.url) as publisher:
            Producer(publisher.default_channel).publish(
                'old', routing_key=queue.name, serializer='json')
        time.sleep(0.3)
        assert self.get_all(self.connection(), queue) == []

    def test_ttl_option_stamps_expire_at_for_the_ttl_index(self) -> None:
        queue = self.queue()
        conn = self.connection()
        self.declare(conn, queue)
        self.publish(conn, ['x'], routing_key=queue.routing_key, expiration=30)
        channel = conn.default_channel
        assert 'expire_at_1' in channel.messages.index_information()
        doc = channel.messages.find_one({'queue': queue.name})
        remaining = (doc['expire_at'] - channel.get_now()).total_seconds()
        assert 25 < remaining <= 30
        assert self.get_all(conn, queue) == ['x']

    def test_ttl_option_stamps_queue_and_binding_expiry(self) -> None:
        # x-expires through TTL indexes: the server reaps an unused queue's document
        # and bindings (the virtual base deletes it for this process meanwhile).
        exchange = self.exchange('direct')
        queue = self.queue(exchange, 'k', expires=60)
        conn = self.connection()
        self.declare(conn, exchange, queue)
        channel = conn.default_channel
        assert 'expire_at_1' in channel.queues.index_information()
        assert 'expire_at_1' in channel.routing.index_information()
        for doc in (channel.queues.find_one({'_id': queue.name}),
                    channel.routing.find_one({'queue': queue.name})):
            remaining = (doc['expire_at'] - channel.get_now()).total_seconds()
            assert 55 < remaining <= 60

    def test_binding_made_after_a_table_was_read_routes_within_the_cache_ttl(self) -> None:
        exchange = self.exchange('direct')
        first = self.queue(exchange, 'k')
        late = self.queue(exchange, 'k')
        publisher = self.connection()
        self.declare(publisher, exchange, first)
        self.publish(publisher, ['before'], exchange, 'k')  # the table is read and kept
        with Connection(self.url) as other:
            self.declare(other, late)
        time.sleep(1.1)  # routing_cache_ttl (1 s) later the publisher reads it again
        self.publish(publisher, ['after'], exchange, 'k')
        assert self.get_eventually(publisher, first, 2) == ['before', 'after']
        assert self.get_eventually(publisher, late, 1) == ['after']

    def test_idle_consumer_wakes_on_publish_not_on_the_poll(self) -> None:
        # A change stream of inserts wakes a waiting drain_events (SecantusDB is a
        # one-node replica set, so it has change streams; a standalone mongod polls).
        queue = self.queue()
        conn = Connection(self.url, transport_options={'polling_interval': 5})
        self._connections.append(conn)
        self.declare(conn, queue)
        got: list[float] = []
        with Consumer(conn, [queue], callbacks=[lambda b, m: (got.append(time.monotonic()),
                                                              m.ack())]):
            self.assert_no_delivery(conn, timeout=0.3)  # the stream is open now
            timer = threading.Timer(0.5, self.publish, (self.connection(), ['wake'], '',
                                                        queue.routing_key))
            started = time.monotonic()
            timer.start()
            conn.drain_events(timeout=4)
            timer.join()
        assert got and got[0] - started < 2.0  # not the 5 s poll
