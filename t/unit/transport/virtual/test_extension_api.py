"""A third-party store written against the documented hooks gets everything else.

``DictChannel`` implements only ``_get``, ``_put``, ``_purge``, ``_size``,
``_delete``, ``_new_queue`` and ``_has_queue`` (as the Kombu docs describe);
routing, QoS, restore, TTL and dead-lettering come from the base, and the base
``Transport.drain_events`` (polling) drives consumption.
"""
from __future__ import annotations

import socket
import time
from collections import deque
from types import SimpleNamespace
from typing import Any

import pytest

from kombu.transport import virtual
from kombu.transport.virtual import ttl


class DictChannel(virtual.Channel):
    store: dict[str, deque] = {}

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        self.store.setdefault(queue, deque())

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return queue in self.store

    def _get(self, queue: str, timeout: float | None = None) -> dict:
        try:
            return self.store[queue].popleft()
        except (KeyError, IndexError):
            raise virtual.Empty()

    def _put(self, queue: str, message: dict, **kwargs: Any) -> None:
        self.store.setdefault(queue, deque()).append(message)

    def _purge(self, queue: str) -> int:
        size = len(self.store.get(queue, ()))
        self.store.pop(queue, None)
        return size

    def _size(self, queue: str) -> int:
        return len(self.store.get(queue, ()))

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self.store.pop(queue, None)


class DictTransport(virtual.Transport):
    Channel = DictChannel
    polling_interval = 0.01


@pytest.fixture
def transport():
    DictChannel.store = {}
    t = DictTransport(SimpleNamespace(transport_options={}, virtual_host='/'))
    t.establish_connection()
    yield t
    t.close_connection(t)


@pytest.fixture
def channel(transport):
    return transport.create_channel(transport)


def publish(channel, body, exchange='', routing_key='', **properties):
    channel.basic_publish(channel.prepare_message(body, properties=properties),
                          exchange=exchange, routing_key=routing_key)


def test_routing_and_basic_get(channel):
    channel.exchange_declare('ex', 'topic')
    channel.queue_declare('q')
    channel.queue_bind('q', 'ex', '*.stock.#')
    publish(channel, 'a', 'ex', 'usd.stock')
    publish(channel, 'b', 'ex', 'stock.nasdaq')
    message = channel.basic_get('q')
    assert message.body == b'a'
    message.ack()
    assert channel.basic_get('q') is None


def test_fanout_needs_store_support(channel):
    channel.exchange_declare('fan', 'fanout')
    channel.queue_bind('q', 'fan', '')
    publish(channel, 'x', 'fan', '')
    assert channel._size('q') == 0  # supports_fanout is False: dropped


def test_consume_through_polling_drain(transport, channel):
    got = []
    channel.basic_consume('q', False, lambda m: (got.append(m.body), m.ack()), 'tag')
    for body in ('1', '2'):
        publish(channel, body, routing_key='q')
    transport.drain_events(transport, timeout=1)
    transport.drain_events(transport, timeout=1)
    assert got == [b'1', b'2']
    start = time.monotonic()
    with pytest.raises(socket.timeout):
        transport.drain_events(transport, timeout=0.05)
    assert time.monotonic() - start < 1


def test_polling_sees_later_messages(transport, channel):
    got = []
    channel.basic_consume('q', True, lambda m: got.append(m.body), 'tag')
    with pytest.raises(socket.timeout):
        transport.drain_events(transport, timeout=0)
    publish(channel, 'late', routing_key='q')
    transport.drain_events(transport, timeout=1)
    assert got == [b'late']


def test_restore_without_front_hook_goes_to_tail(transport, channel):
    for body in 'ab':
        publish(channel, body, routing_key='q')
    channel.basic_get('q').reject(requeue=True)
    assert [channel.basic_get('q', no_ack=True).body for _ in range(2)] == [b'b', b'a']


def test_close_restores_unacked(transport, channel):
    publish(channel, 'a', routing_key='q')
    channel.basic_get('q')
    channel.close()
    assert DictChannel.store['q'][0]['redelivered'] is True


def test_ttl_and_dead_letter(monkeypatch, channel):
    now = [100.0]
    monkeypatch.setattr(ttl, 'clock', lambda: now[0])
    channel.queue_declare('q', arguments={
        'x-message-ttl': 1000, 'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': 'dead'})
    publish(channel, 'a', routing_key='q')
    now[0] += 2
    assert channel.basic_get('q') is None
    assert channel.basic_get('dead').body == b'a'


def test_get_many_hook_is_used(transport):
    calls = []

    class Bulk(DictChannel):
        def _get_many(self, queues, timeout=None):
            calls.append(list(queues))
            raise virtual.Empty()

    channel = Bulk(transport)
    transport.channels.append(channel)
    channel.basic_consume('q', True, lambda m: None, 'tag')
    with pytest.raises(socket.timeout):
        transport.drain_events(transport, timeout=0)
    assert calls == [['q']]


def test_poll_hook_receives_cycle(transport):
    polled = []

    class Polling(DictChannel):
        def _poll(self, cycle, callback, timeout=None):
            polled.append(cycle.resources[:])
            return super()._poll(cycle, callback, timeout=timeout)

    channel = Polling(transport)
    transport.channels.append(channel)
    channel.basic_consume('q1', True, lambda m: None, 't1')
    channel.basic_consume('q2', True, lambda m: None, 't2')
    with pytest.raises(socket.timeout):
        transport.drain_events(transport, timeout=0)
    assert polled[0] == ['q1', 'q2']


def test_management_lists_bindings():
    from kombu import Connection
    with Connection('memory://') as conn:
        channel = conn.channel()
        channel.exchange_declare('mgmt-ex', 'direct')
        channel.queue_bind('mgmt-q', 'mgmt-ex', 'rk')
        manager = conn.get_manager()
        try:
            assert {'destination': 'mgmt-q', 'source': 'mgmt-ex', 'routing_key': 'rk'} in \
                manager.get_bindings()
        finally:
            manager.close()
            channel.queue_delete('mgmt-q')
            channel.exchange_delete('mgmt-ex')


def test_a_cycle_of_another_kind_drives_drain_events(transport):
    # Redis replaces the transport's cycle with its socket poller (no ``pos``).
    delivered = []

    class OwnCycle:
        def get(self, callback, timeout=None):
            delivered.append(timeout)
            callback({'properties': {'delivery_tag': 'x'}}, 'q')

        def close(self):
            pass

    got = []
    transport.cycle = OwnCycle()
    transport.register_callback('q', got.append)
    transport.drain_events(transport, timeout=1)
    assert delivered == [1]
    assert got == [{'properties': {'delivery_tag': 'x'}}]
