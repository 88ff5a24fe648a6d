"""The Redis transport against the shared Redis: routing, batches, acks, TTL, keys."""
from __future__ import annotations

import json
import socket
import time

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue

pytestmark = pytest.mark.integration


def drain(conn, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while n() and time.monotonic() < deadline:
        try:
            conn.drain_events(timeout=0.5)
        except socket.timeout:
            pass


def consume_all(conn, queues, count, prefetch=None, ack=True, timeout=5.0):
    got = []

    def on_message(body, message):
        got.append((message.delivery_info.get('routing_key'), body))
        if ack:
            message.ack()
    channel = conn.channel()
    with Consumer(channel, queues, callbacks=[on_message], prefetch_count=prefetch):
        drain(conn, lambda: len(got) < count, timeout)
    return got, channel


def test_direct_publish_consume_ack(redis_url, uname, rclient):
    name = uname('direct')
    exchange = Exchange(name, 'direct')
    queue = Queue(name, exchange, 'rk')
    with Connection(redis_url) as conn:
        producer = Producer(conn.channel(), exchange)
        queue(producer.channel).declare()
        for i in range(20):
            producer.publish({'i': i}, routing_key='rk')
        got, _ = consume_all(conn, [queue], 20, prefetch=7)
        assert [b['i'] for _, b in got] == list(range(20))
        assert queue(conn.channel()).queue_declare(passive=True).message_count == 0
    # every ack reached Redis: nothing left to restore
    assert rclient.hlen('unacked') == 0 and rclient.zcard('unacked_index') == 0


def test_stored_envelope_and_binding_layout(redis_url, uname, rclient):
    name = uname('layout')
    exchange = Exchange(name, 'direct')
    queue = Queue(name, exchange, 'k1')
    with Connection(redis_url) as conn:
        producer = Producer(conn.channel(), exchange)
        queue(producer.channel).declare()
        producer.publish({'x': 1}, routing_key='k1', priority=5, headers={'h': 'v'})
    members = rclient.smembers(f'_kombu.binding.{name}')
    assert members == {f'k1\x06\x16\x06\x16{name}'.encode()}  # rk, no pattern, queue
    # priority 5 lands in the step-3 sub-list: "<queue>\x06\x163"
    raw = rclient.lrange(f'{name}\x06\x163', 0, -1)
    assert len(raw) == 1
    envelope = json.loads(raw[0])
    assert envelope['content-type'] == 'application/json'
    assert envelope['headers'] == {'h': 'v'}
    props = envelope['properties']
    assert props['body_encoding'] == 'base64' and props['priority'] == 5
    assert props['delivery_info'] == {'exchange': name, 'routing_key': 'k1'}
    assert isinstance(props['delivery_tag'], str)


def test_priority_steps_consumed_lowest_step_first(redis_url, uname):
    name = uname('prio')
    queue = Queue(name, Exchange(name), name)
    with Connection(redis_url) as conn:
        producer = Producer(conn.channel())
        queue(producer.channel).declare()
        for pri in (9, 6, 3, 0):
            producer.publish({'p': pri}, exchange=queue.exchange, routing_key=name,
                             priority=pri)
        got, _ = consume_all(conn, [queue], 4, prefetch=1)
    assert [b['p'] for _, b in got] == [0, 3, 6, 9]


def test_round_robin_across_queues_in_one_batch(redis_url, uname):
    a, b = uname('rra'), uname('rrb')
    qa, qb = Queue(a, Exchange(a), a), Queue(b, Exchange(b), b)
    with Connection(redis_url) as conn:
        producer = Producer(conn.channel())
        for q in (qa, qb):
            q(producer.channel).declare()
            for i in range(6):
                producer.publish({'q': q.name, 'i': i}, exchange=q.exchange, routing_key=q.name)
        got, _ = consume_all(conn, [qa, qb], 12, prefetch=4)
    order = [body['q'] for _, body in got]
    # strictly alternating: a busy queue never starves the other
    assert all(order[i] != order[i + 1] for i in range(len(order) - 1)), order


def test_prefetch_limits_batch(redis_url, uname, rclient):
    name = uname('prefetch')
    queue = Queue(name, Exchange(name), name)
    with Connection(redis_url) as conn:
        producer = Producer(conn.channel())
        queue(producer.channel).declare()
        for i in range(10):
            producer.publish(i, exchange=queue.exchange, routing_key=name)
        held = []
        channel = conn.channel()
        with Consumer(channel, [queue], callbacks=[lambda b, m: held.append(m)],
                      prefetch_count=3):
            drain(conn, lambda: len(held) < 3)
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.3)
            assert len(held) == 3 and rclient.hlen('unacked') == 3
            assert rclient.llen(name) == 7
            for m in held:
                m.ack()
            drain(conn, lambda: len(held) < 6)
            assert len(held) == 6
            for m in held[3:]:
                m.ack()


