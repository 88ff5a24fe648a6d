from __future__ import annotations

import logging
import socket
import threading
import uuid as _uuid

import pytest

from kombu import Connection
from kombu.common import (
    PREFETCH_COUNT_MAX,
    Broadcast,
    QoS,
    collect_replies,
    declaration_cached,
    drain_consumer,
    eventloop,
    generate_oid,
    get_node_id,
    ignore_errors,
    insured,
    itermessages,
    maybe_declare,
    oid_from,
    revive_connection,
    send_reply,
    uuid,
)
from kombu.entity import Exchange, Queue
from kombu.exceptions import ChannelError
from kombu.messaging import Consumer, Producer
from t.unit.recording import RecordingChannel


@pytest.fixture
def conn():
    with Connection('memory://') as connection:
        yield connection


# -- ids ---------------------------------------------------------------------------

def test_ids():
    assert get_node_id() == get_node_id()
    a, b = object(), object()
    assert oid_from(a) == oid_from(a) != oid_from(b)
    assert oid_from(a, threads=False) != oid_from(a)
    oid = generate_oid(1, 2, 3, a)
    assert str(_uuid.UUID(oid)) == oid
    assert len(uuid()) == 36 and uuid() != uuid()
    assert PREFETCH_COUNT_MAX == 0xFFFF


def test_oid_differs_between_threads():
    obj, seen = object(), []
    t = threading.Thread(target=lambda: seen.append(oid_from(obj)))
    t.start()
    t.join(5)
    assert seen[0] != oid_from(obj)


# -- Broadcast ---------------------------------------------------------------------

def test_broadcast_defaults():
    b = Broadcast('news')
    assert b.name.startswith('bcast.') and b.queue == b.name
    assert b.exchange == Exchange('news', type='fanout')
    assert b.alias == 'news' and b.auto_delete is True
    assert Broadcast('news').name != b.name
    named = Broadcast('news', queue='mine')
    assert named.name == 'mine'
    unique = Broadcast('news', queue='mine', unique=True)
    assert unique.name.startswith('mine.') and len(unique.name) > 10
    custom = Exchange('custom', 'fanout')
    assert Broadcast('news', exchange=custom).exchange is custom


def test_broadcast_copy_keeps_queue_and_alias():
    b = Broadcast('news', queue='q1')
    bound = b.bind(RecordingChannel())
    assert (bound.name, bound.queue, bound.alias) == ('q1', 'q1', 'news')
    assert bound.exchange.name == 'news'


def test_broadcast_every_consumer_gets_every_message(conn):
    b1, b2 = Broadcast('bc-test'), Broadcast('bc-test')
    got1, got2 = [], []
    with Consumer(conn, b1, callbacks=[lambda body, m: (got1.append(body), m.ack())]), \
            Consumer(conn, b2, callbacks=[lambda body, m: (got2.append(body), m.ack())]):
        Producer(conn).publish('hello', exchange=b1.exchange)
        for _ in range(2):
            conn.drain_events(timeout=1)
    assert got1 == ['hello'] and got2 == ['hello']


# -- maybe_declare ---------------------------------------------------------------------

def test_maybe_declare_caches_per_connection():
    chan = RecordingChannel()
    q = Queue('q', Exchange('ex'), 'rk')
    assert not declaration_cached(q, chan)
    assert maybe_declare(q, chan) is True
    assert declaration_cached(q, chan)
    assert maybe_declare(q, chan) is False
    assert maybe_declare(q.exchange, chan) is True  # a different entity
    assert chan.names() == ['exchange_declare', 'queue_declare', 'queue_bind',
                            'exchange_declare']
    other = RecordingChannel()  # another connection: declared again
    assert maybe_declare(q, other) is True


def test_maybe_declare_does_not_copy_and_names_server_named_queue():
    chan = RecordingChannel()
    q = Queue('', exclusive=True)
    assert maybe_declare(q, chan) is True
    assert q.name.startswith('amq.gen-') and not q.is_bound
    assert maybe_declare(q, chan) is True  # exclusive: never cached


