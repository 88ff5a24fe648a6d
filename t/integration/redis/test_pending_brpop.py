"""A BRPOP left pending by a timed-out ``drain_events``: nothing it pops is lost or stolen.

Each test prints its counts: published, consumed, lost, duplicated.
"""
from __future__ import annotations

import socket
import time

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.asynchronous import Hub
from t.integration.redis.helpers import publish, report

pytestmark = pytest.mark.integration

#: BRPOP waits this long on the server: long enough to be pending throughout a test
SLOW_BRPOP = {'polling_interval': 5}


def consume_rest(url: str, queue: Queue, timeout: float = 3.0) -> list:
    """What is left in ``queue`` (each message acked)."""
    got: list = []
    with Connection(url) as conn:
        with Consumer(conn.channel(), [queue],
                      callbacks=[lambda b, m: (got.append(b), m.ack())]):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.3)
                except socket.timeout:
                    if got:
                        break
    return got


def wait_popped(rclient, key: str, timeout: float = 2.0) -> None:
    """Until the pending BRPOP took the message off ``key``."""
    deadline = time.monotonic() + timeout
    while rclient.llen(key) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rclient.llen(key) == 0, 'the pending BRPOP did not pop the message'


def leave_brpop_pending(conn: Connection, channel) -> None:
    with pytest.raises(socket.timeout):
        conn.drain_events(timeout=0.1)
    assert channel._in_poll, 'expected a BRPOP in flight'


@pytest.mark.parametrize('how', ['channel.close', 'connection.release', 'cancel+release'])
def test_message_popped_by_pending_brpop_survives_close(redis_url, rclient, uname, how):
    name = uname('pending')
    queue = Queue(name, Exchange(name), name)
    held: list = []  # a consumer that is torn down before it acks
    conn = Connection(redis_url, transport_options=SLOW_BRPOP)
    channel = conn.channel()
    consumer = Consumer(channel, [queue], callbacks=[lambda b, m: held.append(b)])
    consumer.consume()
    leave_brpop_pending(conn, channel)
    publish(redis_url, queue, ['m1'])
    wait_popped(rclient, name)
    if how == 'channel.close':
        channel.close()
        conn.release()
    elif how == 'connection.release':
        conn.release()
    else:
        consumer.cancel()
        conn.release()
    rest = consume_rest(redis_url, queue)
    lost, duplicated = report(f'close via {how}', ['m1'], rest)
    assert (lost, duplicated) == (0, 0)
    assert rest == ['m1']
    assert rclient.hlen('unacked') == 0


def test_cancel_with_brpop_pending_leaves_message_for_others(redis_url, rclient, uname):
    name = uname('cancelpend')
    queue = Queue(name, Exchange(name), name)
    got: list = []
    with Connection(redis_url, transport_options=SLOW_BRPOP) as conn:
        channel = conn.channel()
        consumer = Consumer(channel, [queue], callbacks=[lambda b, m: got.append(b)])
        consumer.consume()
        leave_brpop_pending(conn, channel)
        consumer.cancel()  # the connection stays open and idle
        publish(redis_url, queue, ['m1'])
        time.sleep(0.2)
        rest = consume_rest(redis_url, queue)  # another consumer gets it
        assert not channel._in_poll
    lost, duplicated = report('cancel, connection kept', ['m1'], got + rest)
    assert (got, rest) == ([], ['m1'])
    assert (lost, duplicated) == (0, 0)


def fanout_pause(conn: Connection, name: str, got: list) -> tuple:
    """A channel (prefetch 1) paused by a fanout delivery while its BRPOP is pending."""
    queue = Queue(name, Exchange(name), name)
    fan = Exchange(name + '.fan', 'fanout')
    channel = conn.channel()
    consumer = Consumer(channel, [queue, Queue(name + '.fq', fan)], prefetch_count=1,
                        callbacks=[lambda b, m: got.append((b, m))])
    consumer.consume()
    leave_brpop_pending(conn, channel)
    with Connection(conn.as_uri(include_password=True)) as pub:
        Producer(pub.channel(), fan).publish('broadcast')
    conn.drain_events(timeout=2)
    assert [b for b, _ in got] == ['broadcast']
    assert not channel.qos.can_consume()  # paused
    return queue, channel, consumer


def test_paused_channel_does_not_steal_messages(redis_url, rclient, uname):
    name = uname('paused')
    got: list = []
    with Connection(redis_url, transport_options=SLOW_BRPOP) as conn:
        queue, channel, consumer = fanout_pause(conn, name, got)
        publish(redis_url, queue, ['m1'])
        time.sleep(0.3)
        # the paused channel holds no BRPOP: another consumer gets the message
        rest = consume_rest(redis_url, queue)
        assert rclient.hlen('unacked') == 1  # only the broadcast, unacked
        got[0][1].ack()
        consumer.cancel()
    lost, duplicated = report('paused channel', ['m1'], rest + [b for b, _ in got[1:]])
    assert rest == ['m1'] and len(got) == 1
    assert (lost, duplicated) == (0, 0)