def test_topic_and_fanout(redis_url, uname):
    t, f = uname('topic'), uname('fan')
    topic = Exchange(t, 'topic')
    fan = Exchange(f, 'fanout')
    q1, q2 = Queue(t + '.1', topic, 'a.*'), Queue(t + '.2', topic, '#')
    f1, f2 = Queue(f + '.1', fan), Queue(f + '.2', fan)
    with Connection(redis_url) as conn:
        producer = Producer(conn.channel())
        for q in (q1, q2):
            q(producer.channel).declare()
        producer.publish('x', exchange=topic, routing_key='a.b')
        producer.publish('y', exchange=topic, routing_key='c.d')
        got, _ = consume_all(conn, [q1, q2], 3)
        assert sorted(b for _, b in got) == ['x', 'x', 'y']
        received = []
        c1 = Consumer(conn.channel(), [f1, f2], callbacks=[lambda b, m: (received.append(b),
                                                                         m.ack())])
        with c1:
            # subscriptions are made on the first poll
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.2)
            Producer(conn.channel()).publish('fan-msg', exchange=fan, routing_key='')
            drain(conn, lambda: len(received) < 1)
    assert received == ['fan-msg', 'fan-msg']  # one copy per queue


def test_binding_made_on_another_connection_is_seen_at_once(redis_url, uname):
    name = uname('bindcache')
    exchange = Exchange(name, 'topic')
    with Connection(redis_url) as pub, Connection(redis_url) as sub:
        producer = Producer(pub.channel(), exchange)
        Queue(name + '.a', exchange, 'k.#')(sub.channel()).declare()
        producer.publish('one', routing_key='k.1')
        Queue(name + '.b', exchange, '*.1')(sub.channel()).declare()
        producer.publish('two', routing_key='k.1')
        assert producer.channel._size(name + '.a') == 2
        assert producer.channel._size(name + '.b') == 1


def test_unacked_restored_on_close_and_requeue(redis_url, uname, rclient):
    name = uname('restore')
    queue = Queue(name, Exchange(name), name)
    with Connection(redis_url) as conn:
        producer = Producer(conn.channel())
        queue(producer.channel).declare()
        for i in range(3):
            producer.publish(i, exchange=queue.exchange, routing_key=name)
        got, channel = consume_all(conn, [queue], 3, prefetch=10, ack=False)
        assert rclient.hlen('unacked') == 3
        channel.close()
        assert rclient.hlen('unacked') == 0 and rclient.llen(name) == 3
        again, _ = consume_all(conn, [queue], 3, prefetch=10)
        assert sorted(b for _, b in again) == [0, 1, 2]
        producer.publish('r', exchange=queue.exchange, routing_key=name)
        seen = []

        def reject_once(body, message):
            seen.append((body, message.delivered_info_redelivered
                         if hasattr(message, 'delivered_info_redelivered')
                         else message.delivery_info.get('redelivered')))
            if len(seen) == 1:
                message.requeue()
            else:
                message.ack()
        with Consumer(conn.channel(), [queue], callbacks=[reject_once]):
            drain(conn, lambda: len(seen) < 2)
    assert [b for b, _ in seen] == ['r', 'r'] and seen[1][1] is True
    assert rclient.hlen('unacked') == 0


