"""RabbitMQ features through the Kombu API, on a private vhost of the shared broker."""
from __future__ import annotations

import socket
import time

import amqp
import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.asynchronous import Hub
from kombu.transport import native_delayed_delivery as ndd
from t.integration.rabbitmq.broker import amqp_url, private_vhost, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope='module')
def vhost():
    with private_vhost('feat') as name:
        yield name


@pytest.fixture
def url(vhost):
    return amqp_url(vhost)


@pytest.fixture
def conn(url):
    with Connection(url, connect_timeout=5) as connection:
        connection.connect()
        yield connection


def drain_into(conn, got, count, timeout=5.0):
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        try:
            conn.drain_events(timeout=0.2)
        except socket.timeout:
            pass
    return got


def consume_all(conn, queue, count, timeout=5.0, **consumer_kwargs):
    got = []

    def on_message(body, message):
        got.append((body, message))
        message.ack()
    with Consumer(conn, [queue], callbacks=[on_message], **consumer_kwargs):
        drain_into(conn, got, count, timeout)
    return got


def test_priorities_order_delivery(conn, uname):
    queue = Queue(uname('prio'), Exchange(uname('prio-x')), routing_key='p', max_priority=10)
    producer = Producer(conn)
    for priority in (1, 5, 9, 3, 0):
        producer.publish({'p': priority}, exchange=queue.exchange, routing_key='p',
                         declare=[queue], priority=priority)
    got = consume_all(conn, queue, 5)
    assert [body['p'] for body, _ in got] == [9, 5, 3, 1, 0]
    queue(conn.default_channel).delete()


def test_message_expiration_and_queue_ttl(conn, uname):
    ttl_queue = Queue(uname('ttl'), message_ttl=0.2)
    plain = Queue(uname('exp'))
    producer = Producer(conn)
    producer.publish('gone', routing_key=ttl_queue.name, declare=[ttl_queue])
    producer.publish('expires', routing_key=plain.name, declare=[plain], expiration=0.2)
    producer.publish('stays', routing_key=plain.name)
    time.sleep(0.5)
    assert ttl_queue(conn.default_channel).get() is None
    msg = plain(conn.default_channel).get(no_ack=True)
    assert msg.payload == 'stays'
    for q in (ttl_queue, plain):
        q(conn.default_channel).delete()


def test_queue_expires_when_unused(conn, uname):
    queue = Queue(uname('gone'), expires=0.5)
    queue(conn.default_channel).declare()
    chan = conn.channel()
    assert chan.queue_declare(queue.name, passive=True).queue == queue.name

    def deleted():
        probe = conn.channel()
        try:
            probe.queue_declare(queue.name, passive=True)
        except amqp.exceptions.NotFound:
            return True
        probe.close()
        return False
    # a passive declare counts as use, so probe less often than it expires
    assert wait_for(deleted, timeout=5, interval=1.0)


def test_max_length_drops_oldest(conn, uname):
    queue = Queue(uname('maxlen'), max_length=2)
    producer = Producer(conn)
    for i in range(4):
        producer.publish(i, routing_key=queue.name, declare=[queue])
    got = consume_all(conn, queue, 2)
    assert [body for body, _ in got] == [2, 3]
    queue(conn.default_channel).delete()


def test_max_length_bytes(conn, uname):
    queue = Queue(uname('maxbytes'), max_length_bytes=10)
    producer = Producer(conn)
    for body in (b'12345678', b'abcdefgh'):  # 16 bytes of bodies: the oldest goes
        producer.publish(body, routing_key=queue.name, declare=[queue],
                         content_type='application/data', content_encoding='binary')
    got = consume_all(conn, queue, 2, timeout=1)
    assert [body for body, _ in got] == [b'abcdefgh']
    queue(conn.default_channel).delete()


