from __future__ import annotations

import errno
import socket

import pytest
from amqp.exceptions import RecoverableConnectionError

from kombu.exceptions import ChannelError, ConnectionError
from kombu.message import Message as KombuMessage
from kombu.messaging import Consumer, Producer
from kombu.transport.base import (
    RABBITMQ_QUEUE_ARGUMENTS,
    Implements,
    Management,
    Message,
    StdChannel,
    Transport,
    default_transport_capabilities,
    to_rabbitmq_queue_arguments,
)
from t.unit.recording import RecordingChannel


def test_message_is_kombu_message():
    assert Message is KombuMessage


def test_to_rabbitmq_queue_arguments():
    assert to_rabbitmq_queue_arguments({}, expires=1.5, message_ttl=0.5, max_length=3,
                                       max_length_bytes=10, max_priority=9) == {
        'x-expires': 1500, 'x-message-ttl': 500, 'x-max-length': 3,
        'x-max-length-bytes': 10, 'x-max-priority': 9}
    args = {'x-dead-letter-exchange': 'dlx'}
    assert to_rabbitmq_queue_arguments(args, expires=None, message_ttl=None) is args
    merged = to_rabbitmq_queue_arguments(args, message_ttl=2)
    assert merged == {'x-dead-letter-exchange': 'dlx', 'x-message-ttl': 2000}
    assert args == {'x-dead-letter-exchange': 'dlx'}  # input not modified
    assert set(RABBITMQ_QUEUE_ARGUMENTS) == {
        'expires', 'message_ttl', 'max_length', 'max_length_bytes', 'max_priority'}


def test_to_rabbitmq_queue_arguments_unknown_option():
    with pytest.raises(TypeError, match='unknown queue option'):
        to_rabbitmq_queue_arguments({}, max_size=1)


def test_implements_attribute_access_and_extend():
    caps = default_transport_capabilities
    assert caps.asynchronous is False and caps.heartbeats is False
    assert caps.batch_publish is False
    assert caps.exchange_type == frozenset({'direct', 'topic', 'fanout', 'headers'})
    more = caps.extend(asynchronous=True)
    assert more.asynchronous is True and caps.asynchronous is False
    assert isinstance(more, Implements)
    with pytest.raises(AttributeError):
        caps.nonexistent
    more.heartbeats = True
    assert more['heartbeats'] is True


def test_std_channel_defaults():
    chan = RecordingChannel()
    assert StdChannel.no_ack_consumers is None
    assert StdChannel().prepare_queue_arguments({'a': 1}, expires=3) == {'a': 1}
    assert StdChannel().after_reply_message_received('q') is None
    with pytest.raises(NotImplementedError):
        StdChannel().get_bindings()
    with chan as entered:
        assert entered is chan
    assert chan.calls[-1] == ('close', {})


def test_std_channel_producer_and_consumer_factories():
    chan = RecordingChannel()
    producer = chan.Producer(routing_key='rk')
    consumer = chan.Consumer(queues=[], auto_declare=False)
    assert isinstance(producer, Producer) and producer.channel is chan
    assert producer.routing_key == 'rk'
    assert isinstance(consumer, Consumer) and consumer.channel is chan


class Dummy(Transport):
    pass


def test_transport_defaults():
    t = Dummy(client='client')
    assert t.client == 'client'
    assert t.default_port is None and t.can_parse_url is False
    assert t.connection_errors == (ConnectionError,)
    assert t.channel_errors == (ChannelError,)
    assert t.driver_type == t.driver_name == t.driver_version() == 'N/A'
    assert t.get_heartbeat_interval(None) == 0
    assert t.verify_connection(None) is True
    assert t.qos_semantics_matches_spec(None) is True
    assert t.default_connection_params == {}
    assert t.supports_heartbeats is False and t.supports_ev is False
    assert t.heartbeat_check(None) is None
    assert t.register_with_event_loop(None, None) is None
    assert t.unregister_from_event_loop(None, None) is None
    with pytest.raises(NotImplementedError):
        t.as_uri('x://')


@pytest.mark.parametrize('method,args', [
    ('establish_connection', ()), ('close_connection', (None,)),
    ('create_channel', (None,)), ('close_channel', (None,)), ('drain_events', (None,)),
])
def test_transport_unimplemented_methods_name_the_transport(method, args):
    with pytest.raises(NotImplementedError, match=f'test_base.Dummy does not implement {method}'):
        getattr(Dummy(None), method)(*args)


def test_recoverable_errors_default_to_connection_errors_on_class_and_instance():
    class Custom(Transport):
        connection_errors = (OSError,)

    class Explicit(Transport):
        connection_errors = (OSError,)
        recoverable_connection_errors = (TimeoutError,)
        recoverable_channel_errors = (KeyError,)

    assert Custom.recoverable_connection_errors == (OSError,)
    assert Custom(None).recoverable_connection_errors == (OSError,)
    assert Custom.recoverable_channel_errors == ()
    assert Explicit.recoverable_connection_errors == (TimeoutError,)
    assert Explicit(None).recoverable_channel_errors == (KeyError,)


def test_manager_is_cached_management():
    t = Dummy(None)
    assert isinstance(t.manager, Management) and t.manager is t.manager
    assert t.manager.transport is t
    assert t.get_manager() is not t.manager
    with pytest.raises(NotImplementedError):
        t.manager.get_bindings()


class FakeConnection:
    def __init__(self, events):
        self.connected = True
        self.events = events
        self.drained = 0

    def drain_events(self, timeout=None):
        assert timeout == 0
        self.drained += 1
        event = self.events.pop(0)
        if isinstance(event, BaseException):
            raise event


class FakeLoop:
    def __init__(self):
        self.soon = []

    def call_soon(self, fun, *args):
        self.soon.append((fun, args))


def test_on_readable_drains_and_reschedules():
    conn = FakeConnection([None, socket.timeout(), OSError(errno.EAGAIN, 'again')])
    t, loop = Dummy(None), FakeLoop()
    t.on_readable(conn, loop)
    assert conn.drained == 1 and len(loop.soon) == 1
    fun, args = loop.soon.pop()
    fun(*args)                      # timeout: nothing more to read, not rescheduled
    t.on_readable(conn, loop)       # EAGAIN: same
    assert conn.drained == 3 and loop.soon == []


def test_on_readable_raises_real_errors_and_disconnects():
    t, loop = Dummy(None), FakeLoop()
    conn = FakeConnection([OSError(errno.ECONNRESET, 'reset')])
    with pytest.raises(OSError):
        t.on_readable(conn, loop)
    t2 = Dummy(None)
    conn.connected = False
    with pytest.raises(RecoverableConnectionError):
        t2.on_readable(conn, loop)