class BrpopProtocol:
    """Records commands sent and replies read on the channel's BRPOP connection."""

    def __init__(self, monkeypatch, conn) -> None:
        self.pending: list[str] = []
        self.most = 0
        send, read = conn.send_command, conn.read_response

        def send_command(*args, **kwargs):
            self.pending.append(str(args[0]).upper())
            self.most = max(self.most, self.pending.count('BRPOP'))
            return send(*args, **kwargs)

        def read_response(*args, **kwargs):
            try:
                return read(*args, **kwargs)
            finally:
                if self.pending:
                    self.pending.pop(0)
        monkeypatch.setattr(conn, 'send_command', send_command)
        monkeypatch.setattr(conn, 'read_response', read_response)


def test_drain_after_pause_resumes_with_one_brpop(redis_url, rclient, uname, monkeypatch):
    name = uname('resume')
    got: list = []
    with Connection(redis_url, transport_options=SLOW_BRPOP) as conn:
        queue, channel, consumer = fanout_pause(conn, name, got)
        protocol = BrpopProtocol(monkeypatch, channel.client.connection)
        with pytest.raises(socket.timeout):
            conn.drain_events(timeout=0.2)  # paused: nothing delivered
        got[0][1].ack()  # a slot is free again
        publish(redis_url, queue, ['m1', 'm2'])
        for _ in range(2):
            conn.drain_events(timeout=2)
            got[-1][1].ack()
        with pytest.raises(socket.timeout):
            conn.drain_events(timeout=0.2)
        consumer.cancel()
        assert protocol.most == 1  # never a second BRPOP behind a pending one
    bodies = [b for b, _ in got]
    lost, duplicated = report('resume after pause', ['m1', 'm2'], bodies[1:])
    assert bodies == ['broadcast', 'm1', 'm2']
    assert (lost, duplicated) == (0, 0)
    assert rclient.hlen('unacked') == 0


def test_paused_channel_does_not_block_other_channels(redis_url, rclient, uname):
    name = uname('block')
    got: list = []
    other_got: list = []
    with Connection(redis_url, transport_options=SLOW_BRPOP) as conn:
        queue, channel, consumer = fanout_pause(conn, name, got)
        other = Queue(name + '.other', Exchange(name + '.other'), name + '.other')
        other_consumer = Consumer(conn.channel(), [other],
                                  callbacks=[lambda b, m: (other_got.append(b), m.ack())])
        other_consumer.consume()
        publish(redis_url, queue, ['held-back'])
        publish(redis_url, other, list(range(5)))
        deadline = time.monotonic() + 5
        cpu = time.process_time()
        while len(other_got) < 5 and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.5)
            except socket.timeout:
                pass
        assert other_got == list(range(5))
        assert len(got) == 1  # the paused channel got nothing more
        wall = time.monotonic()
        with pytest.raises(socket.timeout):
            conn.drain_events(timeout=0.5)  # and does not spin on a readable socket
        assert time.process_time() - cpu < 0.5 + 0.5 * (time.monotonic() - wall)
        assert rclient.llen(name) == 1  # still in Redis, for anyone
        got[0][1].ack()
        consumer.cancel()
        other_consumer.cancel()
    lost, duplicated = report('other channel', list(range(5)), other_got)
    assert (lost, duplicated) == (0, 0)


def run_until(hub: Hub, predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        hub.run_once()
    return predicate()


def test_hub_pauses_brpop_at_prefetch_until_an_ack(redis_url, rclient, uname):
    name = uname('hubpause')
    queue = Queue(name, Exchange(name), name)
    fan = Exchange(name + '.fan', 'fanout')
    held: list = []
    auto_ack: list = []

    def on_message(body, message):
        held.append((body, message))
        if auto_ack:
            message.ack()
    hub = Hub()
    bodies = [f'm{i}' for i in range(5)]
    with Connection(redis_url, transport_options=SLOW_BRPOP) as conn:
        conn.register_with_event_loop(hub)
        channel = conn.channel()
        consumer = Consumer(channel, [queue, Queue(name + '.fq', fan)], prefetch_count=2,
                            callbacks=[on_message])
        consumer.consume()
        run_until(hub, lambda: False, timeout=0.3)  # BRPOP and LISTEN in flight
        with Connection(redis_url) as pub:
            Producer(pub.channel(), fan).publish('b1')
            Producer(pub.channel(), fan).publish('b2')
        assert run_until(hub, lambda: len(held) == 2)  # prefetch reached by fanout
        publish(redis_url, queue, bodies)
        run_until(hub, lambda: False, timeout=0.5)
        assert len(held) == 2 and rclient.llen(name) == 5  # paused: nothing popped
        held[0][1].ack()
        assert run_until(hub, lambda: len(held) == 3)
        run_until(hub, lambda: False, timeout=0.3)
        assert len(held) == 3 and rclient.llen(name) == 4  # one slot, one message
        auto_ack.append(True)
        for _, message in held[1:]:
            message.ack()
        assert run_until(hub, lambda: len(held) == 7)
        consumer.cancel()
        hub.close()
    got = [b for b, _ in held[2:]]
    lost, duplicated = report('hub pause', bodies, got)
    assert got == bodies
    assert (lost, duplicated) == (0, 0)
    assert rclient.hlen('unacked') == 0
