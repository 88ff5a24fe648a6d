from __future__ import annotations

import gc
import threading
import weakref

import pytest

from kombu.transport.virtual import qos as vqos

from .helpers import make_transport, publish


@pytest.fixture
def transport():
    t = make_transport()
    yield t
    t.close_connection(t)


def test_acks_from_other_threads(transport):
    channel = transport.create_channel(transport)
    for i in range(200):
        publish(channel, str(i), routing_key='q')
    messages = [channel.basic_get('q') for _ in range(200)]
    threads = [threading.Thread(target=lambda ms=messages[n::4]: [m.ack() for m in ms])
               for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert channel.qos.can_consume_max_estimate() is None
    channel.basic_qos(prefetch_count=1)
    assert channel.qos.can_consume()
    publish(channel, 'next', routing_key='q')
    channel.basic_get('q')  # flushes the acked tags
    assert len(channel.qos._delivered) == 1


def test_get_and_reject_unknown_tag(transport):
    channel = transport.create_channel(transport)
    publish(channel, 'a', routing_key='q')
    message = channel.basic_get('q')
    assert channel.qos.get(message.delivery_tag) is message
    channel.qos.reject('unknown-tag', requeue=True)  # nothing to do
    message.ack()
    channel.qos.reject(message.delivery_tag, requeue=True)  # acked already: not requeued
    assert channel.basic_get('q') is None


def test_restore_errors_skip_acked(transport):
    channel = transport.create_channel(transport)
    publish(channel, 'a', routing_key='q')
    channel.basic_get('q')

    def restore(m):
        channel.qos.ack(m.delivery_tag)  # acked meanwhile by another thread
        raise OSError('gone')

    channel._restore = restore
    assert channel.qos.restore_unacked() == []


def test_restore_at_exit(transport):
    channel = transport.create_channel(transport)
    publish(channel, 'a', routing_key='q')
    channel.basic_get('q')
    assert channel.qos in vqos._live
    vqos._restore_all_at_exit()
    assert channel._size('q') == 1
    assert channel.qos not in vqos._live


def test_restore_at_shutdown_disabled(transport):
    channel = transport.create_channel(transport)
    channel.qos.restore_at_shutdown = False
    publish(channel, 'a', routing_key='q')
    channel.basic_get('q')
    channel.close()
    assert channel._size('q') == 0


def test_closed_channels_are_freed(transport):
    channel = transport.create_channel(transport)
    channel.basic_consume('q', False, lambda m: m.ack(), 'tag')
    publish(channel, 'a', routing_key='q')
    transport.drain_events(transport, timeout=1)
    ref, qos_ref = weakref.ref(channel), weakref.ref(channel.qos)
    channel.close()
    del channel
    gc.collect()
    assert ref() is None and qos_ref() is None


def test_concurrent_binds_are_all_kept(transport):
    channel = transport.create_channel(transport)
    channel.exchange_declare('ex', 'fanout')

    def bind(n):
        for i in range(100):
            channel.queue_bind(f'q-{n}-{i}', 'ex', '')
            if i % 10 == 0:
                channel.queue_unbind(f'q-{n}-{i}', 'ex', '')

    threads = [threading.Thread(target=bind, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(channel.get_table('ex')) == 6 * 90
    assert len(channel._lookup('ex', '')) == 6 * 90
