"""Queue arguments declared by one process apply in the others (stored in Redis).

Each Connection below has its own broker state, as separate processes do:
only the first declares the queue with its ``x-`` arguments.
"""
from __future__ import annotations

import time

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue

pytestmark = pytest.mark.integration


def declare(url, *entities):
    with Connection(url) as conn:
        channel = conn.channel()
        for entity in entities:
            entity.bind(channel).declare()


def drain_until_idle(conn, deadline=5.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            conn.drain_events(timeout=0.3)
        except TimeoutError:
            return
    raise AssertionError('the consumer never went idle')


def bodies(rclient, key):
    import base64
    import json
    return [json.loads(base64.b64decode(json.loads(raw)['body']))
            for raw in reversed(rclient.lrange(key, 0, -1))]


def dead_letter_setup(uname, **queue_kwargs):
    name, dlq_name = uname('qargs'), uname('qargs-dlq')
    dlx = Exchange(uname('qargs-dlx'), 'direct')
    dlq = Queue(dlq_name, dlx, routing_key=dlq_name)
    queue = Queue(name, Exchange(''), routing_key=name, queue_arguments={
        'x-dead-letter-exchange': dlx.name, 'x-dead-letter-routing-key': dlq_name},
        **queue_kwargs)
    return queue, dlx, dlq


def test_ttl_max_length_and_dead_letters_apply_in_other_processes(redis_url, uname, rclient):
    queue, dlx, dlq = dead_letter_setup(uname, message_ttl=0.3, max_length=3)
    declare(redis_url, dlx, dlq, queue)
    assert rclient.exists(f'_kombu.queue_args.{queue.name}')

    with Connection(redis_url) as publisher:  # never declared the queue
        producer = Producer(publisher.channel())
        for i in range(5):
            producer.publish(i, routing_key=queue.name, serializer='json')
    # x-max-length 3: the two oldest went to the dead-letter queue
    assert bodies(rclient, queue.name) == [2, 3, 4]
    assert bodies(rclient, dlq.name) == [0, 1]

    time.sleep(0.4)  # x-message-ttl passed: the rest expires when consumed
    got = []
    with Connection(redis_url) as consumer_conn:
        plain = Queue(queue.name, Exchange(''), routing_key=queue.name)  # no arguments
        with Consumer(consumer_conn.channel(), [plain], accept=['json'],
                      callbacks=[lambda body, m: (got.append(body), m.ack())]):
            drain_until_idle(consumer_conn)
    assert got == []
    assert bodies(rclient, dlq.name) == [0, 1, 2, 3, 4]
    assert rclient.llen(queue.name) == 0
    assert rclient.hlen('unacked') == 0  # dropped heads were never deliveries


def test_reject_dead_letters_in_a_consumer_that_did_not_declare(redis_url, uname, rclient):
    queue, dlx, dlq = dead_letter_setup(uname)
    declare(redis_url, dlx, dlq, queue)
    with Connection(redis_url) as publisher:
        Producer(publisher.channel()).publish('bad', routing_key=queue.name, serializer='json')
    with Connection(redis_url) as conn:
        message = conn.SimpleQueue(queue.name, no_ack=False).get(timeout=5)
        message.reject()
    assert bodies(rclient, dlq.name) == ['bad']
    assert rclient.hlen('unacked') == 0


def test_queue_expires_applies_to_publishes_from_other_processes(redis_url, uname, rclient):
    name = uname('qargs-exp')
    queue = Queue(name, Exchange(''), routing_key=name, expires=30)
    declare(redis_url, queue)
    with Connection(redis_url) as publisher:
        Producer(publisher.channel()).publish('x', routing_key=name, serializer='json')
    assert 0 < rclient.pttl(name) <= 30_000


def test_deleting_the_queue_deletes_its_arguments(redis_url, uname, rclient):
    name = uname('qargs-del')
    queue = Queue(name, Exchange(''), routing_key=name, message_ttl=5)
    declare(redis_url, queue)
    key = f'_kombu.queue_args.{name}'
    assert rclient.exists(key)
    with Connection(redis_url) as conn:
        queue.bind(conn.channel()).delete()
    assert not rclient.exists(key)


def test_arguments_key_honours_global_keyprefix(redis_url, uname, rclient):
    name = uname('qargs-pfx')
    queue = Queue(name, Exchange(''), routing_key=name, message_ttl=5)
    options = {'global_keyprefix': 'pfx:'}
    with Connection(redis_url, transport_options=options) as conn:
        queue.bind(conn.channel()).declare()
    assert rclient.exists(f'pfx:_kombu.queue_args.{name}')
    with Connection(redis_url, transport_options=options) as conn:
        Producer(conn.channel()).publish('x', routing_key=name, serializer='json')
    raw = rclient.lrange(f'pfx:{name}', 0, -1)
    assert len(raw) == 1 and b'x-expires-at' in raw[0]  # the TTL was stamped


def test_prepare_queue_arguments_accepts_none(redis_url):
    with Connection(redis_url) as conn:
        channel = conn.channel()
        assert channel.prepare_queue_arguments(None, message_ttl=1.5) == {
            'x-message-ttl': 1500}
        assert channel.prepare_queue_arguments(None) == {}


def test_every_get_resets_queue_expires_even_in_a_process_that_did_not_declare(
        redis_url, uname, rclient):
    # RabbitMQ's x-expires counts from the queue's last use: a basic_get is a use.
    name = uname('qargs-exp-get')
    queue = Queue(name, Exchange(''), routing_key=name, expires=1.5)
    declare(redis_url, queue)
    with Connection(redis_url) as publisher:
        producer = Producer(publisher.channel())
        for n in range(6):
            producer.publish(n, routing_key=name, serializer='json')
    got = []
    with Connection(redis_url) as getter:  # never declares the queue
        channel = getter.channel()
        for _ in range(5):  # 5 x 0.6 s = 3 s, twice the expiry
            time.sleep(0.6)
            message = Queue(name).bind(channel).get(no_ack=True)
            got.append(message.payload)
            assert rclient.exists(name), 'the queue expired although gets kept using it'
    assert got == [0, 1, 2, 3, 4]
    time.sleep(1.8)   # unused for longer than x-expires: gone
    assert not rclient.exists(name)

