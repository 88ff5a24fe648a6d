from __future__ import annotations

import queue
import threading
import time

import pytest

from kombu import Connection, Exchange, Queue
from kombu.simple import SimpleBuffer, SimpleQueue


@pytest.fixture
def conn():
    with Connection('memory://') as connection:
        yield connection


def test_put_get_qsize_in_order(conn, uname):
    name = uname('simple')
    with SimpleQueue(conn, name) as q:
        for i in range(5):
            q.put({'n': i})
        assert q.qsize() == 5
        assert len(q) == 5
        got = []
        for _ in range(5):
            message = q.get(timeout=2)
            got.append(message.payload['n'])
            message.ack()
        assert got == [0, 1, 2, 3, 4]
        assert q.qsize() == 0
        with pytest.raises(q.Empty):
            q.get(timeout=0.05)


def test_default_exchange_and_routing_key_are_the_queue_name(conn, uname):
    name = uname('simple')
    with SimpleQueue(conn, name) as q:
        assert q.queue.name == name
        assert q.queue.exchange.name == name
        assert q.queue.exchange.type == 'direct'
        assert q.queue.routing_key == name
        assert q.producer.routing_key == name
        assert q.no_ack is False
        assert q.queue.durable is True
    # A plain producer using Kombu's convention reaches the queue.
    with SimpleQueue(conn, name) as q:
        conn.Producer().publish({'via': 'producer'}, exchange=name, routing_key=name)
        message = q.get(timeout=2)
        assert message.payload == {'via': 'producer'}
        message.ack()


def test_queue_entity_routing_is_kept(conn, uname):
    exchange = Exchange(uname('ex'), type='topic')
    entity = Queue(uname('simple'), exchange, routing_key='a.*')
    with SimpleQueue(conn, entity) as q:
        assert q.queue is entity or q.queue.name == entity.name
        q.put({'x': 1}, routing_key='a.b')
        q.put({'x': 2}, routing_key='z.b')  # not bound: dropped by the exchange
        message = q.get(timeout=2)
        assert message.payload == {'x': 1}
        assert message.delivery_info['routing_key'] == 'a.b'
        message.ack()
        assert q.qsize() == 0


def test_clear_returns_count(conn, uname):
    with SimpleQueue(conn, uname('simple')) as q:
        for i in range(7):
            q.put(i)
        assert q.clear() == 7
        assert q.qsize() == 0
        with pytest.raises(queue.Empty):
            q.get_nowait()


def test_get_nowait(conn, uname):
    with SimpleQueue(conn, uname('simple')) as q:
        with pytest.raises(SimpleQueue.Empty):
            q.get_nowait()
        with pytest.raises(SimpleQueue.Empty):
            q.get(block=False)
        q.put('hello')
        message = q.get_nowait()
        assert message.payload == 'hello'
        message.ack()
        assert q.qsize() == 0


def test_empty_is_queue_empty():
    assert issubclass(SimpleQueue.Empty, queue.Empty)
    assert SimpleBuffer.Empty is queue.Empty


def test_get_timeout_bounds(conn, uname):
    with SimpleQueue(conn, uname('simple')) as q:
        for timeout in (0.0, 0.1, 0.3):
            start = time.monotonic()
            with pytest.raises(q.Empty):
                q.get(timeout=timeout)
            elapsed = time.monotonic() - start
            assert elapsed >= timeout
            assert elapsed < timeout + 1.0


def test_get_returns_message_published_while_waiting(conn, uname):
    name = uname('simple')
    with SimpleQueue(conn, name) as q:
        def publish_later():
            time.sleep(0.2)
            with Connection('memory://') as other:
                other.SimpleQueue(name).put({'late': True})
        thread = threading.Thread(target=publish_later)
        thread.start()
        try:
            message = q.get(timeout=10)
        finally:
            thread.join(10)
        assert message.payload == {'late': True}
        message.ack()


def test_timed_out_get_loses_nothing(conn, uname):
    name = uname('simple')
    with SimpleQueue(conn, name) as q:
        with pytest.raises(q.Empty):
            q.get(timeout=0.05)
        q.put(1)
        q.put(2)
        first = q.get(timeout=2)
        second = q.get(timeout=2)
        assert [first.payload, second.payload] == [1, 2]
        first.ack()
        second.ack()


def test_unacked_messages_come_back_after_close(uname):
    name = uname('simple')
    with Connection('memory://') as c1:
        q = c1.SimpleQueue(name)
        for i in range(3):
            q.put(i)
        taken = q.get(timeout=2)
        assert taken.payload == 0
        q.close()
    # Channel closed without ack: every message is there again.
    with Connection('memory://') as c2:
        with c2.SimpleQueue(name) as q2:
            payloads = []
            for _ in range(3):
                message = q2.get(timeout=2)
                payloads.append(message.payload)
                message.ack()
            assert sorted(payloads) == [0, 1, 2]
            assert q2.qsize() == 0


def test_put_passes_headers_serializer_compression(conn, uname):
    with SimpleQueue(conn, uname('simple')) as q:
        q.put({'k': 'v'}, headers={'h': 1}, serializer='json', compression='zlib',
              priority=3)
        message = q.get(timeout=2)
        assert message.payload == {'k': 'v'}
        assert message.headers['h'] == 1
        assert message.content_type == 'application/json'
        message.ack()


def test_queue_opts_and_args_are_applied(conn, uname):
    with SimpleQueue(conn, uname('simple'), queue_opts={'durable': False},
                     queue_args={'x-max-priority': 5},
                     exchange_opts={'durable': False}) as q:
        assert q.queue.durable is False
        assert q.queue.queue_arguments == {'x-max-priority': 5}
        assert q.queue.exchange.durable is False


def test_simple_buffer_is_transient_and_no_ack(conn, uname):
    with SimpleBuffer(conn, uname('buffer')) as q:
        assert q.no_ack is True
        assert q.queue.durable is False
        assert q.queue.auto_delete is True
        assert q.queue.exchange.delivery_mode == Exchange.TRANSIENT_DELIVERY_MODE
        for i in range(3):
            q.put(i)
        assert [q.get(timeout=2).payload for _ in range(3)] == [0, 1, 2]
        # Nothing left unacked to come back.
        assert q.qsize() == 0


def test_connection_shortcuts(conn, uname):
    with conn.SimpleQueue(uname('simple')) as q:
        assert isinstance(q, SimpleQueue)
        assert bool(q) is True and len(q) == 0
    with conn.SimpleBuffer(uname('buffer')) as b:
        assert isinstance(b, SimpleBuffer)


def test_accept_limits_content_types(conn, uname):
    with SimpleQueue(conn, uname('simple'), accept=['json']) as q:
        q.put('text', serializer='json')
        message = q.get(timeout=2)
        assert message.decode() == 'text'
        message.ack()


def test_unnamed_buffer_routes_by_generated_name(conn):
    with conn.SimpleBuffer(None) as q:
        assert q.queue.name  # named by the broker on declare
        assert q.producer.routing_key == q.queue.name
        q.put({'anonymous': True})
        assert q.get(timeout=2).payload == {'anonymous': True}


def test_close_leaves_a_given_channel_usable(conn, uname):
    channel = conn.channel()
    q = conn.SimpleQueue(uname('simple'), no_ack=True, channel=channel)
    q.put(1)
    assert q.get(timeout=2).payload == 1
    q.close()
    # Cancelled, not closed: the caller's channel still works.
    with conn.SimpleQueue(uname('simple'), channel=channel) as again:
        again.put(2)
        message = again.get(timeout=2)
        assert message.payload == 2
        message.ack()
