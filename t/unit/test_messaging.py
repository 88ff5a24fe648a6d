from __future__ import annotations

import pickle
import threading

import pytest

from kombu import Connection
from kombu.abstract import MaybeChannelBound
from kombu.compression import decompress
from kombu.entity import Exchange, Queue
from kombu.exceptions import ContentDisallowed, DecodeError
from kombu.messaging import DEFAULT_BATCH_SIZE, Consumer, Producer
from kombu.serialization import loads
from t.unit.recording import RecordingChannel

# -- helpers -------------------------------------------------------------------


def published(chan):
    return [kw for name, kw in chan.calls if name == 'basic_publish']


@pytest.fixture
def conn():
    with Connection('memory://') as connection:
        yield connection


@pytest.fixture
def chan():
    return RecordingChannel()


def drain(connection, consumer_or_count, timeout=1.0):
    for _ in range(consumer_or_count):
        connection.drain_events(timeout=timeout)


# -- Producer: construction ------------------------------------------------------

def test_producer_defaults(chan):
    p = Producer(chan)
    assert p.exchange == Exchange('') and p.exchange.is_bound
    assert p.exchange.channel is chan and p.channel is chan
    assert (p.routing_key, p.serializer, p.compression, p.auto_declare) == (
        '', None, None, True)
    assert repr(p) == f'<Producer: {chan!r}>'
    assert Producer(chan, exchange='named').exchange.name == 'named'


def test_producer_does_not_declare_at_init(chan):
    Producer(chan, exchange=Exchange('ex'))
    assert chan.calls == []


def test_producer_pickles_without_channel(chan):
    p = Producer(chan, Exchange('ex', 'topic'), routing_key='rk', serializer='pickle',
                 compression='zlib', auto_declare=False)
    again = pickle.loads(pickle.dumps(p))
    assert again.exchange == p.exchange and again.routing_key == 'rk'
    assert (again.serializer, again.compression, again.auto_declare) == (
        'pickle', 'zlib', False)
    assert again._channel is None


def test_producer_on_return_registered_on_channel(chan):
    def on_return(*args):
        pass
    Producer(chan, on_return=on_return)
    assert on_return in chan.events['basic_return']


def test_producer_with_connection_uses_default_channel_lazily(conn):
    p = Producer(conn)
    assert p.__connection__ is conn and p.connection is conn
    assert p.channel is conn.default_channel
    assert p.exchange.channel is conn.default_channel


# -- Producer: wire format -------------------------------------------------------

def test_publish_builds_message_like_kombu(chan):
    p = Producer(chan, exchange=Exchange('ex'), routing_key='default-rk')
    p.publish({'hello': 'world'}, headers={'h': 1}, priority=5, expiration=1.5,
              correlation_id='c-1', reply_to='replies', timeout=3, confirm_timeout=4)
    call = published(chan)[0]
    message = call.pop('message')
    assert call == {'exchange': 'ex', 'routing_key': 'default-rk', 'mandatory': False,
                    'immediate': False, 'timeout': 3, 'confirm_timeout': 4}
    assert message['content-type'] == 'application/json'
    assert message['content-encoding'] == 'utf-8'
    assert loads(message['body'], 'application/json', 'utf-8') == {'hello': 'world'}
    assert message['headers'] == {'h': 1}
    assert message['properties'] == {
        'delivery_mode': 2, 'expiration': '1500', 'priority': 5,
        'correlation_id': 'c-1', 'reply_to': 'replies'}


def test_publish_delivery_mode_sources(chan):
    p = Producer(chan, exchange=Exchange('ex', delivery_mode='transient'))
    p.publish(1)
    p.publish(1, delivery_mode='persistent')
    p.publish(1, exchange=Exchange('other', delivery_mode=2))
    p.publish(1, exchange='by-name')
    modes = [c['message']['properties']['delivery_mode'] for c in published(chan)]
    exchanges = [c['exchange'] for c in published(chan)]
    assert modes == [1, 2, 2, 1]
    assert exchanges == ['ex', 'ex', 'other', 'by-name']


