"""Wire compatibility with upstream Kombu 5.7 (throw-away virtualenv) on one Redis."""
from __future__ import annotations

import json
import socket
import time

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from t.upstream import run_upstream

pytestmark = pytest.mark.integration

UP_PUBLISH = '''
from kombu import Connection, Exchange, Queue, Producer
url, name = {url!r}, {name!r}
ex = Exchange(name, 'direct')
q = Queue(name, ex, 'rk')
with Connection(url) as c:
    p = Producer(c.channel(), ex)
    q(p.channel).declare()
    for i in range(5):
        p.publish({{'i': i, 'from': 'upstream'}}, routing_key='rk', priority=i * 2,
                  headers={{'n': i}})
print('ok')
'''

UP_CONSUME = '''
import json, socket
from kombu import Connection, Exchange, Queue, Consumer
url, name, n = {url!r}, {name!r}, {n!r}
q = Queue(name, Exchange(name, 'direct'), 'rk')
got = []
with Connection(url) as c:
    def cb(body, m):
        got.append([body, m.headers, m.properties.get('priority')]); m.ack()
    with Consumer(c.channel(), [q], callbacks=[cb], prefetch_count=10):
        while len(got) < n:
            c.drain_events(timeout=5)
    ch = c.default_channel
    print(json.dumps({{'got': got, 'unacked': ch.client.hlen('unacked')}}))
'''

UP_HOLD_AND_DIE = '''
import os, signal
from kombu import Connection, Exchange, Queue, Consumer
url, name, n = {url!r}, {name!r}, {n!r}
q = Queue(name, Exchange(name, 'direct'), 'rk')
held = []
c = Connection(url)
with Consumer(c.channel(), [q], callbacks=[lambda b, m: held.append(m)], prefetch_count=n):
    while len(held) < n:
        c.drain_events(timeout=5)
    os.kill(os.getpid(), signal.SIGKILL)
'''

UP_RESTORE = '''
from kombu import Connection
url = {url!r}
with Connection(url, transport_options={{'visibility_timeout': 1}}) as c:
    ch = c.default_channel
    ch.qos.restore_visible(num=None, interval=1)
    print(ch.client.hlen('unacked'))
'''


def test_upstream_publishes_we_consume(redis_url, uname, rclient):
    name = uname('up2us')
    assert run_upstream(UP_PUBLISH.format(url=redis_url, name=name)).strip() == 'ok'
    members = rclient.smembers(f'_kombu.binding.{name}')
    queue = Queue(name, Exchange(name, 'direct'), 'rk')
    got = []
    with Connection(redis_url) as conn:
        # our declare writes the very same binding member (no duplicate)
        queue(conn.channel()).declare()
        assert rclient.smembers(f'_kombu.binding.{name}') == members
        with Consumer(conn.channel(), [queue], prefetch_count=10,
                      callbacks=[lambda b, m: (got.append((b, m.headers)), m.ack())]):
            while len(got) < 5:
                conn.drain_events(timeout=5)
    assert sorted(b['i'] for b, _ in got) == [0, 1, 2, 3, 4]
    assert all(b['from'] == 'upstream' and h['n'] == b['i'] for b, h in got)
    assert rclient.hlen('unacked') == 0


def test_we_publish_upstream_consumes(redis_url, uname):
    name = uname('us2up')
    exchange = Exchange(name, 'direct')
    queue = Queue(name, exchange, 'rk')
    with Connection(redis_url) as conn:
        producer = Producer(conn.channel(), exchange)
        queue(producer.channel).declare()
        for i in range(4):
            producer.publish({'i': i}, routing_key='rk', headers={'n': i}, priority=9)
    out = json.loads(run_upstream(UP_CONSUME.format(url=redis_url, name=name, n=4)))
    assert [body['i'] for body, _, _ in out['got']] == [0, 1, 2, 3]
    assert all(headers['n'] == body['i'] and pri == 9 for body, headers, pri in out['got'])
    assert out['unacked'] == 0


def test_we_restore_what_a_dead_upstream_consumer_held(redis_url, uname, rclient):
    name = uname('updead')
    run_upstream(UP_PUBLISH.format(url=redis_url, name=name))
    try:
        run_upstream(UP_HOLD_AND_DIE.format(url=redis_url, name=name, n=5))
    except AssertionError:
        pass  # killed itself on purpose
    assert rclient.hlen('unacked') == 5
    time.sleep(1.2)
    with Connection(redis_url, transport_options={'visibility_timeout': 1}) as conn:
        assert conn.default_channel.qos.restore_visible(num=None, interval=1) == 5
    assert rclient.hlen('unacked') == 0
    assert sum(rclient.llen(k) for k in rclient.keys(f'{name}*')) == 5


def test_upstream_restores_what_our_dead_consumer_held(redis_url, uname, rclient):
    name = uname('usdead')
    exchange = Exchange(name, 'direct')
    queue = Queue(name, exchange, 'rk')
    conn = Connection(redis_url, transport_options={'visibility_timeout': 1})
    producer = Producer(conn.channel(), exchange)
    queue(producer.channel).declare()
    for i in range(3):
        producer.publish(i, routing_key='rk')
    held = []
    consumer = Consumer(conn.channel(), [queue], callbacks=[lambda b, m: held.append(m)],
                        prefetch_count=3)
    consumer.consume()
    while len(held) < 3:
        conn.drain_events(timeout=5)
    # simulate death: stop renewing leases, never ack or restore
    conn.transport._lease_keeper.stop()
    for channel in conn.transport.channels:
        channel.do_restore = False
    time.sleep(1.5)
    assert run_upstream(UP_RESTORE.format(url=redis_url)).strip() == '0'
    assert rclient.llen(name) == 3
    entries = [json.loads(e) for e in rclient.hvals('unacked')]
    assert entries == []
    conn.release()


def test_upstream_fanout_reaches_us(redis_url, uname):
    name = uname('upfan')
    fan = Exchange(name, 'fanout')
    got = []
    with Connection(redis_url) as conn:
        with Consumer(conn.channel(), [Queue(name + '.q', fan)],
                      callbacks=[lambda b, m: (got.append(b), m.ack())]):
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.2)  # subscribe
            run_upstream(f'''
from kombu import Connection, Exchange, Producer
with Connection({redis_url!r}) as c:
    # declared, so upstream knows it is fanout and PUBLISHes
    Producer(c.channel(), Exchange({name!r}, 'fanout')).publish('hi')
''')
            deadline = time.monotonic() + 5
            while not got and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.5)
                except socket.timeout:
                    pass
    assert got == ['hi']
