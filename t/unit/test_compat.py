from __future__ import annotations

import pytest

from kombu import Connection, Exchange, Queue, compat


@pytest.fixture
def conn():
    with Connection('memory://') as connection:
        yield connection


def _pair(conn, uname, **consumer_kwargs):
    exchange, queue = uname('cx'), uname('cq')
    consumer = compat.Consumer(conn, queue=queue, exchange=exchange, routing_key='rk',
                               **consumer_kwargs)
    publisher = compat.Publisher(conn, exchange=exchange, routing_key='rk')
    return publisher, consumer


def test_publisher_consumer_round_trip(conn, uname):
    publisher, consumer = _pair(conn, uname)
    with publisher, consumer:
        for i in range(3):
            publisher.send({'n': i})
        got = []
        for _ in range(3):
            message = consumer.fetch()
            got.append(message.payload)
            message.ack()
        assert got == [{'n': 0}, {'n': 1}, {'n': 2}]
        assert consumer.fetch() is None
    assert publisher._closed and consumer._closed


def test_publisher_attributes(conn, uname):
    name = uname('cx')
    publisher = compat.Publisher(conn, exchange=name, routing_key='k', exchange_type='topic',
                                 durable=False, auto_delete=True)
    assert isinstance(publisher.exchange, Exchange)
    assert publisher.exchange.name == name
    assert publisher.exchange.type == 'topic'
    assert publisher.exchange.durable is False
    assert publisher.exchange.auto_delete is True
    assert publisher.routing_key == 'k'
    assert publisher.backend is publisher.channel
    given = Exchange(uname('given'), type='fanout')
    bound = compat.Publisher(conn, exchange=given).exchange
    assert (bound.name, bound.type) == (given.name, 'fanout')
    channel = conn.channel()
    assert compat.Publisher(conn, exchange=name, channel=channel).backend is channel


def test_consumer_attributes_and_defaults(conn, uname):
    consumer = compat.Consumer(conn, queue=uname('cq'), exchange=uname('cx'),
                               routing_key='r', exclusive=True, durable=False)
    queue = consumer.queues[0]
    assert queue.name == consumer.queue
    assert queue.exchange.name == consumer.exchange
    assert queue.exchange.type == 'direct'
    assert queue.routing_key == 'r'
    assert queue.exclusive is True and queue.durable is False
    assert consumer.backend is consumer.channel
    consumer.close()


def test_fetch_enable_callbacks_and_process_next(conn, uname):
    publisher, consumer = _pair(conn, uname)
    received = []
    consumer.register_callback(lambda body, message: received.append(body))
    publisher.send('x')
    message = consumer.fetch(enable_callbacks=True)
    assert received == ['x']
    message.ack()
    with pytest.raises(NotImplementedError):
        consumer.process_next()
    consumer.close()


def test_discard_all(conn, uname):
    publisher, consumer = _pair(conn, uname)
    for i in range(4):
        publisher.send(i)
    assert consumer.discard_all() == 4
    assert consumer.fetch() is None
    with pytest.raises(NotImplementedError):
        consumer.discard_all(filterfunc=lambda m: True)
    consumer.close()


def test_iterqueue_and_iter(conn, uname):
    publisher, consumer = _pair(conn, uname, no_ack=True)
    for i in range(5):
        publisher.send(i)
    assert [m.payload for m in consumer.iterqueue(limit=3)] == [0, 1, 2]
    assert [m.payload for m in consumer.iterqueue()] == [3, 4]
    publisher.send('again')
    first = next(iter(consumer))
    assert first.payload == 'again'
    consumer.close()


def test_wait_and_iterconsume(conn, uname):
    publisher, consumer = _pair(conn, uname)
    received = []

    def on_message(body, message):
        received.append(body)
        message.ack()
    consumer.register_callback(on_message)
    for i in range(3):
        publisher.send(i)
    consumer.wait(limit=2)
    assert received == [0, 1]
    for _ in consumer.iterconsume(limit=1):
        pass
    assert received == [0, 1, 2]
    consumer.close()


def test_consumer_set(conn, uname):
    exchange = uname('cx')
    first = compat.Consumer(conn, queue=uname('q1'), exchange=exchange, routing_key='one')
    q2, q3 = uname('q2'), uname('q3')
    cset = compat.ConsumerSet(conn, consumers=[first],
                              from_dict={q2: {'exchange': exchange, 'routing_key': 'two'}})
    cset.add_consumer_from_dict(q3, exchange=exchange, routing_key='three')
    assert [q.name for q in cset.queues] == [first.queue, q2, q3]
    assert all(q.channel is cset.channel for q in cset.queues)
    publisher = compat.Publisher(conn, exchange=exchange)
    for key in ('one', 'two', 'three', 'two'):
        publisher.send(key, routing_key=key)
    received = []

    def on_message(body, message):
        received.append(body)
        message.ack()
    cset.register_callback(on_message)
    for _ in cset.iterconsume(limit=4):
        pass
    assert sorted(received) == ['one', 'three', 'two', 'two']
    publisher.send('gone', routing_key='three')
    assert cset.discard_all() == 1
    cset.close()
    first.close()


def test_consumer_set_add_consumer_and_provided_channel(conn, uname):
    channel = conn.channel()
    cset = compat.ConsumerSet(conn, channel=channel)
    other = compat.Consumer(conn, queue=uname('q'), exchange=uname('x'))
    cset.add_consumer(other)
    assert [q.name for q in cset.queues] == [other.queue]
    cset.close()
    # A channel we were given is left open for its owner.
    assert channel.is_open if hasattr(channel, 'is_open') else not channel.closed
    other.close()


def test_entry_to_queue():
    queue = compat.entry_to_queue('q', exchange='e', exchange_type='topic', routing_key='a.#')
    assert isinstance(queue, Queue)
    assert queue.name == 'q'
    assert queue.exchange.name == 'e' and queue.exchange.type == 'topic'
    assert queue.routing_key == 'a.#'
