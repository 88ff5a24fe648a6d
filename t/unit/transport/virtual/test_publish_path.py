"""The publish path of a virtual channel class is chosen once, by a stated rule.

Overriding a routing hook makes ``basic_publish`` call it (no inlined copy
runs instead of it), ``inline_routing`` states the choice explicitly, and the
envelope is stamped by ``_inplace_augment_message`` alone.
"""
from __future__ import annotations

from typing import Any, Sequence

from kombu.transport import memory
from kombu.transport.virtual import Channel

from .helpers import bodies, make_transport, publish


def _transport_with(channel_class: type[memory.Channel]) -> memory.Transport:
    transport = make_transport()
    transport.Channel = channel_class
    transport._avail_channels.clear()  # made by establish_connection, of the old class
    return transport


def _bound_channel(transport: memory.Transport) -> Any:
    channel = transport.create_channel(transport)
    channel.exchange_declare('ex', 'direct')
    channel.queue_declare('q')
    channel.queue_bind('q', 'ex', 'rk')
    return channel


def test_the_base_channels_take_the_inlined_path():
    assert memory.Channel._plain_routing is True
    assert Channel._plain_routing is True
    assert memory.Channel._keyed_type_names == {'direct', 'topic', 'fanout'}  # not headers


def test_overriding_lookup_makes_publish_call_it():
    base = make_transport().Channel
    seen: list[tuple[str, str]] = []

    class Rerouting(base):  # type: ignore[misc, valid-type]
        def _lookup(self, exchange: str, routing_key: str,
                    default: str | None = None) -> Sequence[str]:
            seen.append((exchange, routing_key))
            return ['elsewhere'] if exchange else super()._lookup(exchange, routing_key,
                                                                  default)

    assert Rerouting._plain_routing is False
    channel = _bound_channel(_transport_with(Rerouting))
    for body in (b'1', b'2', b'3'):
        publish(channel, body, exchange='ex', routing_key='rk')
    assert seen == [('ex', 'rk')] * 3
    assert bodies(channel, 'q') == []
    assert bodies(channel, 'elsewhere') == [b'1', b'2', b'3']


def test_overriding_queue_policy_is_honoured_on_publish():
    base = make_transport().Channel
    asked: list[str] = []

    class Policing(base):  # type: ignore[misc, valid-type]
        def _queue_policy(self, queue: str) -> Any:
            asked.append(queue)
            return super()._queue_policy(queue)

    assert Policing._plain_routing is False
    channel = _bound_channel(_transport_with(Policing))
    asked.clear()  # declaring asked too
    publish(channel, b'x', exchange='ex', routing_key='rk')
    publish(channel, b'y', exchange='ex', routing_key='rk')
    assert asked.count('q') == 2
    assert bodies(channel, 'q') == [b'x', b'y']


def test_inline_routing_states_the_choice():
    base = make_transport().Channel

    class Generic(base):  # type: ignore[misc, valid-type]
        inline_routing = False

    class Inlined(base):  # type: ignore[misc, valid-type]
        inline_routing = True

        def _lookup(self, exchange: str, routing_key: str,
                    default: str | None = None) -> Sequence[str]:
            return super()._lookup(exchange, routing_key, default)

    assert Generic._plain_routing is False
    assert Inlined._plain_routing is True
    for cls in (Generic, Inlined):
        channel = _bound_channel(_transport_with(cls))
        publish(channel, b'a', exchange='ex', routing_key='rk')
        publish(channel, b'b', exchange='ex', routing_key='rk')
        assert bodies(channel, 'q') == [b'a', b'b']


def test_publish_stamps_through_inplace_augment_message():
    base = make_transport().Channel
    stamped: list[str] = []

    class Stamping(base):  # type: ignore[misc, valid-type]
        def _inplace_augment_message(self, message: dict[str, Any], exchange: str,
                                     routing_key: str) -> None:
            super()._inplace_augment_message(message, exchange, routing_key)
            message['headers']['stamped'] = True
            stamped.append(message['properties']['delivery_tag'])

    channel = _bound_channel(_transport_with(Stamping))
    publish(channel, b'm1', exchange='ex', routing_key='rk')
    publish(channel, b'm2', routing_key='q')  # the default exchange
    got = [channel.basic_get('q') for _ in range(2)]
    assert [m.body for m in got] == [b'm1', b'm2']
    assert [m.headers['stamped'] for m in got] == [True, True]
    assert [m.delivery_tag for m in got] == stamped
    assert got[0].delivery_info == {'exchange': 'ex', 'routing_key': 'rk'}
    assert got[0].properties['body_encoding'] == 'base64'


def test_overridden_encode_body_is_used():
    base = make_transport().Channel

    class Reversing(base):  # type: ignore[misc, valid-type]
        def encode_body(self, body: Any, encoding: str | None = None) -> tuple[Any, Any]:
            return body[::-1], 'reversed'

        def decode_body(self, body: Any, encoding: str | None = None) -> Any:
            assert encoding == 'reversed'
            return body[::-1]

    assert Reversing._plain_encode is False
    assert Reversing._plain_base64 is False
    channel = _bound_channel(_transport_with(Reversing))
    message = publish(channel, b'abc', exchange='ex', routing_key='rk')
    assert message['body'] == b'cba'
    assert bodies(channel, 'q') == [b'abc']
