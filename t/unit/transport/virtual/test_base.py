from __future__ import annotations

import re
import socket
import warnings

import pytest

from kombu.exceptions import ChannelError, DecodeError, EncodeError, ResourceError
from kombu.transport import virtual
from kombu.transport.virtual import base as vbase
from kombu.transport.virtual.state import QueuePolicy

from .helpers import bodies, make_transport, publish


def test_public_names():
    for name in virtual.__all__:
        assert getattr(virtual, name) is getattr(vbase, name)
    for name in ('ARRAY_TYPE_H', 'NOT_EQUIVALENT_FMT', 'RESTORE_PANIC_FMT', 'RESTORING_FMT',
                 'UNDELIVERABLE_FMT', 'W_NO_CONSUMERS', 'logger'):
        assert hasattr(vbase, name)
    assert virtual.Channel.body_encoding == 'base64'
    # Kombu's two options first; honor_expiration is ours.
    assert virtual.Channel.from_transport_options[:2] == ('body_encoding', 'deadletter_queue')
    assert (virtual.Channel.min_priority, virtual.Channel.max_priority) == (0, 9)
    assert virtual.Transport.implements.exchange_type == frozenset(['direct', 'topic'])


def test_base64_round_trip():
    codec = virtual.Base64()
    assert codec.encode('h\xe9llo') == 'aMOpbGxv'
    assert codec.encode(b'\x00\xff') == 'AP8='
    assert codec.decode('aMOpbGxv') == 'h\xe9llo'.encode()
    assert codec.decode(b'AP8=') == b'\x00\xff'


def test_broker_state_bindings():
    state = virtual.BrokerState()
    state.binding_declare('q', 'ex', 'rk', {'a': 1})
    state.binding_declare('q', 'ex2', 'rk', None)
    assert state.has_binding('q', 'ex', 'rk')
    assert sorted(state.queue_bindings('q')) == [
        virtual.queue_binding_t('ex', 'rk', {'a': 1}),
        virtual.queue_binding_t('ex2', 'rk', None)]
    state.binding_delete('q', 'ex', 'rk')
    state.binding_delete('q', 'ex', 'rk')  # twice is fine
    assert not state.has_binding('q', 'ex', 'rk')
    state.queue_bindings_delete('q')
    assert state.bindings == {} and list(state.queue_bindings('q')) == []
    state.exchanges['x'] = {}
    state.clear()
    assert state.exchanges == {}


def test_envelope_layout(channel):
    """The stored envelope is Kombu's: same keys, same order, same values."""
    channel.queue_declare('q')
    message = channel.prepare_message(
        '{"hello": "world"}', 3, 'application/json', 'utf-8', {'h': 1},
        {'delivery_mode': 2, 'correlation_id': 'c1'})
    channel.basic_publish(message, exchange='', routing_key='q')
    stored = channel.queues['q'][0]
    assert list(stored) == ['body', 'content-encoding', 'content-type', 'headers', 'properties']
    props = stored['properties']
    tag = props.pop('delivery_tag')
    assert re.fullmatch(r'[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}', tag)
    assert stored == {
        'body': 'eyJoZWxsbyI6ICJ3b3JsZCJ9',
        'content-encoding': 'utf-8',
        'content-type': 'application/json',
        'headers': {'h': 1},
        'properties': {
            'delivery_mode': 2, 'correlation_id': 'c1',
            'delivery_info': {'exchange': '', 'routing_key': 'q'},
            'priority': 3, 'body_encoding': 'base64'},
    }
    assert list(props) == ['delivery_mode', 'correlation_id', 'delivery_info', 'priority',
                           'body_encoding']


def test_delivery_tags_unique(channel):
    tags = {channel._next_delivery_tag() for _ in range(1000)}
    assert len(tags) == 1000


def test_body_encoding_option():
    t = make_transport(body_encoding=None, deadletter_queue='dlq')
    channel = t.create_channel(t)
    assert channel.deadletter_queue == 'dlq'
    publish(channel, 'plain', routing_key='q')
    assert channel.queues['q'][0]['body'] == 'plain'
    assert channel.basic_get('q').body == b'plain'


def test_unknown_body_encoding(channel):
    channel.body_encoding = 'rot13'
    with pytest.raises(EncodeError):
        publish(channel, 'x', routing_key='q')
    with pytest.raises(DecodeError):
        channel.decode_body('x', 'rot13')


def test_exchange_declare(channel):
    channel.exchange_declare('ex', 'topic', durable=True)
    channel.exchange_declare('ex', 'topic', durable=True)  # same: fine
    with pytest.raises(virtual.NotEquivalentError):
        channel.exchange_declare('ex', 'direct', durable=True)
    channel.exchange_declare('ex', passive=True)
    with pytest.raises(ChannelError) as exc_info:
        channel.exchange_declare('missing', passive=True)
    assert exc_info.value.code == 404 or '404' in str(exc_info.value.args) or \
        'NOT_FOUND' in str(exc_info.value)
    with pytest.raises(ChannelError):
        channel.exchange_declare('bad', 'x-unknown')
    channel.exchange_declare(None, 'fanout')
    assert 'amq.fanout' in channel.get_exchanges()


