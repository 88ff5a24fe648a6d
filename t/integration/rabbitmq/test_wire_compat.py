"""Wire compatibility with upstream Kombu 5.7 (run in a throw-away virtualenv).

The same messages are published by this package and by upstream, each side
consumes the other's, and what the two consumers see (body, headers,
properties, delivery_info) must be identical.
"""
from __future__ import annotations

import json
import socket
import time

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from t.integration.rabbitmq.broker import amqp_url, private_vhost
from t.upstream import run_upstream

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Each message: (body, publish options).  Bodies are JSON-able so that both
# sides can report them the same way.
MESSAGES = [
    ({'task': 'add', 'args': [2, 2], 'unicode': 'héllo ☃'},
     {'headers': {'id': 'abc', 'retries': 0, 'nested': {'k': [1, 2.5, None]}},
      'priority': 7, 'correlation_id': 'corr-1', 'reply_to': 'replies',
      'message_id': 'm-1', 'delivery_mode': 2}),
    ('plain text', {'serializer': 'json', 'headers': {'x': 'y'}, 'delivery_mode': 1}),
    ({'zipped': 'x' * 200}, {'compression': 'zlib', 'expiration': 60}),
    ('raw-bytes', {'content_type': 'application/data', 'content_encoding': 'binary',
                   'headers': {}}),
]

# Runs under upstream: publish MESSAGES to one queue, consume the other queue.
UPSTREAM_SCRIPT = r'''
import json, socket, sys, time
from kombu import Connection, Consumer, Exchange, Producer, Queue
url, ex_name, to_us, to_them, messages = json.loads(sys.argv[1] if len(sys.argv) > 1 else {args!r})
ex = Exchange(ex_name, type='direct')
q_us, q_them = Queue(to_us, ex, routing_key=to_us), Queue(to_them, ex, routing_key=to_them)
seen = []
with Connection(url) as conn:
    producer = Producer(conn, exchange=ex)
    for body, options in messages:
        if options.get('content_encoding') == 'binary':
            body = body.encode()
        producer.publish(body, routing_key=to_us, declare=[q_us, q_them], **options)
    def on_message(body, message):
        seen.append({{
            'body': body.decode() if isinstance(body, bytes) else body,
            'headers': message.headers, 'properties': message.properties,
            'delivery_info': {{k: v for k, v in message.delivery_info.items()
                               if k not in ('delivery_tag', 'consumer_tag')}},
            'content_type': message.content_type,
            'content_encoding': message.content_encoding,
        }})
        message.ack()
    with Consumer(conn, [q_them], callbacks=[on_message], accept=['json', 'application/data']):
        deadline = time.monotonic() + 20
        while len(seen) < len(messages) and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.5)
            except socket.timeout:
                pass
print(json.dumps(seen, default=str, sort_keys=True))
'''


@pytest.fixture(scope='module')
def vhost():
    with private_vhost('wire') as name:
        yield name


def _publish_ours(conn, ex, queues, routing_key):
    producer = Producer(conn, exchange=ex)
    for body, options in MESSAGES:
        if options.get('content_encoding') == 'binary':
            body = body.encode()
        producer.publish(body, routing_key=routing_key, declare=queues, **options)


def _consume_ours(conn, queue, count):
    seen = []

    def on_message(body, message):
        seen.append({
            'body': body.decode() if isinstance(body, bytes) else body,
            'headers': message.headers, 'properties': message.properties,
            'delivery_info': {k: v for k, v in message.delivery_info.items()
                              if k not in ('delivery_tag', 'consumer_tag')},
            'content_type': message.content_type,
            'content_encoding': message.content_encoding,
        })
        message.ack()
    with Consumer(conn, [queue], callbacks=[on_message], accept=['json', 'application/data']):
        deadline = time.monotonic() + 20
        while len(seen) < count and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.5)
            except socket.timeout:
                pass
    return json.loads(json.dumps(seen, default=str, sort_keys=True))


def test_messages_round_trip_both_ways(vhost, uname):
    url = amqp_url(vhost)
    ex = Exchange(uname('wire-x'), type='direct')
    to_us, to_them = uname('wire-to-us'), uname('wire-to-them')
    q_us, q_them = Queue(to_us, ex, routing_key=to_us), Queue(to_them, ex, routing_key=to_them)
    with Connection(url) as conn:
        _publish_ours(conn, ex, [q_us, q_them], to_them)
        args = json.dumps([url, ex.name, to_us, to_them, MESSAGES])
        theirs_saw = json.loads(run_upstream(UPSTREAM_SCRIPT.format(args=args), timeout=90))
        we_saw = _consume_ours(conn, q_us, len(MESSAGES))

    assert len(theirs_saw) == len(we_saw) == len(MESSAGES)
    for ours, theirs, (body, options) in zip(we_saw, theirs_saw, MESSAGES):
        # upstream's view of our message == our view of upstream's message
        assert ours['body'] == theirs['body'] == body
        assert ours['headers'] == theirs['headers']
        assert ours['properties'] == theirs['properties']
        assert ours['content_type'] == theirs['content_type']
        assert ours['content_encoding'] == theirs['content_encoding']
        assert ours['delivery_info'].pop('routing_key') == to_us
        assert theirs['delivery_info'].pop('routing_key') == to_them
        assert ours['delivery_info'] == theirs['delivery_info']
        for key in ('priority', 'correlation_id', 'reply_to', 'message_id', 'delivery_mode'):
            if key in options:
                assert ours['properties'][key] == options[key]
        for key, value in options.get('headers', {}).items():
            assert ours['headers'][key] == value
    assert we_saw[2]['headers']['compression'] == 'application/x-gzip'
    assert we_saw[2]['properties']['expiration'] == '60000'
