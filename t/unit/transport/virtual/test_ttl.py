"""Message TTL, queue expiry, dead-lettering: with a controllable clock."""
from __future__ import annotations

import pytest

from kombu.exceptions import ChannelError
from kombu.transport.virtual import ttl

from .helpers import bodies, make_transport, publish


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(ttl, 'clock', fake)
    return fake


@pytest.fixture
def channel():
    t = make_transport()
    yield t.create_channel(t)
    t.close_connection(t)


def declare(channel, queue, **options):
    channel.queue_declare(queue, arguments=channel.prepare_queue_arguments({}, **options))


def test_plain_messages_are_not_stamped(channel, clock):
    publish(channel, 'a', routing_key='q')
    assert ttl.EXPIRES_AT not in channel.queues['q'][0]['properties']


def test_per_message_expiration(channel, clock):
    publish(channel, 'short', routing_key='q', expiration='1000')
    publish(channel, 'long', routing_key='q', expiration='5000')
    publish(channel, 'forever', routing_key='q')
    clock.advance(1.0)
    assert bodies(channel, 'q') == [b'long', b'forever']


def test_expired_message_never_delivered_to_consumer(clock):
    t = make_transport()
    channel = t.create_channel(t)
    got = []
    channel.basic_consume('q', True, lambda m: got.append(m.body), 'tag')
    publish(channel, 'old', routing_key='q', expiration='100')
    publish(channel, 'new', routing_key='q')
    clock.advance(0.5)
    t.drain_events(t, timeout=1)
    assert got == [b'new']


def test_expiration_can_be_ignored_like_upstream(clock):
    # honor_expiration=False: expired messages still reach consumers (Celery then
    # records the task as revoked), while the queue's x-message-ttl still applies.
    t = make_transport(honor_expiration=False)
    channel = t.create_channel(t)
    try:
        publish(channel, 'late', routing_key='q', expiration='0')
        clock.advance(10)
        assert bodies(channel, 'q') == [b'late']
        declare(channel, 'ttl-q', message_ttl=1)
        publish(channel, 'dropped', routing_key='ttl-q', expiration='0')
        clock.advance(2)
        assert bodies(channel, 'ttl-q') == []
    finally:
        t.close_connection(t)


def test_queue_message_ttl(channel, clock):
    declare(channel, 'q', message_ttl=2)
    publish(channel, 'a', routing_key='q')
    clock.advance(1)
    publish(channel, 'b', routing_key='q')
    publish(channel, 'c', routing_key='q', expiration='500')  # the shorter wins
    clock.advance(1)
    assert bodies(channel, 'q') == [b'b']


def test_invalid_expiration_is_ignored(channel, clock):
    publish(channel, 'a', routing_key='q', expiration='soon')
    clock.advance(100)
    assert bodies(channel, 'q') == [b'a']


def test_requeued_message_keeps_its_deadline(channel, clock):
    publish(channel, 'a', routing_key='q', expiration='1000')
    channel.basic_get('q').reject(requeue=True)
    clock.advance(0.5)
    message = channel.basic_get('q')
    assert message.body == b'a'
    message.reject(requeue=True)
    clock.advance(0.6)
    assert channel.basic_get('q') is None


def test_expired_message_is_dead_lettered(channel, clock):
    channel.exchange_declare('dlx', 'direct')
    channel.queue_bind('dead', 'dlx', 'dead-key')
    declare(channel, 'q', message_ttl=1)
    channel.queue_declare('q', arguments={
        'x-message-ttl': 1000, 'x-dead-letter-exchange': 'dlx',
        'x-dead-letter-routing-key': 'dead-key'})
    publish(channel, 'a', routing_key='q', headers={'h': 1}, expiration='500')
    clock.advance(2)
    assert channel.basic_get('q') is None
    message = channel.basic_get('dead')
    assert message.body == b'a'
    assert message.delivery_info == {'exchange': 'dlx', 'routing_key': 'dead-key'}
    assert 'expiration' not in message.properties
    assert ttl.EXPIRES_AT not in message.properties
    death = message.headers['x-death'][0]
    assert death['reason'] == 'expired' and death['queue'] == 'q' and death['count'] == 1
    assert death['exchange'] == '' and death['routing-keys'] == ['q']
    assert death['original-expiration'] == '500'
    assert message.headers['h'] == 1
    assert message.headers['x-first-death-reason'] == 'expired'


def test_dead_letter_keeps_routing_key_by_default(channel, clock):
    channel.exchange_declare('dlx', 'topic')
    channel.queue_bind('dead', 'dlx', 'orig.#')
    channel.exchange_declare('ex', 'direct')
    channel.queue_declare('q', arguments={'x-dead-letter-exchange': 'dlx'})
    channel.queue_bind('q', 'ex', 'orig.key')
    publish(channel, 'a', 'ex', 'orig.key')
    channel.basic_get('q').reject(requeue=False)
    message = channel.basic_get('dead')
    assert message.body == b'a'
    assert message.delivery_info['routing_key'] == 'orig.key'
    assert message.headers['x-death'][0]['reason'] == 'rejected'
    assert message.headers['x-death'][0]['exchange'] == 'ex'


def test_dead_letter_to_default_exchange(channel, clock):
    channel.queue_declare('q', arguments={
        'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dead'})
    publish(channel, 'a', routing_key='q')
    channel.basic_get('q').reject()
    assert bodies(channel, 'dead') == [b'a']