def test_maybe_declare_bound_entity_without_channel():
    chan = RecordingChannel()
    ex = Exchange('ex', channel=chan)
    assert maybe_declare(ex) is True and chan.names() == ['exchange_declare']


def test_maybe_declare_unbound_without_channel_raises():
    with pytest.raises(ChannelError):
        maybe_declare(Exchange('ex'))


def test_maybe_declare_disconnected_channel():
    chan = RecordingChannel()
    chan.connection = None
    with pytest.raises(Exception, match='channel disconnected'):
        maybe_declare(Queue('q'), chan)


def test_maybe_declare_retry_uses_ensure_and_revives_channel():
    chan, fresh = RecordingChannel(), RecordingChannel()
    client = chan.connection.client
    q = Queue('q')
    assert maybe_declare(q, chan, retry=True, max_retries=3) is True
    task, fun, policy = client.ensure_calls[0]
    assert policy == {'max_retries': 3} and task is fun
    task.revive(fresh)                 # what Connection.ensure does after reconnecting
    fresh.connection.client.declared_entities.clear()
    assert task() is True and fresh.names() == ['queue_declare']


def test_maybe_declare_retry_with_real_connection(conn):
    q = Queue('retry-q')
    assert maybe_declare(q, conn.default_channel, retry=True, max_retries=1) is True
    assert declaration_cached(q, conn.default_channel)
    assert maybe_declare(q, conn, retry=True, max_retries=1) is False


# -- eventloop & draining -----------------------------------------------------------------

class TimeoutConn:
    def __init__(self, results):
        self.results = list(results)
        self.calls = 0

    def drain_events(self, timeout=None):
        self.calls += 1
        result = self.results.pop(0)
        if isinstance(result, BaseException):
            raise result
        return result


def test_eventloop_limit_and_timeouts():
    assert list(eventloop(TimeoutConn([1, 2, 3]), limit=2)) == [1, 2]
    conn = TimeoutConn([socket.timeout(), 'x'])
    assert list(eventloop(conn, limit=2, timeout=1, ignore_timeouts=True)) == ['x']
    with pytest.raises(socket.timeout):
        list(eventloop(TimeoutConn([socket.timeout()]), limit=1, timeout=1))
    # without a timeout a socket.timeout is not a reason to stop
    assert list(eventloop(TimeoutConn([socket.timeout(), 5]), limit=2)) == [5]
    forever = eventloop(TimeoutConn(range(100)))
    assert [next(forever) for _ in range(50)] == list(range(50))


def test_itermessages_and_drain_consumer(conn):
    q = Queue('iter-q')
    producer = Producer(conn)
    for i in range(3):
        producer.publish(i, routing_key=q.name, declare=[q])
    channel = conn.channel()
    bodies = []
    for body, message in itermessages(conn, channel, q, limit=3, timeout=1):
        bodies.append(body)
        message.ack()
    assert bodies == [0, 1, 2]
    assert list(itermessages(conn, channel, q, limit=1, timeout=0.05)) == []
    extra = []
    producer.publish('x', routing_key=q.name)
    consumer = Consumer(channel, q)
    out = list(drain_consumer(consumer, limit=1, timeout=1,
                              callbacks=[lambda body, m: extra.append(body)]))
    assert [body for body, _ in out] == ['x'] and extra == ['x']
    assert not consumer.consuming_from(q)   # cancelled when done
    channel.close()


def test_send_reply_and_collect_replies_round_trip(conn):
    requests = Queue('rpc-requests')
    replies = Queue('rpc-replies', auto_delete=True)
    reply_exchange = Exchange('')
    producer = Producer(conn)
    producer.publish({'ask': 1}, routing_key=requests.name, declare=[requests],
                     reply_to=replies.name, correlation_id='c-1')
    request = requests.bind(conn.default_channel).get()
    send_reply(reply_exchange, request, {'answer': 42}, producer=producer,
               declare=[replies], headers={'h': 1})
    channel = conn.channel()
    seen = []
    for body, message in itermessages(conn, channel, replies, limit=1, timeout=1):
        seen.append((body, message.properties.get('correlation_id'), message.headers))
    assert seen == [({'answer': 42}, 'c-1', {'h': 1})]
    producer.publish('again', routing_key=replies.name)
    assert list(collect_replies(conn, channel, replies, limit=1, timeout=1)) == ['again']
    channel.close()