def _dead_letter_pair(uname, **queue_options):
    dlx = Exchange(uname('dlx'), type='fanout')
    dead = Queue(uname('dead'), dlx)
    work = Queue(uname('work'), queue_arguments={'x-dead-letter-exchange': dlx.name},
                 **queue_options)
    return dead, work


def test_dead_letter_on_reject(conn, uname):
    dead, work = _dead_letter_pair(uname)
    Producer(conn).publish({'n': 1}, routing_key=work.name, declare=[dead, work],
                           headers={'trace': 'abc'})
    got = []

    def reject(body, message):
        got.append(body)
        message.reject()
    with Consumer(conn, [work], callbacks=[reject]):
        drain_into(conn, got, 1)
    assert got == [{'n': 1}]
    (body, message), = consume_all(conn, dead, 1)
    assert body == {'n': 1}
    assert message.headers['trace'] == 'abc'
    death = message.headers['x-death'][0]
    assert death['reason'] == 'rejected' and death['queue'] == work.name
    for q in (dead, work):
        q(conn.default_channel).delete()


def test_dead_letter_on_expiry(conn, uname):
    dead, work = _dead_letter_pair(uname, message_ttl=0.1)
    Producer(conn).publish('late', routing_key=work.name, declare=[dead, work])
    (body, message), = consume_all(conn, dead, 1)
    assert body == 'late'
    assert message.headers['x-death'][0]['reason'] == 'expired'
    for q in (dead, work):
        q(conn.default_channel).delete()


def test_exchange_to_exchange_binding(conn, uname):
    source = Exchange(uname('src'), type='topic')
    dest = Exchange(uname('dst'), type='fanout')
    queue = Queue(uname('e2e'), dest)
    chan = conn.default_channel
    source(chan).declare()
    queue(chan).declare()
    dest(chan).bind_to(source, routing_key='a.*')
    producer = Producer(conn, exchange=source)
    producer.publish('yes', routing_key='a.b')
    producer.publish('no', routing_key='b.a')
    got = consume_all(conn, queue, 2, timeout=1)
    assert [body for body, _ in got] == ['yes']
    queue(chan).delete()
    for ex in (source, dest):
        ex(chan).delete()


def test_headers_exchange(conn, uname):
    ex = Exchange(uname('hdr'), type='headers')
    queue = Queue(uname('hdrq'), ex, binding_arguments={'x-match': 'all', 'kind': 'a'})
    producer = Producer(conn, exchange=ex)
    producer.publish('match', headers={'kind': 'a'}, declare=[queue])
    producer.publish('skip', headers={'kind': 'b'})
    got = consume_all(conn, queue, 2, timeout=1)
    assert [body for body, _ in got] == ['match']
    queue(conn.default_channel).delete()
    ex(conn.default_channel).delete()


def test_mandatory_unroutable_calls_on_return(conn, uname):
    returned = []

    def on_return(exc, exchange, routing_key, message):
        returned.append((exc.reply_code, exchange, routing_key, message.body))
    ex = Exchange(uname('ret'), type='direct')
    producer = Producer(conn, exchange=ex, on_return=on_return)
    producer.publish(b'nobody', routing_key='nowhere', mandatory=True, declare=[ex],
                     content_type='application/data', content_encoding='binary')
    assert wait_for(lambda: _drain_once(conn) or returned, timeout=5)
    assert returned == [(312, ex.name, 'nowhere', b'nobody')]


def _drain_once(conn):
    try:
        conn.drain_events(timeout=0.1)
    except socket.timeout:
        pass
    return False


def test_confirms_raise_on_nack(url, uname):
    with Connection(url, transport_options={'confirm_publish': True}) as conn:
        queue = Queue(uname('nack'), queue_arguments={
            'x-max-length': 1, 'x-overflow': 'reject-publish'})
        producer = Producer(conn)
        producer.publish('first', routing_key=queue.name, declare=[queue], confirm_timeout=5)
        with pytest.raises(amqp.exceptions.MessageNacked):
            producer.publish('second', routing_key=queue.name, confirm_timeout=5)
        got = consume_all(conn, queue, 1)
        assert [b for b, _ in got] == ['first']
        queue(conn.default_channel).delete()


