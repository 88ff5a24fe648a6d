"""Broker faults on private servers: Redis restart under a ConsumerMixin and
under a retried publish whose declare meets it, Sentinel failover under a
publisher."""
from __future__ import annotations

import threading
import time

import pytest
import redis

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.mixins import ConsumerMixin
from t.integration.redis.servers import RedisProcess, SentinelSetup

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def private_redis():
    server = RedisProcess().start()
    yield server
    server.stop()


class Worker(ConsumerMixin):
    def __init__(self, connection, queue):
        self.connection = connection
        self.queue = queue
        self.got = []

    def get_consumers(self, Consumer, channel):
        return [Consumer([self.queue], callbacks=[self.on_message], prefetch_count=10)]

    def on_message(self, body, message):
        self.got.append(body)
        message.ack()


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_consumer_mixin_survives_redis_restart(private_redis, uname):
    name = uname('restart')
    queue = Queue(name, Exchange(name), name)
    url = private_redis.url
    options = {'socket_timeout': 2, 'socket_connect_timeout': 1}
    worker = Worker(Connection(url, transport_options=options), queue)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()

    def publish(i):
        with Connection(url) as conn:
            producer = Producer(conn.channel())
            queue(producer.channel).declare()
            producer.publish(i, exchange=queue.exchange, routing_key=name)
    try:
        publish(1)
        assert wait_for(lambda: worker.got == [1])
        private_redis.restart(down_for=1.0)  # in-memory: the queue is gone too
        publish(2)
        assert wait_for(lambda: 2 in worker.got), worker.got
        publish(3)
        assert wait_for(lambda: 3 in worker.got), worker.got
    finally:
        worker.should_stop = True
        thread.join(10)
    assert not thread.is_alive()
    assert worker.got == [1, 2, 3]


def test_retried_publish_uses_the_channel_its_declare_revived(private_redis, uname):
    # The declare's own retry reconnects; the publish after it must go out
    # once, on the revived channel, not on the dead one.
    warm, name = Queue(uname('warm')), Queue(uname('declared-late'))
    options = {'socket_timeout': 2, 'socket_connect_timeout': 1}
    with Connection(private_redis.url, transport_options=options) as conn:
        producer = Producer(conn)
        producer.publish('warm', routing_key=warm.name, declare=[warm])
        private_redis.kill()
        restarter = threading.Thread(
            target=lambda: (time.sleep(0.5), private_redis.start()), daemon=True)
        restarter.start()
        # ``name`` is not in the declaration cache: the first broker call of
        # this publish is its declare, which is the one that meets the outage.
        producer.publish('once', routing_key=name.name, declare=[name], retry=True,
                         retry_policy={'max_retries': 20, 'interval_start': 0.1,
                                       'interval_step': 0.2, 'interval_max': 0.5})
        restarter.join(10)
    with Connection(private_redis.url) as conn:
        queue = name(conn.default_channel)
        got = []
        while (message := queue.get(no_ack=True)) is not None:
            got.append(message.payload)
        assert got == ['once']


@pytest.fixture
def sentinel_setup():
    setup = SentinelSetup().start()
    yield setup
    setup.stop()


def test_sentinel_discovery_and_failover_under_publisher(sentinel_setup, uname):
    name = uname('sentinel')
    queue = Queue(name, Exchange(name), name)
    # publish_replicas: a publish counts only once the replica has it
    options = {'master_name': 'mymaster', 'socket_timeout': 2,
               'socket_connect_timeout': 1, 'publish_replicas': 1,
               'publish_replicas_timeout': 500}
    published = []
    stop = threading.Event()
    errors = []

    def publisher():
        with Connection(sentinel_setup.url, transport_options=options) as conn:
            producer = Producer(conn.channel())
            queue(producer.channel).declare()
            publish = conn.ensure(producer, producer.publish, max_retries=50,
                                  interval_start=0.1, interval_step=0.2, interval_max=0.5)
            i = 0
            while not stop.is_set():
                try:
                    publish(i, exchange=queue.exchange, routing_key=name)
                except Exception as exc:  # pragma: no cover - reported below
                    errors.append(exc)
                    return
                published.append(i)
                i += 1
                time.sleep(0.01)

    thread = threading.Thread(target=publisher, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: len(published) > 20)
        old_port = sentinel_setup.master_port()
        new_port = sentinel_setup.failover()
        assert new_port != old_port
        count_at_failover = len(published)
        assert wait_for(lambda: len(published) > count_at_failover + 20), errors
    finally:
        stop.set()
        thread.join(30)
    assert not errors
    # every acknowledged publish is on the new master (graceful failover syncs)
    stored = redis.Redis(port=sentinel_setup.master_port()).lrange(name, 0, -1)
    with Connection(sentinel_setup.url, transport_options=options) as conn:
        got = []
        with Consumer(conn.channel(), [queue], prefetch_count=50,
                      callbacks=[lambda b, m: (got.append(b), m.ack())]):
            deadline = time.monotonic() + 10
            # the store may hold duplicates (publishes retried across the
            # failover): drain until every published one came, not a count
            while not set(published) <= set(got) and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.5)
                except Exception:
                    pass
    assert len(stored) >= len(published)
    assert set(published) <= set(got)


def test_sentinel_kwargs_reach_a_password_protected_sentinel(uname):
    setup = SentinelSetup(sentinel_password='s3cret').start()
    try:
        name = uname('sentauth')
        options = {'master_name': 'mymaster', 'sentinel_kwargs': {'password': 's3cret'}}
        with Connection(setup.url, transport_options=options) as conn:
            queue = conn.SimpleQueue(name)
            queue.put('via sentinel')
            message = queue.get(timeout=5)
            assert message.payload == 'via sentinel'
            message.ack()
            queue.close()
        assert redis.Redis(port=setup.master_port()).exists(f'_kombu.binding.{name}')
        conn = Connection(setup.url, transport_options={'master_name': 'mymaster'})
        with pytest.raises(Exception, match='(?i)auth'):
            conn.ensure_connection(max_retries=1)
        conn.release()
    finally:
        setup.stop()
