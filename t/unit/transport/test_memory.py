from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

import pytest

from kombu.transport import memory
from kombu.transport.virtual import BrokerState

from .virtual.helpers import bodies, make_transport, publish


def test_attributes():
    assert memory.Transport.driver_type == memory.Transport.driver_name == 'memory'
    assert memory.Transport.implements.exchange_type == frozenset(
        ['direct', 'topic', 'fanout', 'headers'])
    assert memory.Transport.implements.asynchronous is False
    assert isinstance(memory.Transport.global_state, BrokerState)
    assert memory.Channel.supports_fanout is True
    assert memory.Channel.do_restore is True
    assert isinstance(memory.Channel.queues, dict)


def test_global_state_shared_between_transports(uname):
    client = SimpleNamespace(transport_options={}, virtual_host='/')
    t1, t2 = memory.Transport(client), memory.Transport(client)
    assert t1.state is t2.state is memory.Transport.global_state
    c1, c2 = t1.create_channel(t1), t2.create_channel(t2)
    ex, queue = uname('ex'), uname('q')
    try:
        c1.exchange_declare(ex, 'topic')
        c1.queue_declare(queue)
        c1.queue_bind(queue, ex, 'a.#')
        publish(c2, 'hello', ex, 'a.b')
        assert bodies(c2, queue) == [b'hello']
    finally:
        c1.queue_delete(queue)
        c1.exchange_delete(ex)
        c1.close()
        c2.close()


def test_driver_version(transport):
    assert transport.driver_version() == 'N/A'


def test_priority_queue_order(channel):
    channel.queue_declare('q', arguments={'x-max-priority': 10})
    for priority in (1, 5, 9, 5, 0, 200):
        publish(channel, str(priority), routing_key='q', priority=priority)
    # 200 is clamped to the queue maximum (10); equal priorities stay FIFO
    messages = []
    while (m := channel.basic_get('q')) is not None:
        messages.append((m.body, m.properties['priority']))
        m.ack()
    assert [b for b, _ in messages] == [b'200', b'9', b'5', b'5', b'1', b'0']


def test_priorities_ignored_without_max_priority(channel):
    channel.queue_declare('q')
    for priority in (1, 9, 5):
        publish(channel, str(priority), routing_key='q', priority=priority)
    assert bodies(channel, 'q') == [b'1', b'9', b'5']


def test_priority_requeue_goes_first_within_its_priority(channel):
    channel.queue_declare('q', arguments={'x-max-priority': 9})
    publish(channel, 'low-1', routing_key='q', priority=1)
    publish(channel, 'low-2', routing_key='q', priority=1)
    publish(channel, 'high', routing_key='q', priority=9)
    first = channel.basic_get('q')
    second = channel.basic_get('q')
    assert (first.body, second.body) == (b'high', b'low-1')
    second.reject(requeue=True)
    first.reject(requeue=True)
    assert bodies(channel, 'q') == [b'high', b'low-1', b'low-2']


def test_redeclare_with_priority_keeps_messages(channel):
    publish(channel, 'a', routing_key='q', priority=1)
    channel.queue_declare('q', arguments={'x-max-priority': 5})
    publish(channel, 'b', routing_key='q', priority=5)
    assert channel._size('q') == 2
    assert bodies(channel, 'q') == [b'b', b'a']


def test_purge_and_size_priority_queue(channel):
    channel.queue_declare('q', arguments={'x-max-priority': 5})
    for i in range(3):
        publish(channel, str(i), routing_key='q', priority=i)
    assert channel._size('q') == 3
    assert channel.queue_purge('q') == 3
    assert channel._size('q') == 0
    assert channel.queue_purge('missing') == 0


def test_invalid_priority_is_zero(channel):
    channel.queue_declare('q', arguments={'x-max-priority': 5})
    publish(channel, 'bad', routing_key='q', priority=None)
    channel.queues['q'].put({'properties': {'priority': 'x', 'delivery_tag': 't'}, 'body': ''})
    publish(channel, 'good', routing_key='q', priority=3)
    assert channel.basic_get('q').body == b'good'


