"""pyro://: the broker object's storage and the client's error paths (no server)."""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from kombu import Connection
from kombu.exceptions import ConnectionError

pyro = pytest.importorskip('kombu.transport.pyro')
if pyro.pyro is None:  # pragma: no cover
    pytest.skip('Pyro5/Pyro4 not installed', allow_module_level=True)


def envelope(body: str, priority: int = 0) -> dict[str, Any]:
    return {'body': body, 'properties': {'priority': priority, 'delivery_info': {}}}


def test_broker_orders_by_priority_only_where_declared():
    broker = pyro.KombuBroker()
    broker.new_queue('plain')
    broker.new_queue('prio', {'x-max-priority': 5})
    for queue in ('plain', 'prio'):
        for priority in (1, 9, 3):
            broker.put(queue, envelope(f'p{priority}', priority))
    assert [broker.get('plain')['body'] for _ in range(3)] == ['p1', 'p9', 'p3']
    # 9 is above x-max-priority 5: it counts as 5, still the highest.
    assert [broker.get('prio')['body'] for _ in range(3)] == ['p9', 'p3', 'p1']
    assert broker.get('prio') is None


def test_broker_put_front_and_purge_and_size():
    broker = pyro.KombuBroker()
    broker.new_queue('q')
    broker.put('q', envelope('a'))
    broker.put('q', envelope('b'), True)
    assert broker.size('q') == 2
    assert broker.get('q')['body'] == 'b'
    assert broker.purge('q') == 1 and broker.size('q') == 0


def test_broker_delete_drops_the_queues_bindings():
    broker = pyro.KombuBroker()
    broker.declare_exchange('x', 'fanout')
    broker.bind('x', '', '', 'q1')
    broker.bind('x', '', '', 'q1')          # once only
    broker.bind('x', '', '', 'q2')
    assert broker.get_table('x') == [['', '', 'q1'], ['', '', 'q2']]
    broker.delete('q1')
    assert broker.get_table('x') == [['', '', 'q2']]
    assert broker.exchange_type('x') == 'fanout' and broker.get_table('nope') is None


def test_broker_get_any_waits_for_a_put():
    broker = pyro.KombuBroker()
    broker.new_queue('a')
    broker.new_queue('b')
    start = time.monotonic()
    assert broker.get_any(['a', 'b'], 0.1) is None
    assert time.monotonic() - start >= 0.1
    threading.Timer(0.1, broker.put, ('b', envelope('late'))).start()
    queue, message = broker.get_any(['a', 'b'], 5)
    assert queue == 'b' and message['body'] == 'late'


def test_broker_name_comes_from_the_virtual_host():
    assert Connection('pyro://localhost/my.broker').transport.broker_name == 'my.broker'
    assert Connection('pyro://localhost').transport.broker_name == 'kombu.broker'
    assert Connection('pyro://localhost:9999').transport.client.port == 9999


class _DeadProxy:
    def __getattr__(self, name: str) -> Any:
        def call(*args: Any) -> Any:
            raise pyro.pyro_errors.ConnectionClosedError('receiving: not enough data')
        return call


def test_lost_broker_is_a_connection_error_and_the_proxy_is_dropped(monkeypatch):
    conn = Connection('pyro://localhost/kombu.broker')
    transport = conn.transport
    transport._local.proxy = _DeadProxy()
    transport._broker_uri = 'PYRO:obj@127.0.0.1:1'
    channel = transport.create_channel(transport)
    with pytest.raises(ConnectionError, match='ConnectionClosedError'):
        channel._size('q')
    assert transport._local.proxy is None and transport._broker_uri is None
    assert isinstance(ConnectionError('x'), transport.connection_errors)