def test_death_count_increments(channel, clock):
    # q dead-letters to itself via the default exchange on reject
    channel.queue_declare('q', arguments={
        'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'q'})
    publish(channel, 'a', routing_key='q')
    channel.basic_get('q').reject()
    channel.basic_get('q').reject()
    message = channel.basic_get('q')
    assert message.headers['x-death'][0]['count'] == 2
    assert len(message.headers['x-death']) == 1


def test_rejected_without_dlx_is_dropped(channel, clock):
    publish(channel, 'a', routing_key='q')
    channel.basic_get('q').reject()
    assert channel.basic_get('q') is None


def test_dead_letter_queue_ttl_applies_to_dead_letters(channel, clock):
    channel.queue_declare('dead', arguments={'x-message-ttl': 1000})
    channel.queue_declare('q', arguments={
        'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dead'})
    publish(channel, 'a', routing_key='q')
    channel.basic_get('q').reject()
    clock.advance(2)
    assert channel.basic_get('dead') is None


def test_queue_expires_when_unused(channel, clock):
    declare(channel, 'q', expires=10)
    publish(channel, 'a', routing_key='q')
    clock.advance(5)
    channel.queue_declare('q', passive=True)  # still there
    clock.advance(6)
    with pytest.raises(ChannelError):
        channel.queue_declare('q', passive=True)
    assert 'q' not in channel.state.policies


def test_queue_with_consumer_does_not_expire(channel, clock):
    declare(channel, 'q', expires=1)
    channel.basic_consume('q', True, lambda m: None, 'tag')
    clock.advance(5)
    channel.queue_declare('q', passive=True)
    channel.basic_cancel('tag')
    clock.advance(0.5)
    channel.queue_declare('q', passive=True)
    clock.advance(1)
    with pytest.raises(ChannelError):
        channel.queue_declare('q', passive=True)


def test_basic_get_counts_as_use(channel, clock):
    declare(channel, 'q', expires=1)
    for _ in range(3):
        clock.advance(0.6)
        channel.basic_get('q')
    channel.queue_declare('q', passive=True)


def test_dead_letter_copy_is_independent():
    message = {'body': 'x', 'headers': {'x-death': [{'queue': 'q', 'reason': 'expired',
                                                     'count': 1}]},
               'properties': {'expiration': '5', ttl.EXPIRES_AT: 1.0,
                              'delivery_info': {'exchange': 'e', 'routing_key': 'k'}},
               'redelivered': True}
    copy = ttl.dead_letter_copy(message, 'q', 'expired', 50.0)
    assert message['headers']['x-death'][0]['count'] == 1
    assert message['properties']['expiration'] == '5'
    assert copy['headers']['x-death'][0]['count'] == 2
    assert copy['headers']['x-death'][0]['time'] == 50
    assert 'redelivered' not in copy
    other = ttl.dead_letter_copy(copy, 'q2', 'rejected', 60.0)
    assert [d['queue'] for d in other['headers']['x-death']] == ['q2', 'q']


def test_max_length_drops_head(channel, clock):
    declare(channel, 'q', max_length=2)
    for body in 'abcd':
        publish(channel, body, routing_key='q')
    assert bodies(channel, 'q') == [b'c', b'd']


def test_max_length_dead_letters_dropped(channel, clock):
    channel.queue_declare('q', arguments={
        'x-max-length': 1, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dead'})
    for body in 'abc':
        publish(channel, body, routing_key='q')
    assert bodies(channel, 'q') == [b'c']
    dead = channel.basic_get('dead')
    assert dead.body == b'a' and dead.headers['x-death'][0]['reason'] == 'maxlen'


def test_max_length_reject_publish(channel, clock):
    channel.queue_declare('q', arguments={'x-max-length': 2, 'x-overflow': 'reject-publish'})
    channel.queue_declare('r', arguments={
        'x-max-length': 1, 'x-overflow': 'reject-publish-dlx',
        'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dead'})
    for body in 'abc':
        publish(channel, body, routing_key='q')
        publish(channel, body, routing_key='r')
    assert bodies(channel, 'q') == [b'a', b'b']
    assert bodies(channel, 'r') == [b'a']
    assert bodies(channel, 'dead') == [b'b', b'c']


def test_max_length_on_fanout_copies(channel, clock):
    channel.exchange_declare('fan', 'fanout')
    declare(channel, 'small', max_length=1)
    channel.queue_bind('small', 'fan', '')
    channel.queue_bind('big', 'fan', '')
    for body in 'ab':
        publish(channel, body, 'fan', '')
    assert bodies(channel, 'small') == [b'b']
    assert bodies(channel, 'big') == [b'a', b'b']


def test_queue_ttl_applies_only_to_its_own_copy(channel, clock):
    channel.exchange_declare('fan', 'fanout')
    declare(channel, 'short', message_ttl=1)
    for queue in ('short', 'plain', 'short2'):
        channel.queue_bind(queue, 'fan', '')
    declare(channel, 'short2', message_ttl=1)
    publish(channel, 'x', 'fan', '')
    clock.advance(2)
    assert bodies(channel, 'short') == []
    assert bodies(channel, 'short2') == []
    assert bodies(channel, 'plain') == [b'x']