def test_publish_raw_bodies(chan):
    p = Producer(chan)
    p.publish('héllo', content_type='text/plain')
    p.publish(b'\x00\x01', content_type='application/data')
    p.publish('x', content_type='text/plain', content_encoding='latin-1')
    first, second, third = (c['message'] for c in published(chan))
    assert (first['body'], first['content-encoding']) == ('héllo'.encode(), 'utf-8')
    assert (second['body'], second['content-encoding']) == (b'\x00\x01', 'binary')
    assert (third['body'], third['content-encoding']) == (b'x', 'latin-1')


def test_publish_serializer_choice(chan):
    Producer(chan, serializer='pickle').publish({'a': 1})
    Producer(chan, serializer='pickle').publish({'a': 1}, serializer='json')
    types = [c['message']['content-type'] for c in published(chan)]
    assert types == ['application/x-python-serialize', 'application/json']


def test_publish_compression_sets_header_without_touching_callers_headers(chan):
    headers = {'mine': True}
    Producer(chan, compression='zlib').publish({'n': 1}, headers=headers)
    message = published(chan)[0]['message']
    assert headers == {'mine': True}
    assert message['headers'] == {'mine': True, 'compression': 'application/x-gzip'}
    raw = decompress(message['body'], 'application/x-gzip')
    assert loads(raw, 'application/json', 'utf-8') == {'n': 1}


def test_publish_reply_to_queue_uses_its_declared_name(chan):
    reply = Queue('', exclusive=True)
    Producer(chan).publish('ping', reply_to=reply, declare=[reply])
    props = published(chan)[0]['message']['properties']
    assert props['reply_to'] == reply.name and reply.name.startswith('amq.gen-')


def test_publish_does_not_grow_callers_declare_list(chan):
    declare = [Queue('q')]
    p = Producer(chan, exchange=Exchange('ex'))
    p.publish(1, declare=declare)
    p.publish(1, declare=declare)
    assert len(declare) == 1


# -- Producer: declarations --------------------------------------------------------

def test_declarations_are_cached_per_connection(chan):
    ex = Exchange('ex')
    q = Queue('q', ex, 'rk')
    p = Producer(chan, exchange=ex)
    p.publish(1, routing_key='rk', declare=[q])
    assert chan.names() == ['exchange_declare', 'exchange_declare', 'queue_declare',
                            'queue_bind', 'basic_publish']
    chan.calls.clear()
    for _ in range(3):
        p.publish(1, routing_key='rk', declare=[q])
    assert chan.names() == ['basic_publish'] * 3
    assert hash(ex) in chan.connection.client.declared_entities


def test_hot_path_makes_no_entity_copies(chan, monkeypatch):
    q = Queue('q', Exchange('ex'), 'rk')
    p = Producer(chan, exchange=Exchange('ex'))
    p.publish(1, routing_key='rk', declare=[q])
    copies = []
    real_bind = MaybeChannelBound.bind

    def counting_bind(self, channel):
        copies.append(self)
        return real_bind(self, channel)
    monkeypatch.setattr(MaybeChannelBound, 'bind', counting_bind)
    for _ in range(5):
        p.publish(1, routing_key='rk', declare=[q])
    assert copies == []


def test_uncacheable_entities_are_declared_every_time(chan):
    q = Queue('auto', auto_delete=True)
    p = Producer(chan)
    p.publish(1, declare=[q])
    p.publish(1, declare=[q])
    assert chan.names().count('queue_declare') == 2


def test_auto_declare_off_and_default_exchange_never_declared(chan):
    Producer(chan, exchange=Exchange('ex'), auto_declare=False).publish(1)
    Producer(chan).publish(1)
    assert 'exchange_declare' not in chan.names()


def test_producer_declare_and_maybe_declare(chan):
    p = Producer(chan, exchange=Exchange('ex'))
    p.declare()
    assert chan.names() == ['exchange_declare']
    q = Queue('q')
    assert p.maybe_declare(q) is True and p.maybe_declare(q) is False
    assert p.maybe_declare(None) is None
    assert chan.names().count('queue_declare') == 1


def test_publish_retry_goes_through_connection_ensure(chan):
    p = Producer(chan)
    p.publish(1, retry=True, retry_policy={'max_retries': 2, 'interval_start': 0})
    client = chan.connection.client
    obj, fun, policy = client.ensure_calls[0]
    assert obj is p and fun == p._publish
    assert policy == {'max_retries': 2, 'interval_start': 0}
    assert len(published(chan)) == 1


