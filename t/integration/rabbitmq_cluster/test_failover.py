"""A member of the cluster is killed (``kill -9``), or its RabbitMQ app stopped
(``rabbitmqctl stop_app``), under a confirming publisher and a ConsumerMixin consumer
connected to it: both move on to a live member.

Both use ``Connection('amqp://a;amqp://b;amqp://c')`` and so start on the first
member, which also leads the quorum queue (declared there).  Every publish
carries its number and an ``attempt`` header that the retry policy's errback
bumps, so the consumer can tell a publisher's retry (a new attempt: at least
once, allowed) from the broker delivering the same message again (the same
attempt: must be flagged ``redelivered``).
"""
from __future__ import annotations

import collections
import threading
from typing import Any

import pytest

from kombu import Connection, Producer, Queue
from kombu.mixins import ConsumerMixin
from t.integration.rabbitmq.broker import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RETRY_POLICY = {'max_retries': 40, 'interval_start': 0, 'interval_step': 0.25,
                'interval_max': 1}
BEFORE_KILL = 300     # confirmed before the kill
AFTER_KILL = 300      # confirmed after the publisher reconnected
ACK_BATCH = 20


class Publisher(threading.Thread):
    def __init__(self, url: str, queue: Queue) -> None:
        super().__init__(daemon=True)
        self.url, self.queue = url, queue
        self.published = 0
        self.confirmed: list[int] = []
        self.retries = 0
        self.errors: list[BaseException] = []
        self.port: int | None = None
        self.stop = threading.Event()
        self.events: list[str] = []   # what each retry was for

    def run(self) -> None:
        with Connection(self.url, transport_options={'confirm_publish': True}) as conn:
            producer = Producer(conn)
            i = 0
            while not self.stop.is_set():
                headers = {'attempt': 0}

                def retried(exc: BaseException, interval: float, headers=headers) -> None:
                    headers['attempt'] += 1   # the retried publish sends this dict again
                    self.retries += 1
                    self.events.append(type(exc).__name__)

                self.published += 1
                try:
                    producer.publish({'i': i}, routing_key=self.queue.name, headers=headers,
                                     declare=[self.queue], retry=True, confirm_timeout=10,
                                     retry_policy=dict(RETRY_POLICY, errback=retried))
                except Exception as exc:  # gave up: counted, and the test fails on it
                    self.errors.append(exc)
                else:
                    self.confirmed.append(i)
                    self.port = conn.port
                i += 1


class Worker(ConsumerMixin):
    def __init__(self, connection: Connection, queue: Queue) -> None:
        self.connection = connection
        self.queue = queue
        self.deliveries: list[tuple[int, int, bool]] = []   # (i, attempt, redelivered)
        self.ports: list[int] = []
        self.errors: list[BaseException] = []
        self.held: list[Any] = []

    def get_consumers(self, Consumer: Any, channel: Any) -> list:
        self.ports.append(channel.connection.client.port)
        self.held = []  # unacked messages of a lost channel are the broker's again
        return [Consumer([self.queue], callbacks=[self.on_message], prefetch_count=50)]

    def on_message(self, body: dict, message: Any) -> None:
        self.deliveries.append((body['i'], message.headers['attempt'],
                                message.delivery_info['redelivered']))
        # acked in batches, so the kill finds some seen but unacked: the broker
        # must hand those out again, flagged
        self.held.append(message)
        if len(self.held) >= ACK_BATCH:
            for held in self.held:
                held.ack()
            self.held = []

    def on_connection_error(self, exc: BaseException, interval: float) -> None:
        self.errors.append(exc)


def _report(publisher: Publisher, worker: Worker) -> dict:
    seen = collections.Counter(i for i, _, _ in worker.deliveries)
    copies = collections.Counter((i, attempt) for i, attempt, _ in worker.deliveries)
    confirmed = set(publisher.confirmed)
    return {
        'published': publisher.published,
        'confirmed': len(confirmed),
        'consumed': len(seen),
        'deliveries': len(worker.deliveries),
        'lost': len(confirmed - set(seen)),
        'duplicated': sum(n - 1 for n in seen.values()),
        'redelivered_by_broker': sum(n - 1 for n in copies.values()),
        'publish_retries': publisher.retries,
        'publish_failures': len(publisher.errors),
        'retried_for': dict(collections.Counter(publisher.events)),
    }


@pytest.mark.parametrize('how', ['kill', 'stop_app'])
def test_publisher_and_consumer_survive_a_failed_member(how, full_cluster, uname):
    cluster = full_cluster
    queue = Queue(uname('failover'), durable=True,
                  queue_arguments={'x-queue-type': 'quorum'})
    publisher = Publisher(cluster.failover_url, queue)
    publisher.start()
    assert wait_for(lambda: len(publisher.confirmed) >= 1, timeout=20), publisher.errors
    consumer_conn = Connection(cluster.failover_url)
    worker = Worker(consumer_conn, queue)
    consumer = threading.Thread(target=worker.run, daemon=True)
    consumer.start()
    victim = cluster.nodes[0]
    try:
        assert wait_for(lambda: len(publisher.confirmed) >= BEFORE_KILL
                        and worker.deliveries, timeout=60), _report(publisher, worker)
        assert cluster.queue_info(queue.name, 'leader')['leader'] == victim.name
        assert publisher.port == worker.ports[-1] == victim.amqp_port
        cluster.fail(victim, how)
        killed_at = len(publisher.confirmed)
        assert wait_for(lambda: len(publisher.confirmed) >= killed_at + AFTER_KILL,
                        timeout=90), _report(publisher, worker)
        publisher.stop.set()
        publisher.join(60)
        assert not publisher.is_alive()
        # the consumer drains what is left
        confirmed = set(publisher.confirmed)
        wait_for(lambda: confirmed <= {i for i, _, _ in worker.deliveries}, timeout=60)
    finally:
        publisher.stop.set()
        worker.should_stop = True
        consumer.join(10)
        consumer_conn.release()
    report = _report(publisher, worker)
    print(f'\n{how} of the connected member (the queue leader):', report)
    try:
        assert publisher.port != victim.amqp_port
        assert worker.ports[-1] != victim.amqp_port
        assert publisher.retries >= 1 and worker.errors  # both saw the node go
        assert not publisher.errors, publisher.errors[:3]
        assert report['lost'] == 0, report
        assert report['redelivered_by_broker'] >= 1, report  # the check below is not empty
        first_seen: set[tuple[int, int]] = set()
        for i, attempt, redelivered in worker.deliveries:
            if (i, attempt) in first_seen:
                assert redelivered, f'message {i} (attempt {attempt}) came again unflagged'
            first_seen.add((i, attempt))
        info = cluster.queue_info(queue.name, 'leader', 'online')
        assert info['leader'] != victim.name and victim.name not in info['online']
    finally:
        cluster.restart(victim)
        with Connection(cluster.failover_url) as conn:
            queue(conn.default_channel).delete()
