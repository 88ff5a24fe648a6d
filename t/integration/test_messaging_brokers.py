"""Producer/Consumer/entities end to end on the real brokers (RabbitMQ, Redis)."""
from __future__ import annotations

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.common import maybe_declare
from t.servers import require_server

pytestmark = pytest.mark.integration

BROKERS = {
    'amqp': ('RabbitMQ', 5672, 'amqp://guest:guest@127.0.0.1:5672//'),
    'redis': ('Redis', 6379, 'redis://127.0.0.1:6379/0'),
}


@pytest.fixture(params=sorted(BROKERS))
def conn(request):
    name, port, url = BROKERS[request.param]
    require_server(name, '127.0.0.1', port, 'bash .ci/start-servers')
    with Connection(url, connect_timeout=5) as connection:
        connection.ensure_connection(max_retries=2)
        yield connection


@pytest.fixture
def cleanup(conn):
    entities = []
    yield entities.append
    channel = conn.channel()
    try:
        for entity in entities:
            try:
                entity.bind(channel).delete()
            except conn.channel_errors + conn.connection_errors:
                channel = conn.channel()
    finally:
        channel.close()


def consume(conn, queues, count, **consumer_options):
    got = []

    def on_message(body, message):
        got.append((body, message))
        message.ack()
    with Consumer(conn, queues, callbacks=[on_message], **consumer_options):
        while len(got) < count:
            conn.drain_events(timeout=5)
    return got


def test_publish_consume_count_and_compare(conn, uname, cleanup):
    ex = Exchange(uname('ex'), 'direct', durable=False)
    q = Queue(uname('q'), ex, 'rk', durable=False)
    cleanup(q)
    cleanup(ex)
    sent = [{'i': i, 'text': 'é' * (i % 5)} for i in range(40)]
    producer = Producer(conn, exchange=ex, routing_key='rk')
    for body in sent:
        producer.publish(body, declare=[q], headers={'n': body['i']}, priority=1,
                         correlation_id=str(body['i']))
    got = consume(conn, [q], len(sent), prefetch_count=10)
    assert [body for body, _ in got] == sent
    for body, message in got:
        assert message.headers['n'] == body['i']
        assert message.properties['correlation_id'] == str(body['i'])
        assert message.delivery_info['routing_key'] == 'rk'


def test_publish_with_retry_and_cached_declarations(conn, uname, cleanup):
    q = Queue(uname('q'), durable=False)
    cleanup(q)
    producer = Producer(conn)
    for i in range(3):
        producer.publish(i, routing_key=q.name, declare=[q], retry=True,
                         retry_policy={'max_retries': 2, 'interval_start': 0})
    assert hash(q) in conn.declared_entities
    assert maybe_declare(q, conn.default_channel) is False
    assert [body for body, _ in consume(conn, [q], 3)] == [0, 1, 2]


def test_batch_publish(conn, uname, cleanup):
    q = Queue(uname('q'), durable=False)
    cleanup(q)
    producer = Producer(conn)
    producer.maybe_declare(q)
    with producer.batch(max_size=100):
        for i in range(250):
            producer.publish(i, routing_key=q.name)
    assert sorted(body for body, _ in consume(conn, [q], 250)) == list(range(250))


def test_several_queues_one_consumer_and_get(conn, uname, cleanup):
    ex = Exchange(uname('topic'), 'topic', durable=False)
    qa = Queue(uname('qa'), ex, 'a.*', durable=False)
    qb = Queue(uname('qb'), ex, '#.b', durable=False)
    for entity in (qa, qb, ex):
        cleanup(entity)
    producer = Producer(conn, exchange=ex)
    producer.publish('ab', routing_key='a.b', declare=[qa, qb])
    producer.publish('xb', routing_key='x.b')
    producer.publish('ax', routing_key='a.x')
    got = consume(conn, [qa, qb], 4)
    assert sorted(body for body, _ in got) == ['ab', 'ab', 'ax', 'xb']
    producer.publish('polled', routing_key='a.z')
    bound = qa.bind(conn.default_channel)
    for _ in range(50):
        message = bound.get(no_ack=True)
        if message is not None:
            break
    assert message is not None and message.payload == 'polled'


def test_rabbitmq_server_named_queue_and_exchange_to_exchange(conn, uname, cleanup):
    if conn.transport.driver_type != 'amqp':
        pytest.skip('server-named queues and e2e bindings are AMQP features')
    src = Exchange(uname('src'), 'topic', durable=False)
    dest = Exchange(uname('dest'), 'fanout', durable=False)
    for entity in (src, dest):
        cleanup(entity)
    channel = conn.default_channel
    reply = Queue('', dest, exclusive=True)
    src.declare(channel=channel)
    dest.declare(channel=channel)
    dest.bind(channel).bind_to(src, routing_key='news.#')
    with Consumer(conn, [reply], callbacks=[]) as consumer:
        name = consumer.queues[0].name
        assert name.startswith('amq.gen-')
        got = []
        consumer.register_callback(lambda body, m: (got.append(body), m.ack()))
        Producer(conn, exchange=src).publish('hello', routing_key='news.today')
        Producer(conn).publish('direct', routing_key=name)
        while len(got) < 2:
            conn.drain_events(timeout=5)
    assert sorted(got) == ['direct', 'hello']


@pytest.mark.slow
def test_rabbitmq_declare_and_publish_retry_after_server_closed_connection(uname):
    from t.integration.rabbitmq.broker import (
        close_connections_named,
        connection_pids,
        require_rabbitmq,
        wait_for,
    )
    require_rabbitmq()
    name = uname('h2-retry')
    url = BROKERS['amqp'][2]
    policy = {'max_retries': 5, 'interval_start': 0, 'interval_step': 0.1,
              'interval_max': 0.2}
    with Connection(url, transport_options={'connection_name': name}) as conn:
        q = Queue(uname('q'), durable=False, auto_delete=False)
        conn.default_channel  # connect
        first = conn.connection
        assert wait_for(lambda: connection_pids(name))
        assert close_connections_named(name) >= 1
        # the channel is dead: both calls reconnect and carry on
        assert maybe_declare(q, conn.default_channel, retry=True, **policy) is True
        second = conn.connection
        assert second is not first  # it did reconnect
        assert wait_for(lambda: connection_pids(name))
        assert close_connections_named(name) >= 1
        producer = Producer(conn)
        producer.publish('after-drop', routing_key=q.name, declare=[q], retry=True,
                         retry_policy=policy)
        assert conn.connection is not second
        try:
            bound = q.bind(conn.default_channel)
            got = []

            def fetch():
                message = bound.get(no_ack=True)
                if message is not None:
                    got.append(message.payload)
                return bool(got)
            assert wait_for(fetch) and got == ['after-drop']
        finally:
            q.bind(conn.default_channel).delete()