def test_queue_declare(channel):
    ok = channel.queue_declare('q')
    assert (ok.queue, ok.message_count, ok.consumer_count) == ('q', 0, 0)
    publish(channel, 'a', routing_key='q')
    assert channel.queue_declare('q', passive=True).message_count == 1
    with pytest.raises(ChannelError):
        channel.queue_declare('missing', passive=True)
    generated = channel.queue_declare().queue
    assert generated.startswith('amq.gen-')


def test_queue_bind_unbind_delete(channel):
    channel.exchange_declare('ex', 'direct')
    channel.queue_declare('q')
    channel.queue_bind('q', 'ex', 'rk')
    channel.queue_bind('q', 'ex', 'rk')  # twice: one binding
    assert list(channel.list_bindings()) == [('q', 'ex', 'rk')]
    publish(channel, 'a', 'ex', 'rk')
    channel.queue_unbind('q', 'ex', 'rk')
    publish(channel, 'b', 'ex', 'rk')
    assert bodies(channel, 'q') == [b'a']
    channel.queue_bind('q', 'ex', 'rk')
    publish(channel, 'c', 'ex', 'rk')
    assert channel.queue_delete('q', if_empty=True) is None  # not empty: kept
    assert channel.queue_delete('q') == 1
    assert not channel._has_queue('q')
    assert list(channel.list_bindings()) == []
    publish(channel, 'd', 'ex', 'rk')
    assert channel._size('q') == 0


def test_queue_delete_if_unused(transport, channel):
    channel.queue_declare('q')
    channel.basic_consume('q', True, lambda m: None, 'tag')
    assert channel.queue_delete('q', if_unused=True) is None
    assert channel._has_queue('q')
    channel.basic_cancel('tag')
    channel.queue_delete('q', if_unused=True)
    assert not channel._has_queue('q')


def test_exchange_delete_keeps_queues(channel):
    channel.exchange_declare('ex', 'fanout')
    channel.queue_declare('q')
    channel.queue_bind('q', 'ex', '')
    channel.exchange_delete('ex')
    assert 'ex' not in channel.get_exchanges()
    assert channel._has_queue('q')
    assert list(channel.state.queue_bindings('q')) == []


def test_queue_purge(channel):
    for i in range(3):
        publish(channel, str(i), routing_key='q')
    assert channel.queue_purge('q') == 3
    assert channel.basic_get('q') is None


def test_message_to_python(channel):
    publish(channel, 'x', routing_key='q')
    raw = channel.queues['q'][0]
    message = channel.message_to_python(raw)
    assert isinstance(message, virtual.Message)
    assert channel.message_to_python(message) is message
    assert message.serializable()['body'] == raw['body']


def test_unroutable_goes_to_deadletter_queue(channel):
    channel.deadletter_queue = 'dead'
    channel.exchange_declare('ex', 'direct')
    with pytest.warns(virtual.UndeliverableWarning):
        publish(channel, 'lost', 'ex', 'nowhere')
    assert bodies(channel, 'dead') == [b'lost']


def test_unroutable_without_deadletter_queue_is_dropped(channel):
    channel.exchange_declare('ex', 'direct')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        publish(channel, 'lost', 'ex', 'nowhere')
    assert channel.queues == {}


def test_basic_get_no_ack(channel):
    publish(channel, 'a', routing_key='q')
    message = channel.basic_get('q', no_ack=True)
    assert message.body == b'a'
    assert len(channel.qos._delivered) - len(channel.qos._dirty) == 0


def test_ack_and_prefetch(channel):
    channel.basic_qos(prefetch_count=2)
    for i in range(3):
        publish(channel, str(i), routing_key='q')
    m1, m2 = channel.basic_get('q'), channel.basic_get('q')
    assert not channel.qos.can_consume()
    assert channel.qos.can_consume_max_estimate() == 0
    m1.ack()
    assert channel.qos.can_consume()
    assert channel.qos.can_consume_max_estimate() == 1
    m2.ack()
    channel.basic_qos(prefetch_count=0)
    assert channel.qos.can_consume_max_estimate() is None


def test_reject_requeue_goes_to_front(channel):
    for body in 'abc':
        publish(channel, body, routing_key='q')
    message = channel.basic_get('q')
    message.reject(requeue=True)
    again = channel.basic_get('q')
    assert again.body == b'a'
    assert again.delivery_info['redelivered'] is True
    assert channel.queues['q'][0]['properties']['delivery_info'].get('redelivered') is None
    again.ack()
    assert bodies(channel, 'q') == [b'b', b'c']