def test_quorum_queue_consume_with_prefetch(conn, uname):
    queue = Queue(uname('quorum'), queue_arguments={'x-queue-type': 'quorum'})
    producer = Producer(conn)
    for i in range(6):
        producer.publish(i, routing_key=queue.name, declare=[queue])
    held = []
    consumer = Consumer(conn, [queue], callbacks=[lambda body, m: held.append((body, m))])
    # what Celery does on RabbitMQ: a global prefetch (qos_semantics_matches_spec is False)
    consumer.qos(prefetch_count=2, apply_global=True)
    with consumer:
        drain_into(conn, held, 6, timeout=0.7)
        assert [b for b, _ in held] == [0, 1]  # the window of 2 is honoured
        for _, message in held:
            message.ack()
        drain_into(conn, held, 4, timeout=5)
        assert [b for b, _ in held] == [0, 1, 2, 3]
        for _, message in held[2:]:
            message.ack()
        drain_into(conn, held, 6, timeout=5)
        for _, message in held[4:]:
            message.ack()
    assert [b for b, _ in held] == list(range(6))
    assert conn.connected
    queue(conn.default_channel).delete()


def test_stream_queue_consume_from_first(conn, uname):
    queue = Queue(uname('stream'), queue_arguments={'x-queue-type': 'stream'},
                  consumer_arguments={'x-stream-offset': 'first'})
    producer = Producer(conn)
    for i in range(3):
        producer.publish(i, routing_key=queue.name, declare=[queue])
    got = consume_all(conn, queue, 3, prefetch_count=10)
    assert [b for b, _ in got] == [0, 1, 2]
    queue(conn.default_channel).delete()


def test_basic_get_and_purge(conn, uname):
    queue = Queue(uname('get'))
    producer = Producer(conn)
    for i in range(3):
        producer.publish(i, routing_key=queue.name, declare=[queue])
    bound = queue(conn.default_channel)
    msg = bound.get()
    assert msg.payload == 0
    msg.ack()
    assert wait_for(lambda: bound.queue_declare(passive=True).message_count == 2)
    assert bound.purge() == 2
    assert bound.get() is None
    bound.delete()


def test_delayed_delivery_no_earlier_than_asked(url, uname):
    with Connection(url) as conn:
        prefix = uname('dd').replace('.', '_')
        ndd.declare_native_delayed_delivery_exchanges_and_queues(conn, 'quorum', prefix)
        ex = Exchange(uname('tasks'), type='topic')
        queue = Queue(uname('delayed'), ex, routing_key='task.run',
                      queue_arguments={'x-queue-type': 'quorum'})
        queue(conn.default_channel).declare()
        ndd.bind_queue_to_native_delayed_delivery_exchange(conn, queue, prefix)
        producer = Producer(conn)
        sent = {}
        for countdown in (2, 1):
            sent[countdown] = time.monotonic()
            producer.publish({'countdown': countdown},
                             exchange=ndd.level_name(ndd.MAX_LEVEL, prefix),
                             routing_key=ndd.calculate_routing_key(countdown, 'task.run'))
        arrived = {}

        def on_message(body, message):
            arrived[body['countdown']] = time.monotonic()
            message.ack()
        with Consumer(conn, [queue], callbacks=[on_message]):
            drain_into(conn, arrived, 2, timeout=10)
        assert set(arrived) == {1, 2}
        for countdown, at in arrived.items():
            waited = at - sent[countdown]
            assert countdown - 0.05 <= waited < countdown + 3, (countdown, waited)
        assert arrived[1] < arrived[2]