def test_message_expiration_and_dead_letter_on_reject(redis_url, uname):
    name = uname('ttl')
    dlx = Exchange(name + '.dlx', 'direct')
    dead = Queue(name + '.dead', dlx, 'dead')
    queue = Queue(name, Exchange(name), name, queue_arguments={
        'x-dead-letter-exchange': dlx.name, 'x-dead-letter-routing-key': 'dead'})
    with Connection(redis_url) as conn:
        producer = Producer(conn.channel())
        for q in (dead, queue):
            q(producer.channel).declare()
        producer.publish('old', exchange=queue.exchange, routing_key=name, expiration=0.05)
        producer.publish('bad', exchange=queue.exchange, routing_key=name)
        producer.publish('ok', exchange=queue.exchange, routing_key=name)
        time.sleep(0.1)
        got = []

        def on_message(body, message):
            got.append(body)
            message.reject() if body == 'bad' else message.ack()
        with Consumer(conn.channel(), [queue], callbacks=[on_message]):
            drain(conn, lambda: len(got) < 2)
        assert got == ['bad', 'ok']
        dead_got, _ = consume_all(conn, [dead], 2)
    assert sorted(b for _, b in dead_got) == ['bad', 'old']


def test_queue_x_expires_sets_key_ttl(redis_url, uname, rclient):
    name = uname('expires')
    queue = Queue(name, Exchange(name), name, expires=30)
    with Connection(redis_url) as conn:
        producer = Producer(conn.channel())
        queue(producer.channel).declare()
        producer.publish('m', exchange=queue.exchange, routing_key=name)
    assert 0 < rclient.pttl(name) <= 30000


def test_basic_get_and_no_ack(redis_url, uname, rclient):
    name = uname('get')
    with Connection(redis_url) as conn:
        sq = conn.SimpleQueue(name)
        sq.put('a')
        sq.put('b')
        m = sq.get(timeout=2)
        # no prefetch limit: one round trip fetched both into the buffer
        assert m.payload == 'a' and rclient.hlen('unacked') == 2
        m.ack()
        assert rclient.hkeys('unacked') != [m.delivery_tag.encode()]
        sq.close()
    # closing the connection gave 'b' back
    assert rclient.hlen('unacked') == 0 and rclient.llen(name) == 1
    with Connection(redis_url) as conn:
        message = conn.default_channel.basic_get(name, no_ack=True)
        assert message.payload == 'b'
        assert rclient.hlen('unacked') == 0 and rclient.zcard('unacked_index') == 0


def test_global_keyprefix(redis_url, uname, rclient):
    name = uname('prefixed')
    with Connection(redis_url, transport_options={'global_keyprefix': 'pfx:'}) as conn:
        sq = conn.SimpleQueue(name)
        sq.put('p')
        assert rclient.llen(f'pfx:{name}') == 1
        assert rclient.exists(f'pfx:_kombu.binding.{name}')
        m = sq.get(timeout=2)
        assert m.payload == 'p' and rclient.hlen('pfx:unacked') == 1
        m.ack()
        sq.close()
    assert rclient.hlen('pfx:unacked') == 0


def test_unknown_transport_option_warns(redis_url):
    with pytest.warns(UserWarning, match='visibilty_timeout'):
        with Connection(redis_url, transport_options={'visibilty_timeout': 5}) as conn:
            conn.channel()


def test_publish_batch(redis_url, uname):
    name = uname('batch')
    with Connection(redis_url) as conn:
        channel = conn.channel()
        Queue(name, Exchange(name), name)(channel).declare()
        batch = channel.create_publish_batch(max_size=10)
        for i in range(25):
            batch.publish(channel.prepare_message(str(i)), exchange=name, routing_key=name)
        assert channel._size(name) == 20  # two full flushes
        batch.flush()
        assert channel._size(name) == 25
        batch.close()