def test_drain_events_wakes_up_on_put_from_another_thread(transport, channel):
    got = []
    channel.basic_consume('q', True, lambda m: got.append(time.monotonic()), 'tag')
    producer_channel = transport.create_channel(transport)
    sent = []

    def produce():
        time.sleep(0.2)
        sent.append(time.monotonic())
        publish(producer_channel, 'x', routing_key='q')

    thread = threading.Thread(target=produce)
    thread.start()
    transport.drain_events(transport, timeout=5)
    thread.join(5)
    # woken by the put, not by the one-second safety poll
    assert got and got[0] - sent[0] < 0.5


def test_drain_events_timeout_while_waiting(transport, channel):
    channel.basic_consume('q', True, lambda m: None, 'tag')
    start = time.monotonic()
    with pytest.raises(socket.timeout):
        transport.drain_events(transport, timeout=0.1)
    assert 0.09 < time.monotonic() - start < 1


def test_ack_from_another_thread_opens_prefetch_window(transport, channel):
    channel.basic_qos(prefetch_count=1)
    got = []
    channel.basic_consume('q', False, got.append, 'tag')
    publish(channel, 'a', routing_key='q')
    publish(channel, 'b', routing_key='q')
    transport.drain_events(transport, timeout=1)
    timer = threading.Timer(0.1, got[0].ack)
    timer.start()
    start = time.monotonic()
    transport.drain_events(transport, timeout=5)
    timer.join()
    assert [m.body for m in got] == [b'a', b'b']
    assert time.monotonic() - start < 0.8


def test_producer_and_consumer_threads(transport, channel):
    count = 2000
    channel.queue_declare('q')
    received = []
    channel.basic_consume('q', False, lambda m: (received.append(m.body), m.ack()), 'tag')
    producer_channel = transport.create_channel(transport)

    def produce():
        for i in range(count):
            publish(producer_channel, str(i), routing_key='q')

    thread = threading.Thread(target=produce)
    thread.start()
    deadline = time.monotonic() + 30
    while len(received) < count and time.monotonic() < deadline:
        transport.drain_events(transport, timeout=5)
    thread.join(5)
    assert received == [str(i).encode() for i in range(count)]


def test_consumer_threads_share_one_queue(uname):
    """Two connections in two threads consume one queue: each message once."""
    count = 1000
    t0 = make_transport()
    producer = t0.create_channel(t0)
    producer.queue_declare('q')
    for i in range(count):
        publish(producer, str(i), routing_key='q')
    results: list[list[bytes]] = [[], []]

    def consume(n):
        # a second transport over the same store, like a second Connection
        t = type(t0)(t0.client)
        t.establish_connection()
        ch = t.create_channel(t)
        ch.basic_consume('q', False, lambda m: (results[n].append(m.body), m.ack()), 'tag')
        while True:
            try:
                t.drain_events(t, timeout=0.2)
            except socket.timeout:
                return

    threads = [threading.Thread(target=consume, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    merged = results[0] + results[1]
    assert sorted(merged) == sorted(str(i).encode() for i in range(count))


def test_after_reply_message_received_keeps_queue(channel):
    channel.queue_declare('reply')
    channel.after_reply_message_received('reply')
    assert channel._has_queue('reply')


def test_connections_in_two_threads(uname):
    """Public API: a producer thread and a consumer thread, each with a Connection."""
    from kombu import Connection, Exchange, Queue
    count = 3000
    exchange = Exchange(uname('x'), 'topic')
    queue = Queue(uname('q'), exchange, routing_key='work.#')
    received = []
    ready = threading.Event()

    def consume():
        with Connection('memory://') as conn:
            with conn.Consumer([queue], callbacks=[lambda b, m: (received.append(b), m.ack())],
                               prefetch_count=50):
                ready.set()
                deadline = time.monotonic() + 30
                while len(received) < count and time.monotonic() < deadline:
                    try:
                        conn.drain_events(timeout=1)
                    except socket.timeout:
                        pass

    def produce():
        ready.wait(10)
        with Connection('memory://') as conn:
            producer = conn.Producer()
            for i in range(count):
                producer.publish(i, exchange=exchange, routing_key=f'work.{i % 7}',
                                 serializer='json')

    threads = [threading.Thread(target=consume), threading.Thread(target=produce)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(40)
    try:
        assert received == list(range(count))
    finally:
        with Connection('memory://') as conn:
            queue(conn.default_channel).delete()
            exchange(conn.default_channel).delete()