@pytest.mark.slow
def test_heartbeats_keep_idle_connection_alive(url, uname):
    # the Hub ticks heartbeats (registered by the transport); nothing else happens
    # on the connection for three heartbeat intervals
    hub = Hub()
    with Connection(url, heartbeat=2) as conn:
        conn.connect()
        raw = conn.connection
        assert raw.heartbeat == 2
        conn.transport.register_with_event_loop(raw, hub)
        sent_before = raw.bytes_sent
        deadline = time.monotonic() + 6.5
        while time.monotonic() < deadline:
            hub.run_once()
        assert raw.bytes_sent > sent_before  # heartbeat frames went out
        assert conn.connected
        queue = Queue(uname('alive'))
        Producer(conn).publish('still here', routing_key=queue.name, declare=[queue])
        conn.transport.unregister_from_event_loop(raw, hub)
        assert [b for b, _ in consume_all(conn, queue, 1)] == ['still here']
        queue(conn.default_channel).delete()
    hub.close()


@pytest.mark.slow
def test_idle_connection_without_heartbeat_ticks_is_dropped(url):
    # the control for the test above: with no ticks the server gives up on us
    with Connection(url, heartbeat=1) as conn:
        conn.connect()
        time.sleep(3.5)
        with pytest.raises(conn.connection_errors):
            conn.drain_events(timeout=1)


def test_consume_through_the_hub(url, uname):
    # Celery's worker path: the socket registered with the Hub, frames read by
    # on_readable when it is readable, no drain_events call from the test
    hub = Hub()
    with Connection(url) as conn:
        conn.connect()
        queue = Queue(uname('hub'))
        got = []

        def on_message(body, message):
            got.append(body)
            message.ack()
        with Consumer(conn, [queue], callbacks=[on_message], prefetch_count=10):
            conn.transport.register_with_event_loop(conn.connection, hub)
            producer = Producer(conn)
            for i in range(50):
                producer.publish(i, routing_key=queue.name, declare=[queue])
            deadline = time.monotonic() + 10
            while len(got) < 50 and time.monotonic() < deadline:
                hub.run_once()
            conn.transport.unregister_from_event_loop(conn.connection, hub)
        assert got == list(range(50))
        queue(conn.default_channel).delete()
    hub.close()


@pytest.mark.parametrize('scheme', ['pyamqp', 'librabbitmq'])
def test_url_aliases(vhost, scheme, uname):
    url = amqp_url(vhost).replace('amqp://', f'{scheme}://', 1)
    with Connection(url) as conn:
        assert conn.transport.driver_type == 'amqp'
        queue = Queue(uname(scheme))
        Producer(conn).publish('via ' + scheme, routing_key=queue.name, declare=[queue])
        assert queue(conn.default_channel).get(no_ack=True).payload == 'via ' + scheme
        queue(conn.default_channel).delete()


def test_amqplain_login(url):
    with Connection(url, login_method='AMQPLAIN') as conn:
        conn.connect()
        assert conn.connected


def test_consumer_cancel_notification(conn, url, uname):
    queue = Queue(uname('cancel'))
    bound = queue(conn.default_channel)
    bound.declare()
    cancelled = []
    tag = uname('tag')
    bound.consume(tag, callback=lambda raw: None, on_cancel=cancelled.append)
    with Connection(url) as other:
        queue(other.default_channel).delete()  # the server cancels our consumer
    assert wait_for(lambda: _drain_once(conn) or cancelled, timeout=5)
    assert cancelled == [tag]


def test_consumer_cancelled_without_handler_is_a_connection_error(conn, url, uname):
    # Kombu's Consumer sets no on_cancel: the cancel surfaces from drain_events as
    # a (recoverable) connection error, so Celery/ConsumerMixin reconnect and re-consume
    queue = Queue(uname('cancel2'))
    with Consumer(conn, [queue], callbacks=[lambda body, message: None]):
        with Connection(url) as other:
            queue(other.default_channel).delete()
        with pytest.raises(amqp.exceptions.ConsumerCancelled) as info:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                _drain_once(conn)
        assert isinstance(info.value, conn.connection_errors)