def test_reject_without_requeue_drops(channel):
    publish(channel, 'a', routing_key='q')
    channel.basic_get('q').reject()
    assert channel.basic_get('q') is None
    assert len(channel.qos._delivered) - len(channel.qos._dirty) == 0


def test_close_restores_unacked_in_order(transport, channel):
    for body in 'abcd':
        publish(channel, body, routing_key='q')
    got = [channel.basic_get('q') for _ in range(3)]
    got[1].ack()
    channel.close()
    assert channel.closed
    other = transport.create_channel(transport)
    assert bodies(other, 'q') == [b'a', b'c', b'd']


def test_basic_recover(channel):
    publish(channel, 'a', routing_key='q')
    channel.basic_get('q')
    channel.basic_recover(requeue=True)
    assert bodies(channel, 'q') == [b'a']
    with pytest.raises(NotImplementedError):
        channel.basic_recover(requeue=False)


def test_restore_once(channel):
    publish(channel, 'a', routing_key='q')
    channel.basic_get('q')
    channel.qos.restore_unacked_once()
    channel.qos.restore_unacked_once()
    assert channel._size('q') == 1


def test_restore_disabled(transport):
    channel = transport.create_channel(transport)
    channel.do_restore = False
    publish(channel, 'a', routing_key='q')
    channel.basic_get('q')
    channel.close()
    assert transport.Channel.queues['q'] == type(transport.Channel.queues['q'])()


def test_restore_failure_dumps_state(channel, capsys):
    publish(channel, 'a', routing_key='q')
    channel.basic_get('q')

    def broken(message):
        raise OSError('store down')

    channel._restore = broken
    import io
    err = io.StringIO()
    channel.qos.restore_unacked_once(stderr=err)
    assert 'UNABLE TO RESTORE 1 MESSAGES' in err.getvalue()


def test_consume_and_drain(transport, channel):
    got = []
    channel.queue_declare('q')
    channel.basic_consume('q', False, lambda m: (got.append(m.body), m.ack()), 'tag')
    for i in range(3):
        publish(channel, str(i), routing_key='q')
    for _ in range(3):
        transport.drain_events(transport, timeout=1)
    assert got == [b'0', b'1', b'2']
    with pytest.raises(socket.timeout):
        transport.drain_events(transport, timeout=0)
    with pytest.raises(socket.timeout):
        transport.drain_events(transport, timeout=0.01)
    channel.basic_cancel('tag')
    publish(channel, 'x', routing_key='q')
    with pytest.raises(socket.timeout):
        transport.drain_events(transport, timeout=0)
    assert channel._size('q') == 1


def test_drain_honours_prefetch(transport, channel):
    channel.basic_qos(prefetch_count=1)
    got = []
    channel.basic_consume('q', False, got.append, 'tag')
    publish(channel, 'a', routing_key='q')
    publish(channel, 'b', routing_key='q')
    transport.drain_events(transport, timeout=1)
    with pytest.raises(socket.timeout):
        transport.drain_events(transport, timeout=0)
    got[0].ack()
    transport.drain_events(transport, timeout=1)
    assert [m.body for m in got] == [b'a', b'b']


def test_several_queues_one_channel(transport, channel):
    got = []
    for queue in ('q1', 'q2'):
        channel.basic_consume(queue, True, lambda m: got.append(m.body), f'tag-{queue}')
    publish(channel, 'one', routing_key='q1')
    publish(channel, 'two', routing_key='q2')
    for _ in range(2):
        transport.drain_events(transport, timeout=1)
    assert sorted(got) == [b'one', b'two']


def test_message_for_queue_without_consumer_is_requeued(transport, channel):
    publish(channel, 'a', routing_key='q')
    raw = channel._get('q')
    transport._deliver(raw, 'q')
    assert bodies(channel, 'q') == [b'a']
    with pytest.raises(KeyError):
        transport._deliver(raw, '')
    with pytest.raises(KeyError):
        transport.on_message_ready(channel, raw, 'nobody')


def test_channel_ids_and_limit(transport):
    transport.channel_max = 3
    channels = [transport.create_channel(transport) for _ in range(3)]
    assert {c.channel_id for c in channels} == {1, 2, 3}
    with pytest.raises(ResourceError):
        transport.Channel(transport)
    channels[0].close()
    assert transport.Channel(transport).channel_id == channels[0].channel_id


def test_transport_channel_id_methods(transport):
    first = transport.allocate_channel_id()
    second = transport.allocate_channel_id()
    assert first != second
    assert list(transport._used_channel_ids)[-2:] == [first, second]  # the legacy view
    transport.release_channel_id(first)
    transport.release_channel_id(first)  # twice: no error
    assert transport.allocate_channel_id() == first