def test_producer_context_manager_replaces_failed_pooled_connection(conn, monkeypatch):
    pool = conn.Pool(limit=2)
    replaced = []
    monkeypatch.setattr(pool, 'replace', replaced.append)
    pooled = pool.acquire()
    p = Producer(pooled)
    with pytest.raises(KeyError), p:
        raise KeyError('boom')
    assert replaced == [pooled]
    with p:
        pass
    assert replaced == [pooled]
    Producer(conn).__exit__(KeyError, KeyError(), None)  # not pooled: nothing to do
    pooled.release()


# -- Producer: batches ----------------------------------------------------------------

class RecordingBatch:
    def __init__(self, channel, max_size):
        self.channel, self.max_size = channel, max_size
        self.pending, self.log = [], []

    def publish(self, message, **kwargs):
        self.pending.append((message, kwargs))
        if len(self.pending) >= self.max_size:
            self.flush()

    def flush(self):
        for message, kwargs in self.pending:
            self.channel.basic_publish(message, **kwargs)
        self.log.append(('flush', len(self.pending)))
        self.pending = []

    def discard(self):
        self.log.append(('discard', len(self.pending)))
        self.pending = []

    def close(self):
        self.log.append(('close',))


class BatchingChannel(RecordingChannel):
    def __init__(self):
        super().__init__()
        self.batches = []

    def create_publish_batch(self, max_size):
        batch = RecordingBatch(self, max_size)
        self.batches.append(batch)
        return batch


def test_batch_defers_to_transport_batch_and_flushes_on_exit():
    chan = BatchingChannel()
    p = Producer(chan)
    with p.batch(max_size=3) as batch:
        for i in range(4):
            p.publish(i, routing_key='q')
        assert len(published(chan)) == 3      # one automatic flush at max_size
        batch.flush()
        assert len(published(chan)) == 4
        p.publish(4, routing_key='q')
    sent = [loads(c['message']['body'], 'application/json', 'utf-8')
            for c in published(chan)]
    assert sent == [0, 1, 2, 3, 4]
    assert chan.batches[0].log == [('flush', 3), ('flush', 1), ('flush', 1), ('close',)]


def test_batch_exception_discards_unflushed_and_nested_blocks_share_one_batch():
    chan = BatchingChannel()
    p = Producer(chan)
    with pytest.raises(ZeroDivisionError):
        with p.batch():
            p.publish(1, routing_key='q')
            with p.batch():
                p.publish(2, routing_key='q')
            1 / 0
    assert published(chan) == [] and len(chan.batches) == 1
    assert chan.batches[0].log == [('discard', 2), ('close',)]
    p.publish(3, routing_key='q')           # outside any batch: sent at once
    assert len(published(chan)) == 1


def test_batch_without_transport_support_publishes_immediately(chan):
    p = Producer(chan)
    with p.batch():
        p.publish(1, routing_key='q')
        assert len(published(chan)) == 1


def test_batch_is_per_thread():
    chan = BatchingChannel()
    p = Producer(chan)
    with p.batch():
        p.publish(1, routing_key='q')
        t = threading.Thread(target=p.publish, args=(2,), kwargs={'routing_key': 'q'})
        t.start()
        t.join(5)
        assert len(published(chan)) == 1   # the other thread's publish went out
    assert len(published(chan)) == 2


def test_batch_arguments_and_misuse(chan):
    p = Producer(chan)
    assert DEFAULT_BATCH_SIZE == 1000
    for bad in (0, -1, True, 1.5, '10'):
        with pytest.raises(ValueError):
            p.batch(bad)
    block = p.batch()
    with block:
        pass
    with pytest.raises(RuntimeError):
        block.__enter__()
    with pytest.raises(RuntimeError):
        block.flush()


def test_supports_batch_publish(conn):
    p = Producer(conn)
    assert p.supports_batch_publish is False
    assert Producer(RecordingChannel.__new__(RecordingChannel)).connection is None


# -- Consumer with a recording channel ---------------------------------------------------