def test_failing_callback_loses_nothing_of_the_batch(redis_url, uname, rclient):
    name = uname('boom')
    queue = Queue(name, Exchange(name), name)
    with Connection(redis_url) as conn:
        producer = Producer(conn.channel())
        queue(producer.channel).declare()
        for i in range(5):
            producer.publish(i, exchange=queue.exchange, routing_key=name)
        seen = []

        def on_message(body, message):
            seen.append(body)
            if body == 1:
                raise RuntimeError('callback failed')
            message.ack()
        with Consumer(conn.channel(), [queue], callbacks=[on_message], prefetch_count=10):
            conn.drain_events(timeout=2)  # one message per call: 0, the batch's rest held
            with pytest.raises(RuntimeError):
                conn.drain_events(timeout=2)
            # 0 acked, 1 held unacked, 2..4 back at the head in order
            assert seen == [0, 1] and rclient.llen(name) == 3
            assert rclient.hlen('unacked') == 1
            drain(conn, lambda: len(seen) < 5)
        assert seen == [0, 1, 2, 3, 4]


def test_global_keyprefix_fanout_and_topic(redis_url, uname, rclient):
    name = uname('pfxfan')
    options = {'global_keyprefix': 'app1:'}
    fan = Exchange(name + '.fan', 'fanout')
    topic = Exchange(name + '.topic', 'topic')
    tq = Queue(name + '.tq', topic, 'a.#')
    got = []
    with Connection(redis_url, transport_options=options) as conn, \
            Connection(redis_url, transport_options=options) as pub:
        channel = conn.channel()
        with Consumer(channel, [Queue(name + '.fq', fan), tq],
                      callbacks=[lambda b, m: (got.append(b), m.ack())]):
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.2)
            producer = Producer(pub.channel())
            # exchange types live in each process: declare before publishing
            producer.publish('f', exchange=fan, declare=[fan])
            producer.publish('t', exchange=topic, routing_key='a.b', declare=[topic])
            drain(conn, lambda: len(got) < 2)
    assert sorted(got) == ['f', 't']
    assert rclient.exists(f'app1:_kombu.binding.{topic.name}')
    assert not rclient.exists(f'_kombu.binding.{topic.name}')
    assert rclient.hlen('app1:unacked') == 0


def test_without_ack_emulation_nothing_is_recorded(redis_url, uname, rclient):
    name = uname('noemu')
    queue = Queue(name, Exchange(name), name)
    with Connection(redis_url, transport_options={'ack_emulation': False}) as conn:
        producer = Producer(conn.channel())
        queue(producer.channel).declare()
        for i in range(3):
            producer.publish(i, exchange=queue.exchange, routing_key=name)
        got, _ = consume_all(conn, [queue], 3, prefetch=2)
    assert sorted(b for _, b in got) == [0, 1, 2]
    assert not rclient.exists('unacked') and not rclient.exists('unacked_index')


def test_queue_order_strategy_priority(redis_url, uname):
    first, second = uname('ordA'), uname('ordB')
    queues = [Queue(n, Exchange(n), n) for n in (first, second)]
    with Connection(redis_url, transport_options={'queue_order_strategy': 'priority'}) as conn:
        producer = Producer(conn.channel())
        for q in queues:
            q(producer.channel).declare()
            for _ in range(3):
                producer.publish(q.name, exchange=q.exchange, routing_key=q.name)
        got, _ = consume_all(conn, queues, 6, prefetch=2)
    # 'priority': the first queue is always drained before the next
    assert [b for _, b in got] == [first] * 3 + [second] * 3


def test_binding_from_another_process_seen_after_cache_ttl(redis_url, uname, rclient):
    name = uname('ttlcache')
    exchange = Exchange(name, 'topic')
    with Connection(redis_url, transport_options={'binding_cache_ttl': 0.2}) as conn:
        producer = Producer(conn.channel(), exchange)
        Queue(name + '.a', exchange, 'k.*')(producer.channel).declare()
        producer.publish('1', routing_key='k.x')
        # another process binds a second queue (written as upstream would)
        rclient.sadd(f'_kombu.binding.{name}', f'#\x06\x16#\x06\x16{name}.b')
        time.sleep(0.3)
        producer.publish('2', routing_key='k.x')
        assert producer.channel._size(name + '.a') == 2
        assert producer.channel._size(name + '.b') == 1


