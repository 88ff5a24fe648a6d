"""Ack emulation under failure: leases of live consumers, exactly-once restore."""
from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue

pytestmark = pytest.mark.integration

OPTIONS = {'visibility_timeout': 1, 'unacked_restore_throttle': 1}

HOLDER = '''
import sys, time
from kombu import Connection, Consumer, Queue, Exchange
url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ack_even = len(sys.argv) > 4
held = []

def on_message(body, message):
    held.append(message)
    if ack_even and body % 2 == 0:
        message.ack()

with Connection(url, transport_options={'visibility_timeout': 1}) as conn:
    q = Queue(name, Exchange(name), name)
    with Consumer(conn.channel(), [q], callbacks=[on_message], prefetch_count=n):
        while len(held) < n:
            conn.drain_events(timeout=5)
        print('held', len(held), flush=True)
        time.sleep(60)
'''


def publish(url, name, n):
    queue = Queue(name, Exchange(name), name)
    with Connection(url) as conn:
        producer = Producer(conn.channel())
        queue(producer.channel).declare()
        for i in range(n):
            producer.publish(i, exchange=queue.exchange, routing_key=name)
    return queue


def start_holder(url, name, n, *extra):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, '-c', textwrap.dedent(HOLDER), url, name, str(n),
                             *extra], stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    assert line.startswith('held'), line
    return proc


def sweep(url):
    with Connection(url, transport_options=OPTIONS) as conn:
        return conn.default_channel.qos.restore_visible(num=None, interval=1)


def test_live_consumer_keeps_its_messages_past_visibility_timeout(redis_url, uname, rclient):
    name = uname('live')
    publish(redis_url, name, 5)
    proc = start_holder(redis_url, name, 5)
    try:
        assert rclient.hlen('unacked') == 5
        time.sleep(2.0)  # twice the visibility timeout: only the lease keeps them
        assert sweep(redis_url) == 0
        assert rclient.hlen('unacked') == 5 and rclient.llen(name) == 0
    finally:
        proc.kill()
        proc.wait()


def test_killed_consumer_messages_return_exactly_once(redis_url, uname, rclient):
    name = uname('kill9')
    n = 20
    queue = publish(redis_url, name, n)
    proc = start_holder(redis_url, name, n)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert rclient.hlen('unacked') == n and rclient.llen(name) == 0
    time.sleep(1.3)
    # several sweepers race: each message must come back once
    results = []
    threads = [threading.Thread(target=lambda: results.append(sweep(redis_url)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sum(results) == n
    assert rclient.llen(name) == n and rclient.hlen('unacked') == 0
    got = []
    with Connection(redis_url, transport_options=OPTIONS) as conn:
        def on_message(body, message):
            got.append((body, message.delivery_info.get('redelivered')))
            message.ack()
        with Consumer(conn.channel(), [queue], callbacks=[on_message], prefetch_count=5):
            deadline = time.monotonic() + 5
            while len(got) < n and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.5)
                except socket.timeout:
                    pass
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=1.5)
    assert sorted(b for b, _ in got) == list(range(n))
    assert all(redelivered for _, redelivered in got)
    assert rclient.hlen('unacked') == 0


def test_consumer_sweeps_while_draining(redis_url, uname, rclient):
    """A consumer's idle polls run the sweep: orphans come back by themselves."""
    name = uname('orphan')
    queue = publish(redis_url, name, 3)
    proc = start_holder(redis_url, name, 3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    got = []
    with Connection(redis_url, transport_options=OPTIONS) as conn:
        with Consumer(conn.channel(), [queue], prefetch_count=10,
                      callbacks=[lambda b, m: (got.append(b), m.ack())]):
            deadline = time.monotonic() + 10
            while len(got) < 3 and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=2)  # longer than BRPOP's 1 s
                except socket.timeout:
                    pass
    assert sorted(got) == [0, 1, 2]
    assert rclient.hlen('unacked') == 0


def test_acks_of_a_killed_consumer_are_not_lost(redis_url, uname, rclient):
    """Acks leave the process when given: after kill -9 only unacked return."""
    name = uname('ackkill')
    publish(redis_url, name, 10)
    proc = start_holder(redis_url, name, 10, 'ack-even')
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert rclient.hlen('unacked') == 5
    time.sleep(1.3)
    assert sweep(redis_url) == 5
    returned = sorted(json.loads(base64.b64decode(json.loads(raw)['body']))
                      for raw in rclient.lrange(name, 0, -1))
    assert returned == [1, 3, 5, 7, 9] and rclient.hlen('unacked') == 0


def test_ack_whose_reply_is_lost_is_sent_again_and_never_restored(redis_url, uname, rclient):
    """An ack written to a connection the server dropped is not lost.

    Acks go out without waiting for the reply; here the server closes the
    connection first, so the write succeeds but the ack never arrives.  The
    next connection to the same Redis sends it again before anything else,
    and no visibility sweep brings the acked message back.
    """
    name = uname('acklost')
    queue = publish(redis_url, name, 1)
    got = []
    with Connection(redis_url, transport_options=OPTIONS) as conn:
        channel = conn.channel()
        consumer = Consumer(channel, [queue], callbacks=[lambda body, m: got.append(m)],
                            prefetch_count=1)
        with consumer:
            conn.drain_events(timeout=5)
        tag = got[0].delivery_tag
        assert rclient.hexists('unacked', tag)
        client_id = channel._execute('CLIENT', 'ID')
        rclient.client_kill_filter(_id=client_id)
        time.sleep(0.1)  # the server's FIN has arrived: a write still succeeds
        got[0].ack()  # returns normally: the application gave its ack
        channel.close()
    time.sleep(OPTIONS['visibility_timeout'] + 0.3)
    assert sweep(redis_url) == 0
    assert not rclient.hexists('unacked', tag)
    assert rclient.zscore('unacked_index', tag) is None
    assert rclient.llen(name) == 0


def test_ack_sent_again_spares_a_later_delivery_of_the_same_tag(redis_url, rclient):
    """A restore keeps the delivery tag: an ack in doubt must not remove the
    record of a delivery made after it (its lease is newer than the ack)."""
    from kombu.transport.redis.qos import unconfirmed_acks
    now = time.time()
    rclient.hset('unacked', mapping={'ours': '[]', 'later': '[]'})
    rclient.zadd('unacked_index', {'ours': now - 20, 'later': now})
    with Connection(redis_url) as conn:
        target = conn.default_channel._ack_target
    unconfirmed_acks.add(target, ['ours', 'later'], now - 10)
    with Connection(redis_url) as conn:
        conn.default_channel  # its first command sends them again
    assert not unconfirmed_acks.holds(target, 'ours')
    assert rclient.hkeys('unacked') == [b'later']
    assert rclient.zrange('unacked_index', 0, -1) == [b'later']