def test_consumer_declares_and_sets_qos(chan):
    q = Queue('q', Exchange('ex'), 'rk')
    c = Consumer(chan, q, prefetch_count=10)
    assert chan.names() == ['exchange_declare', 'queue_declare', 'queue_bind', 'basic_qos']
    assert chan.calls[-1][1]['prefetch_count'] == 10
    assert c.queues == [q] and c.queues[0] is not q and c.queues[0].is_bound
    assert Consumer(RecordingChannel(), [q], auto_declare=False).channel.calls == []


def test_consumer_consume_tags_and_nowait(chan):
    c = Consumer(chan, [Queue('a'), Queue('b')], auto_declare=False, tag_prefix='w1-')
    c.consume()
    consumes = [kw for name, kw in chan.calls if name == 'basic_consume']
    assert [(k['queue'], k['nowait']) for k in consumes] == [('a', True), ('b', False)]
    assert all(k['consumer_tag'].startswith('w1-') for k in consumes)
    assert c.consuming_from('a') and c.consuming_from(Queue('b'))
    c.consume()                                    # idempotent
    assert chan.names().count('basic_consume') == 2
    c.cancel_by_queue('a')
    assert not c.consuming_from('a') and [q.name for q in c.queues] == ['b']
    c.cancel()
    assert not c.consuming_from('b')
    assert chan.names().count('basic_cancel') == 2


def test_consumer_receives_decodes_and_acks(chan):
    got = []
    c = Consumer(chan, Queue('q'), callbacks=[lambda body, m: (got.append(body), m.ack())])
    c.consume()
    Producer(chan).publish({'n': 1}, routing_key='q')
    Producer(chan).publish({'n': 2}, routing_key='q')
    assert got == [{'n': 1}, {'n': 2}] and len(chan.acked) == 2


def test_consumer_without_callbacks_raises(chan):
    c = Consumer(chan, Queue('q'))
    c.consume()
    with pytest.raises(NotImplementedError):
        Producer(chan).publish(1, routing_key='q')


def test_consumer_on_message_gets_undecoded_message(chan):
    seen = []
    c = Consumer(chan, Queue('q'), on_message=seen.append, callbacks=[pytest.fail])
    c.consume()
    Producer(chan).publish({'x': 1}, routing_key='q')
    assert seen[0].content_type == 'application/json' and seen[0].payload == {'x': 1}


def test_consumer_accept_and_decode_errors(chan):
    errors = []
    c = Consumer(chan, Queue('q'), accept=['json'], callbacks=[pytest.fail],
                 on_decode_error=lambda m, exc: errors.append((m, exc)))
    assert c.accept == {'application/json'}
    c.consume()
    Producer(chan).publish({'x': 1}, routing_key='q', serializer='pickle')
    Producer(chan).publish(b'{not json', routing_key='q', content_type='application/json')
    assert isinstance(errors[0][1], ContentDisallowed)
    assert isinstance(errors[1][1], DecodeError)
    assert errors[0][0].body  # the message is kept, not lost


def test_consumer_decompression_error_goes_to_on_decode_error(chan):
    errors = []
    c = Consumer(chan, Queue('q'), callbacks=[pytest.fail],
                 on_decode_error=lambda m, exc: errors.append(exc))
    c.consume()
    Producer(chan).publish(b'zzz', routing_key='q', content_type='application/json',
                           headers={'compression': 'application/x-gzip'})
    assert isinstance(errors[0], DecodeError)


def test_consumer_decode_error_without_handler_propagates(chan):
    c = Consumer(chan, Queue('q'), callbacks=[pytest.fail], accept=['json'])
    c.consume()
    with pytest.raises(ContentDisallowed):
        Producer(chan).publish(1, routing_key='q', serializer='pickle')


def test_consumer_misc_channel_calls(chan):
    q = Queue('q')
    c = Consumer(chan, q, auto_declare=False)
    Producer(chan).publish(1, routing_key='q')
    assert c.purge() == 1
    c.flow(False)
    c.qos(prefetch_count=3, apply_global=True)
    c.recover(requeue=True)
    assert chan.calls[-3:] == [
        ('flow', {'active': False}),
        ('basic_qos', {'prefetch_size': 0, 'prefetch_count': 3, 'apply_global': True}),
        ('basic_recover', {'requeue': True})]
    assert c.connection is chan.connection.client
    assert repr(c).startswith('<Consumer: [')


