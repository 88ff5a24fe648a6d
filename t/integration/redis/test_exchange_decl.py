"""Exchange types declared by one process apply in the others (stored in Redis).

Each Connection below has its own broker state, as separate processes do
(asserted once); one of them runs in a subprocess.  Only the first declares
the exchange; the others publish or restore through it by name.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import ChannelError
from t.integration.redis.helpers import drain_until as drain

pytestmark = pytest.mark.integration


def get_all(conn, queue_name, limit=20):
    """Bodies ready in ``queue_name`` (acked), via basic_get."""
    channel, bodies = conn.channel(), []
    for _ in range(limit):
        message = channel.basic_get(queue_name, no_ack=True)
        if message is None:
            break
        bodies.append(json.loads(message.body))
    return bodies


def topic_setup(url, uname, **options):
    name = uname('xdecl-topic')
    topic = Exchange(name, 'topic')
    q1, q2 = Queue(name + '.1', topic, 'a.*'), Queue(name + '.2', topic, '#.z')
    with Connection(url, transport_options=options) as conn:
        channel = conn.channel()
        for queue in (q1, q2):
            queue(channel).declare()
    return topic, q1, q2


def test_connections_do_not_share_broker_state(redis_url):
    with Connection(redis_url) as a, Connection(redis_url) as b:
        assert a.transport.state is not b.transport.state


def test_topic_routing_in_a_process_that_never_declared(redis_url, uname, rclient):
    topic, q1, q2 = topic_setup(redis_url, uname)
    assert json.loads(rclient.get(f'_kombu.exchange.{topic.name}'))['type'] == 'topic'
    script = textwrap.dedent(f"""
        from kombu import Connection, Producer
        with Connection({redis_url!r}) as conn:
            assert {topic.name!r} not in conn.transport.state.exchanges
            producer = Producer(conn.channel())
            for body, key in (('ab', 'a.b'), ('xz', 'x.y.z'), ('az', 'a.z'), ('none', 'q')):
                producer.publish(body, exchange={topic.name!r}, routing_key=key,
                                 serializer='json')
    """)
    subprocess.run([sys.executable, '-c', script], check=True, timeout=60)
    with Connection(redis_url) as conn:
        assert sorted(get_all(conn, q1.name)) == ['ab', 'az']
        assert sorted(get_all(conn, q2.name)) == ['az', 'xz']


def test_restore_in_a_process_that_never_declared(redis_url, uname, rclient):
    topic, q1, _ = topic_setup(redis_url, uname)
    with Connection(redis_url) as conn:
        Producer(conn.channel()).publish('back', exchange=topic.name, routing_key='a.b',
                                         serializer='json')
    with Connection(redis_url) as conn:  # takes it unacked, then closes
        message = conn.channel().basic_get(q1.name)
        assert message is not None and json.loads(message.body) == 'back'
        assert rclient.hlen('unacked') == 1
    assert rclient.hlen('unacked') == 0
    with Connection(redis_url) as conn:
        assert get_all(conn, q1.name) == ['back']  # not misrouted as direct 'a.b'


def test_fanout_publish_from_a_process_that_never_declared(redis_url, uname):
    name = uname('xdecl-fan')
    fan = Exchange(name, 'fanout')
    f1, f2 = Queue(name + '.1', fan), Queue(name + '.2', fan)
    received = []
    with Connection(redis_url) as conn, Connection(redis_url) as other:
        consumer = Consumer(conn.channel(), [f1, f2],
                            callbacks=[lambda body, m: (received.append(body), m.ack())])
        with consumer:
            with pytest.raises(socket.timeout):  # subscriptions are made on the first poll
                conn.drain_events(timeout=0.2)
            Producer(other.channel()).publish('fan', exchange=name, routing_key='',
                                              serializer='json')
            drain(conn, lambda: len(received) >= 2)
    assert received == ['fan', 'fan']


def test_passive_declare_sees_other_processes_and_delete_removes_key(redis_url, uname,
                                                                       rclient):
    topic, q1, _ = topic_setup(redis_url, uname)
    key = f'_kombu.exchange.{topic.name}'
    with Connection(redis_url) as conn:
        channel = conn.channel()
        channel.exchange_declare(topic.name, passive=True)
        assert channel.typeof(topic.name).type == 'topic'
        channel.exchange_delete(topic.name, if_unused=True)  # still bound: kept
        assert rclient.exists(key)
        channel.exchange_delete(topic.name)
    assert not rclient.exists(key)
    with Connection(redis_url) as conn:
        channel = conn.channel()
        with pytest.raises(ChannelError, match='NOT_FOUND'):
            channel.exchange_declare(topic.name, passive=True)
        assert channel.typeof(topic.name).type == 'direct'


def test_redeclared_type_is_seen_after_the_cache_ttl(redis_url, uname, rclient):
    name = uname('xdecl-redecl')
    options = {'binding_cache_ttl': 0.2}
    with Connection(redis_url, transport_options=options) as a, \
            Connection(redis_url, transport_options=options) as b:
        Exchange(name, 'topic')(a.channel()).declare()
        channel = b.channel()
        assert channel.typeof(name).type == 'topic'
        a.channel().exchange_delete(name)
        Exchange(name, 'fanout')(a.channel()).declare()
        time.sleep(0.3)
        assert channel.typeof(name).type == 'fanout'


def test_declaration_key_honours_global_keyprefix(redis_url, uname, rclient):
    options = {'global_keyprefix': 'pfx:'}
    topic, q1, _ = topic_setup(redis_url, uname, **options)
    assert rclient.exists(f'pfx:_kombu.exchange.{topic.name}')
    assert not rclient.exists(f'_kombu.exchange.{topic.name}')
    with Connection(redis_url, transport_options=options) as conn:
        Producer(conn.channel()).publish('p', exchange=topic.name, routing_key='a.b',
                                         serializer='json')
        assert get_all(conn, q1.name) == ['p']


def test_headers_routing_in_a_connection_that_never_declared(redis_url, uname):
    name = uname('xdecl-hdr')
    exchange = Exchange(name, 'headers')
    pdf = Queue(name + '.pdf', exchange, binding_arguments={'x-match': 'any', 'format': 'pdf'})
    with Connection(redis_url) as conn:
        pdf(conn.channel()).declare()
    with Connection(redis_url) as conn:
        producer = Producer(conn.channel())
        producer.publish('yes', exchange=name, routing_key='', headers={'format': 'pdf'},
                         serializer='json')
        producer.publish('no', exchange=name, routing_key='', headers={'format': 'zip'},
                         serializer='json')
        assert get_all(conn, pdf.name) == ['yes']