def test_channels_of_one_connection_take_turns(redis_url, uname):
    a, b = uname('chanA'), uname('chanB')
    qa, qb = Queue(a, Exchange(a), a), Queue(b, Exchange(b), b)
    got = []
    with Connection(redis_url) as conn:
        producer = Producer(conn.channel())
        for q in (qa, qb):
            q(producer.channel).declare()
            for _ in range(20):
                producer.publish(q.name, exchange=q.exchange, routing_key=q.name)
        consumers = [Consumer(conn.channel(), [q], prefetch_count=2,
                              callbacks=[lambda body, m: (got.append(body), m.ack())])
                     for q in (qa, qb)]
        for c in consumers:
            c.consume()
        drain(conn, lambda: len(got) < 8)
        for c in consumers:
            c.cancel()
    assert {a, b} <= set(got[:8])  # neither channel starves the other


def test_brpop_message_given_back_when_recording_fails(redis_url, uname, rclient,
                                                        monkeypatch):
    name = uname('rescue')
    queue = Queue(name, Exchange(name), name)
    got = []
    with Connection(redis_url) as conn:
        channel = conn.channel()
        with Consumer(channel, [queue], callbacks=[lambda b, m: got.append(b)]):
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.1)  # empty: a BRPOP is now in flight
            assert channel._in_poll
            Producer(conn.channel()).publish('m', exchange=queue.exchange, routing_key=name)

            def broken(*args, **kwargs):
                raise ConnectionError('recording failed')
            monkeypatch.setattr(channel, '_record_and_pop_more', broken)
            with pytest.raises(ConnectionError):
                conn.drain_events(timeout=2)
            assert got == [] and rclient.llen(name) == 1
            monkeypatch.undo()
            drain(conn, lambda: not got)
    assert got == ['m']


def test_close_with_brpop_in_flight_is_quick_and_keeps_messages(redis_url, uname, rclient):
    name = uname('closeblk')
    queue = Queue(name, Exchange(name), name)
    with Connection(redis_url, transport_options={'polling_interval': 5}) as conn:
        channel = conn.channel()
        consumer = Consumer(channel, [queue], callbacks=[lambda b, m: None])
        consumer.consume()
        with pytest.raises(socket.timeout):
            conn.drain_events(timeout=0.1)
        assert channel._in_poll  # BRPOP waits up to 5 s on the server
        start = time.monotonic()
        channel.close()
        assert time.monotonic() - start < 1.0  # unblocked, not waited out
    assert rclient.llen(name) == 0 and rclient.hlen('unacked') == 0


def test_acks_and_requeues_from_other_threads(redis_url, uname, rclient):
    import threading
    name = uname('threads')
    queue = Queue(name, Exchange(name), name)
    held = []
    with Connection(redis_url) as conn:
        producer = Producer(conn.channel())
        queue(producer.channel).declare()
        for i in range(50):
            producer.publish(i, exchange=queue.exchange, routing_key=name)
        channel = conn.channel()
        consumer = Consumer(channel, [queue], callbacks=[lambda b, m: held.append(m)],
                            prefetch_count=50)
        consumer.consume()
        drain(conn, lambda: len(held) < 50)
        consumer.cancel()
        # like a thread pool acking (and requeueing) late, all at once
        workers = [threading.Thread(target=lambda ms=held[i::4]: [m.ack() for m in ms])
                   for i in range(3)]
        workers.append(threading.Thread(target=lambda ms=held[3::4]: [m.requeue() for m in ms]))
        for w in workers:
            w.start()
        for w in workers:
            w.join(10)
        channel._execute('PING')  # read the replies of acks sent without waiting
        assert rclient.hlen('unacked') == 0
        assert rclient.llen(name) == len(held[3::4])