def test_consumer_add_queue_and_register_callback(chan):
    c = Consumer(chan, [])
    assert c.queues == []
    c.consume()  # nothing to consume yet
    added = c.add_queue(Queue('late'))
    assert added.is_bound and 'queue_declare' in chan.names()
    got = []
    c.register_callback(lambda body, m: got.append(body))
    c.consume()
    Producer(chan).publish('x', routing_key='late')
    assert got == ['x']


def test_consumer_context_manager_consumes_and_cancels(chan):
    with Consumer(chan, Queue('q')) as c:
        assert c.consuming_from('q')
    assert not c.consuming_from('q') and 'basic_cancel' in chan.names()


def test_consumer_revive_resumes_consuming_on_new_channel(chan):
    c = Consumer(chan, [Queue('a'), Queue('b')], prefetch_count=2)
    c.consume(no_ack=True)
    c.cancel_by_queue('b')
    c.add_queue(Queue('b'))          # registered again but not consumed
    fresh = RecordingChannel()
    c.revive(fresh)
    consumes = [kw for name, kw in fresh.calls if name == 'basic_consume']
    assert [(k['queue'], k['no_ack']) for k in consumes] == [('a', True)]
    assert 'basic_qos' in fresh.names() and fresh.names().count('queue_declare') == 2
    assert all(q.channel is fresh for q in c.queues)


def test_server_named_queue_is_rekeyed_after_declare(chan):
    c = Consumer(chan, Queue('', exclusive=True))
    name = c.queues[0].name
    assert name.startswith('amq.gen-') and c._queues == {name: c.queues[0]}


# -- End to end on the memory transport -------------------------------------------------

def test_e2e_publish_consume_count_and_compare(conn, uname):
    ex = Exchange(uname('ex'), 'direct')
    q = Queue(uname('q'), ex, 'rk')
    sent = [{'i': i, 'text': 'é' * i} for i in range(50)]
    with conn.Producer(exchange=ex, routing_key='rk') as producer:
        for body in sent:
            producer.publish(body, declare=[q])
    received = []

    def on_message(body, message):
        received.append(body)
        message.ack()
    with Consumer(conn, [q], callbacks=[on_message], prefetch_count=10):
        drain(conn, len(sent))
    assert received == sent
    assert q.bind(conn.default_channel).queue_declare(passive=True)[1] == 0


def test_e2e_topic_fanout_and_several_queues(conn, uname):
    topic = Exchange(uname('topic'), 'topic')
    fan = Exchange(uname('fan'), 'fanout')
    qa = Queue(uname('qa'), topic, 'a.#')
    qb = Queue(uname('qb'), topic, '*.b')
    f1, f2 = Queue(uname('f1'), fan), Queue(uname('f2'), fan)
    producer = Producer(conn)
    producer.publish('ab', exchange=topic, routing_key='a.b', declare=[qa, qb])
    producer.publish('ax', exchange=topic, routing_key='a.x', declare=[qa, qb])
    producer.publish('fan', exchange=fan, declare=[f1, f2])
    seen = []
    callback = [lambda body, m: (seen.append((m.delivery_info['routing_key'], body)),
                                 m.ack())]
    with Consumer(conn, [qa, qb, f1, f2], callbacks=callback):
        drain(conn, 5)
    assert sorted(seen) == sorted([('a.b', 'ab'), ('a.b', 'ab'), ('a.x', 'ax'),
                                   ('', 'fan'), ('', 'fan')])


def test_e2e_requeue_and_reject(conn, uname):
    q = Queue(uname('q'))
    Producer(conn).publish('m1', routing_key=q.name, declare=[q])
    Producer(conn).publish('m2', routing_key=q.name, declare=[q])
    log = []

    def on_message(body, message):
        log.append(body)
        if body == 'm1' and log.count('m1') == 1:
            message.requeue()
        elif body == 'm2':
            message.reject()
        else:
            message.ack()
    with Consumer(conn, q, callbacks=[on_message]):
        drain(conn, 3)
    assert sorted(log) == ['m1', 'm1', 'm2']
    assert q.bind(conn.default_channel).get() is None