def test_send_reply_properties():
    chan = RecordingChannel()

    class Request:
        properties = {'reply_to': 'rq', 'correlation_id': 'cid'}
        content_type = 'application/json'
        content_encoding = 'utf-8'
    send_reply(Exchange('rx'), Request(), {'r': 1}, producer=Producer(chan), priority=3)
    call = [kw for name, kw in chan.calls if name == 'basic_publish'][-1]
    assert call['exchange'] == 'rx' and call['routing_key'] == 'rq'
    assert call['message']['properties']['correlation_id'] == 'cid'
    assert call['message']['properties']['priority'] == 3
    assert call['message']['content-type'] == 'application/json'


def test_collect_replies_acks_when_not_no_ack(conn):
    q = Queue('ack-replies')
    Producer(conn).publish('r', routing_key=q.name, declare=[q])
    channel = conn.channel()
    assert list(collect_replies(conn, channel, q, limit=1, timeout=1, no_ack=False)) == [
        'r']
    channel.close()
    assert q.bind(conn.default_channel).get() is None   # acked, not restored


# -- errors and insurance ---------------------------------------------------------------

class ErrConn:
    connection_errors = (ConnectionResetError,)
    channel_errors = (KeyError,)


def test_ignore_errors_function_and_context_manager():
    def fail(exc):
        raise exc
    assert ignore_errors(ErrConn(), fail, ConnectionResetError()) is None
    assert ignore_errors(ErrConn(), lambda x: x * 2, 21) == 42
    with ignore_errors(ErrConn()):
        raise KeyError('ignored')
    with pytest.raises(ValueError), ignore_errors(ErrConn()):
        raise ValueError('not ignored')


def test_revive_connection_calls_on_revive():
    seen = []
    revive_connection(None, 'chan', on_revive=seen.append)
    revive_connection(None, 'chan')
    assert seen == ['chan']


def test_insured_calls_fun_with_connection_and_channel(conn):
    calls = []

    def fun(x, channel=None, connection=None):
        calls.append((x, channel, connection))
        return x * 2

    assert insured(conn.Pool(limit=1), fun, (21,), {}) == 42
    x, channel, connection = calls[0]
    assert x == 21 and channel is not None and connection is not None


# -- QoS -------------------------------------------------------------------------------

def test_qos_increment_decrement_update():
    applied = []
    qos = QoS(lambda prefetch_count: applied.append(prefetch_count), 10)
    assert qos.increment_eventually() == 11 and qos.increment_eventually(4) == 15
    assert qos.increment_eventually(-3) == 15  # negative increments ignored
    assert qos.decrement_eventually(5) == 10
    assert qos.decrement_eventually(100) == 1  # never below one
    assert applied == []
    qos.update()
    qos.update()
    assert applied == [1]
    assert qos.set(7) == 7 and applied == [1, 7]


def test_qos_zero_means_unlimited_and_max_prefetch():
    applied = []
    qos = QoS(lambda prefetch_count: applied.append(prefetch_count), 0)
    assert qos.increment_eventually() == 0 and qos.decrement_eventually() == 0
    capped = QoS(applied.append, 8, max_prefetch=10)
    assert capped.increment_eventually(5) == 10


def test_qos_disabled_when_too_large(caplog):
    applied = []
    qos = QoS(lambda prefetch_count: applied.append(prefetch_count), 1)
    with caplog.at_level(logging.WARNING):
        qos.set(PREFETCH_COUNT_MAX + 1)
    assert applied == [0] and 'exceeds' in caplog.text


def test_qos_thread_safety():
    qos = QoS(lambda prefetch_count: None, 1)
    threads = [threading.Thread(target=lambda: [qos.increment_eventually()
                                                for _ in range(1000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert qos.value == 4001