def test_consume_registers_callback_through_transport(transport, channel):
    seen = []
    channel.basic_consume('q', True, seen.append, 'tag')
    assert 'q' in transport._callbacks  # third-party transports read it
    publish(channel, 'a', routing_key='q')
    transport.drain_events(transport, timeout=1)
    assert [m.body for m in seen] == [b'a']
    channel.basic_cancel('tag')
    assert 'q' not in transport._callbacks


def test_legacy_callbacks_dict_still_delivers(transport, channel):
    seen = []
    transport._callbacks['q'] = seen.append  # as Kombu-era transports do
    publish(channel, 'a', routing_key='q')
    raw = channel._get('q')
    transport._deliver(raw, 'q')
    assert seen == [raw]
    transport.unregister_callback('q')
    transport.unregister_callback('q')
    assert 'q' not in transport._callbacks


def test_flow_not_supported(channel):
    with pytest.raises(NotImplementedError):
        channel.flow(False)
    with pytest.raises(NotImplementedError):
        channel.exchange_bind('a', 'b')


def test_channel_context_manager(transport):
    with transport.create_channel(transport) as channel:
        pass
    assert channel.closed and channel.connection is None
    channel.close()  # twice: fine


def test_transport_close_connection_closes_channels(transport):
    channel = transport.create_channel(transport)
    transport.close_connection(transport)
    assert channel.closed
    assert transport.channels == []


def test_default_connection_params(transport):
    assert transport.default_connection_params == {'port': None, 'hostname': 'localhost'}


def test_prepare_queue_arguments(channel):
    args = channel.prepare_queue_arguments({}, message_ttl=1.5, expires=2, max_priority=5)
    assert args == {'x-message-ttl': 1500, 'x-expires': 2000, 'x-max-priority': 5}
    assert QueuePolicy.from_arguments(args) == QueuePolicy(1.5, 2.0, None, None, 5)
    assert QueuePolicy.from_arguments({'x-other': 1}) is None


def test_get_message_priority(channel):
    def msg(priority):
        return {'properties': {'priority': priority}}

    assert channel._get_message_priority(msg(5)) == 5
    assert channel._get_message_priority(msg(50)) == 9
    assert channel._get_message_priority(msg(-1)) == 0
    assert channel._get_message_priority(msg('x')) == 0
    assert channel._get_message_priority(msg(2), reverse=True) == 7


class _TableChannel(virtual.Channel):
    """A store whose tables are read elsewhere: routes are not memoized."""

    calls = 0

    def get_table(self, exchange):
        type(self).calls += 1
        return super().get_table(exchange)


def test_route_cache_only_for_base_tables(transport, channel):
    assert channel._cache_routes is True
    assert _TableChannel.cache_routes is None
    t2 = make_transport()
    t2.Channel = type('C', (_TableChannel, t2.Channel), {})
    ch2 = t2.Channel(t2)
    assert ch2._cache_routes is False


def test_route_cache_invalidation(channel):
    channel.exchange_declare('ex', 'topic')
    channel.queue_bind('q1', 'ex', 'a.*')
    assert channel._lookup('ex', 'a.b') == ('q1',)
    assert channel.state.routes['ex'] == {'a.b': ('q1',)}
    channel.queue_bind('q2', 'ex', '#')
    assert 'ex' not in channel.state.routes
    assert channel._lookup('ex', 'a.b') == ('q1', 'q2')
    channel.queue_unbind('q1', 'ex', 'a.*')
    assert channel._lookup('ex', 'a.b') == ('q2',)
    channel.queue_delete('q2')
    assert channel._lookup('ex', 'a.b') == ()
    channel.queue_bind('q3', 'ex', 'a.b')
    channel.exchange_delete('ex')
    assert channel._lookup('ex', 'a.b') == ()


def test_fanout_copies_have_own_tags(channel):
    channel.exchange_declare('ex', 'fanout')
    for queue in ('q1', 'q2', 'q3'):
        channel.queue_bind(queue, 'ex', '')
    publish(channel, 'x', 'ex', 'ignored')
    raws = [channel.queues[q][0] for q in ('q1', 'q2', 'q3')]
    assert len({r['properties']['delivery_tag'] for r in raws}) == 3
    assert len({id(r['properties']) for r in raws}) == 3
    assert all(r['properties']['delivery_info'] == {'exchange': 'ex', 'routing_key': 'ignored'}
               for r in raws)


def test_fanout_unsupported_drops(transport):
    class NoFanout(transport.Channel):
        supports_fanout = False

    channel = NoFanout(transport)
    channel.exchange_declare('ex', 'fanout')
    channel.queue_bind('q', 'ex', '')
    publish(channel, 'x', 'ex', '')
    assert channel._size('q') == 0
