"""``sentinel_fanout_compat``: Sentinel fanout across a rolling upgrade from Kombu < 5.4.

Kombu < 5.4 published Sentinel fanout messages on the literal topic
``/{db}.<exchange>``; 5.4 and later (and this package) on ``/<db>.<exchange>``.
With the option on, a channel publishes on both, listens on both, and hands
over a message that came on both once.  A private master, replica and sentinel.
"""
from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
import redis

from kombu import Connection, Consumer, Exchange, Producer, Queue
from t.integration.redis.servers import SentinelSetup

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def sentinel_setup() -> Any:
    setup = SentinelSetup().start()
    yield setup
    setup.stop()


def options(compat: bool) -> dict[str, Any]:
    return {'master_name': 'mymaster', 'sentinel_fanout_compat': compat}


def drain_all(conn: Connection, seconds: float = 1.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn.drain_events(timeout=0.2)
        except socket.timeout:
            pass


def listen(port: int, topic: str) -> Any:
    sub = redis.Redis(port=port).pubsub()
    sub.psubscribe(topic)
    assert sub.get_message(timeout=2)['type'] == 'psubscribe'
    return sub


def next_data(sub: Any) -> Any:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        message = sub.get_message(timeout=0.5)
        if message and message['type'] == 'pmessage':
            return json.loads(message['data'])
    return None


@pytest.mark.parametrize('compat', [True, False])
def test_publishes_on_the_legacy_topic_only_in_compat_mode(sentinel_setup, uname, compat):
    name = uname('fcompat')
    exchange = Exchange(name, 'fanout')
    master = sentinel_setup.master_port()
    legacy = listen(master, '/{db}.' + name)
    current = listen(master, '/0.' + name)
    with Connection(sentinel_setup.url, transport_options=options(compat)) as conn:
        Producer(conn.channel()).publish({'n': 1}, exchange=exchange, declare=[exchange])
    got_current = next_data(current)
    assert got_current is not None and got_current['properties']['delivery_tag']
    got_legacy = next_data(legacy)
    if compat:
        assert got_legacy is not None
        assert got_legacy['properties']['delivery_tag'] == \
            got_current['properties']['delivery_tag']
    else:
        assert got_legacy is None
    legacy.close()
    current.close()


def test_old_and_new_publishers_reach_a_compat_consumer_once_each(sentinel_setup, uname):
    name = uname('fcompat2')
    exchange = Exchange(name, 'fanout')
    queue = Queue(name, exchange)
    got: list[Any] = []
    master = redis.Redis(port=sentinel_setup.master_port())
    with Connection(sentinel_setup.url, transport_options=options(True)) as conn:
        with Consumer(conn.channel(), [queue],
                      callbacks=[lambda body, m: (got.append(body), m.ack())]):
            drain_all(conn, 0.5)  # subscribed on the first drain (PUB/SUB keeps nothing)
            # a compat publisher (both topics) is delivered once
            with Connection(sentinel_setup.url, transport_options=options(True)) as pub:
                Producer(pub.channel()).publish({'from': 'compat'}, exchange=exchange)
            # a plain new publisher (current topic only)
            with Connection(sentinel_setup.url, transport_options=options(False)) as pub:
                Producer(pub.channel()).publish({'from': 'new'}, exchange=exchange)
            # an old Kombu (< 5.4) publisher: the literal '/{db}.' topic only
            envelope = {'body': json.dumps({'from': 'old'}), 'content-encoding': 'utf-8',
                        'content-type': 'application/json', 'headers': {},
                        'properties': {'delivery_tag': 'old-kombu-tag', 'body_encoding': None,
                                       'delivery_info': {'exchange': name, 'routing_key': ''},
                                       'priority': 0, 'delivery_mode': 2}}
            master.publish('/{db}.' + name, json.dumps(envelope))
            # a message from elsewhere without a delivery tag is never dropped
            untagged = dict(envelope, body=json.dumps({'from': 'untagged'}),
                            properties=dict(envelope['properties'], delivery_tag=None))
            master.publish('/{db}.' + name, json.dumps(untagged))
            master.publish('/0.' + name, json.dumps(untagged))
            drain_all(conn, 2.0)
    froms = sorted(body['from'] for body in got)
    assert froms == ['compat', 'new', 'old', 'untagged', 'untagged'], got


def test_without_compat_a_consumer_misses_old_publishers(sentinel_setup, uname):
    name = uname('fcompat3')
    exchange = Exchange(name, 'fanout')
    queue = Queue(name, exchange)
    got: list[Any] = []
    master = redis.Redis(port=sentinel_setup.master_port())
    with Connection(sentinel_setup.url, transport_options=options(False)) as conn:
        with Consumer(conn.channel(), [queue],
                      callbacks=[lambda body, m: (got.append(body), m.ack())]):
            drain_all(conn, 0.5)  # subscribed on the first drain (PUB/SUB keeps nothing)
            with Connection(sentinel_setup.url, transport_options=options(True)) as pub:
                Producer(pub.channel()).publish({'from': 'compat'}, exchange=exchange)
            master.publish('/{db}.' + name, json.dumps({'body': 'x', 'properties': {}}))
            drain_all(conn, 1.5)
    assert [body['from'] for body in got] == ['compat']   # once, the legacy copy unheard
