"""``drain_events()`` hands over one message per call, whatever a fetch returns.

A store fetching in batches (``_get_batch`` with ``fetch_batch_size`` > 1)
keeps the rest of a batch recorded as unacked and delivers it on the next
calls; closing or cancelling puts what was never handed over back, in order.
"""
from __future__ import annotations

import socket
from typing import Any

import pytest

from kombu import Connection, Consumer, Queue
from kombu.transport import memory


class BatchedChannel(memory.Channel):
    fetch_batch_size = 8


class BatchedTransport(memory.Transport):
    Channel = BatchedChannel


def _fill(conn: Connection, name: str, count: int) -> None:
    with conn.Producer() as producer:
        for n in range(count):
            producer.publish({'n': n}, routing_key=name, declare=[Queue(name)],
                             serializer='json')


def _filled(conn: Connection, name: str, count: int) -> tuple[str, Any]:
    _fill(conn, name, count)
    return name, conn.channel()


def _acking(got: list[Any]) -> Any:
    return lambda body, message: (got.append(body['n']), message.ack())


@pytest.fixture
def conn():
    with Connection(transport=BatchedTransport) as connection:
        yield connection


def test_each_call_delivers_exactly_one(conn, uname):
    name = uname('one')
    _fill(conn, name, 5)
    got: list[int] = []
    channel = conn.channel()
    with Consumer(channel, [Queue(name)], accept=['json'],
                  callbacks=[_acking(got)]):
        for expected in range(5):
            conn.drain_events(timeout=1)
            assert got == list(range(expected + 1))  # one more per call, in order
            if expected == 0:
                # The batch was fetched at once and is recorded as unacked.
                assert channel._size(name) == 0
                assert len(channel.qos._delivered) == 5
        with pytest.raises(socket.timeout):
            conn.drain_events(timeout=0.05)
    assert got == [0, 1, 2, 3, 4]
    channel.queue_delete(name)


def test_close_puts_undelivered_back_in_order(conn, uname):
    name, channel = _filled(conn, uname('close'), 6)
    got: list[Any] = []
    consumer = Consumer(channel, [Queue(name)], accept=['json'],
                        callbacks=[_acking(got)])
    consumer.consume()
    conn.drain_events(timeout=1)
    conn.drain_events(timeout=1)
    assert got == [0, 1]
    channel.close()

    check = conn.channel()
    rest = []
    while (message := check.basic_get(name, no_ack=True)) is not None:
        rest.append((message.decode()['n'], message.delivery_info.get('redelivered')))
    # Never handed over: back at the head, oldest first, not marked redelivered.
    assert rest == [(2, None), (3, None), (4, None), (5, None)]
    check.queue_delete(name)


def test_cancel_puts_that_queues_messages_back(conn, uname):
    first, second = uname('c1'), uname('c2')
    _fill(conn, first, 4)
    _fill(conn, second, 4)
    channel = conn.channel()
    got: list[tuple[str, int]] = []

    def on(queue: str):
        return lambda body, message: (got.append((queue, body['n'])), message.ack())

    c1 = Consumer(channel, [Queue(first)], accept=['json'], callbacks=[on(first)])
    c2 = Consumer(channel, [Queue(second)], accept=['json'], callbacks=[on(second)])
    c1.consume()
    c2.consume()
    conn.drain_events(timeout=1)
    conn.drain_events(timeout=1)
    assert len(got) == 2
    c1.cancel()
    assert channel._size(first) == 4 - sum(1 for q, _ in got if q == first)
    while sum(1 for q, _ in got if q == second) < 4:
        conn.drain_events(timeout=1)
    assert [n for q, n in got if q == second] == [0, 1, 2, 3]
    assert channel._size(first) + sum(1 for q, _ in got if q == first) == 4
    for name in (first, second):
        channel.queue_delete(name)


def test_prefetch_limit_bounds_the_batch(conn, uname):
    name, channel = _filled(conn, uname('prefetch'), 6)
    held: list[Any] = []
    consumer = Consumer(channel, [Queue(name)], accept=['json'], prefetch_count=2,
                        callbacks=[lambda body, message: held.append(message)])
    with consumer:
        conn.drain_events(timeout=1)
        assert channel._size(name) == 4  # two fetched, not eight
        conn.drain_events(timeout=1)
        with pytest.raises(socket.timeout):  # the window is full
            conn.drain_events(timeout=0.05)
        held.pop(0).ack()
        conn.drain_events(timeout=1)
        assert [m.decode()['n'] for m in held] == [1, 2]
        for message in held:
            message.ack()
    channel.queue_delete(name)


def test_no_ack_consumer_gets_every_message_once(conn, uname):
    name, channel = _filled(conn, uname('noack'), 10)
    got: list[int] = []
    with Consumer(channel, [Queue(name)], accept=['json'], no_ack=True,
                  callbacks=[lambda body, message: got.append(body['n'])]):
        for _ in range(3):
            conn.drain_events(timeout=1)
        assert got == [0, 1, 2]
    # Cancelled with 5 of the first batch of 8 unhanded: they went back.
    assert channel._size(name) == 7
    channel.qos._flush()  # acks are applied lazily
    assert not channel.qos._delivered  # nothing left unacked
    channel.close()
    check = conn.channel()
    assert [check.basic_get(name, no_ack=True).decode()['n'] for _ in range(7)] == \
        [3, 4, 5, 6, 7, 8, 9]
    check.queue_delete(name)


def test_recover_requeues_each_message_once(conn, uname):
    name, channel = _filled(conn, uname('recover'), 4)
    got: list[int] = []
    with Consumer(channel, [Queue(name)], accept=['json'],
                  callbacks=[lambda body, message: got.append(body['n'])]):
        conn.drain_events(timeout=1)  # 0 handed over (unacked), 1..3 waiting
        channel.basic_recover(requeue=True)
        while len(got) < 5:
            conn.drain_events(timeout=1)
        with pytest.raises(socket.timeout):
            conn.drain_events(timeout=0.05)
    # 0 again (redelivered), then 1..3 exactly once each.
    assert sorted(got) == [0, 0, 1, 2, 3]
    channel.queue_delete(name)