def test_e2e_compression_priority_expiration_headers(conn, uname):
    q = Queue(uname('q'))
    Producer(conn, compression='bzip2').publish(
        {'big': 'x' * 1000}, routing_key=q.name, declare=[q], headers={'k': 'v'},
        priority=7, expiration=60, correlation_id='cid')
    message = q.bind(conn.default_channel).get(no_ack=True)
    assert message.payload == {'big': 'x' * 1000}
    assert message.headers['k'] == 'v' and message.headers['compression']
    assert message.properties['priority'] == 7
    assert message.properties['expiration'] == '60000'
    assert message.properties['correlation_id'] == 'cid'


def test_e2e_no_ack_consumer_messages_are_gone_after_delivery(conn, uname):
    q = Queue(uname('q'))
    Producer(conn).publish(1, routing_key=q.name, declare=[q])
    got = []
    with Consumer(conn, q, no_ack=True, callbacks=[lambda b, m: got.append(b)]):
        drain(conn, 1)
    assert got == [1]
    conn.default_channel.close()  # no unacked message to restore
    with Connection('memory://') as other:
        assert q.bind(other.default_channel).get() is None


def test_e2e_server_named_reply_queue(conn):
    reply = Queue('', exclusive=True, auto_delete=True)
    with Consumer(conn, reply, callbacks=[]) as consumer:
        name = consumer.queues[0].name
        assert name
        got = []
        consumer.register_callback(lambda body, m: got.append(body))
        Producer(conn).publish('pong', routing_key=name)
        drain(conn, 1)
    assert got == ['pong']


def test_bad_arguments_give_clear_type_errors(chan):
    with pytest.raises(TypeError, match='exchange must be an Exchange or a name'):
        Producer(chan, exchange=42)
    with pytest.raises(TypeError, match=r"use Queue\('tasks'\)"):
        Consumer(chan, 'tasks')
    with pytest.raises(KeyError, match='unknown delivery mode'):
        Producer(chan).publish(1, delivery_mode='forever')
    assert published(chan) == []


# -- observability hooks (not in upstream Kombu) ---------------------------------------

@pytest.fixture
def hooks():
    from kombu.message import hooks as registry
    saved = {event: list(getattr(registry, event)) for event in registry.EVENTS}
    yield registry
    for event, funs in saved.items():
        getattr(registry, event)[:] = funs


def test_hooks_propagate_trace_context_end_to_end(conn, uname, hooks, caplog):
    q = Queue(uname('q'))
    events = []

    def inject(producer, headers, properties, exchange, routing_key):
        headers['traceparent'] = f'trace-{properties["correlation_id"]}'

    def broken(*args):
        raise RuntimeError('hook bug')
    hooks.register('before_publish', inject)
    hooks.register('before_publish', broken)
    hooks.register('after_publish', lambda p, h, props, ex, rk, body: events.append(('sent', rk)))
    hooks.register('on_message',
                   lambda consumer, m: events.append(('got', m.headers['traceparent'])))
    hooks.register('on_ack', lambda m: events.append(('ack', m.headers['traceparent'])))
    hooks.register('on_reject', lambda m, requeue: events.append(('reject', requeue)))
    caller_headers = {'mine': 1}
    producer = Producer(conn)
    producer.publish(1, routing_key=q.name, declare=[q], headers=caller_headers,
                     correlation_id='a')
    producer.publish(2, routing_key=q.name, correlation_id='b')
    assert caller_headers == {'mine': 1}
    seen = []

    def on_message(body, message):
        seen.append(body)
        message.ack() if body == 1 else message.reject()
    with Consumer(conn, q, callbacks=[on_message]):
        conn.drain_events(timeout=1)
        conn.drain_events(timeout=1)
    assert seen == [1, 2]
    assert events == [('sent', q.name), ('sent', q.name), ('got', 'trace-a'),
                      ('ack', 'trace-a'), ('got', 'trace-b'), ('reject', False)]
    assert 'hook bug' in caplog.text


def test_hooks_registry_validation(hooks):
    def fun(*args):
        pass
    with pytest.raises(ValueError, match='unknown hook event'):
        hooks.register('before_everything', fun)
    assert hooks.register('on_ack', fun) is fun
    hooks.unregister('on_ack', fun)
    hooks.unregister('on_ack', fun)  # not registered: nothing happens
    assert fun not in hooks.on_ack
