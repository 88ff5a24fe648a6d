"""amqps:// and the management API, on a private RabbitMQ node (see private_node.py)."""
from __future__ import annotations

import ssl

import pytest

from kombu import Connection, Producer, Queue
from kombu.utils.amq_manager import ManagementError
from t.integration.rabbitmq.private_node import private_rabbitmq

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope='module')
def node():
    with private_rabbitmq() as started:
        yield started


def _roundtrip(conn, uname):
    queue = Queue(uname('tls'))
    Producer(conn).publish({'secure': True}, routing_key=queue.name, declare=[queue])
    message = queue(conn.default_channel).get(no_ack=True)
    queue(conn.default_channel).delete()
    return message.payload


def test_amqps_url_with_ssl_dict(node, uname):
    options = {'ca_certs': node.ca_certs, 'cert_reqs': ssl.CERT_REQUIRED,
               'server_hostname': None}
    with Connection(f'amqps://guest:guest@127.0.0.1:{node.amqps_port}//', ssl=options,
                    connect_timeout=5) as conn:
        conn.connect()
        assert conn.connection.transport.sock.version().startswith('TLS')
        assert _roundtrip(conn, uname) == {'secure': True}
    assert options['server_hostname'] is None  # ours, not the caller's, was filled in


def test_ssl_context(node, uname):
    context = ssl.create_default_context(cafile=node.ca_certs)
    with Connection(f'amqp://guest:guest@127.0.0.1:{node.amqps_port}//', ssl=context,
                    connect_timeout=5) as conn:
        conn.connect()
        assert conn.connection.transport.sock.context is context
        assert _roundtrip(conn, uname) == {'secure': True}


def test_untrusted_server_certificate_is_refused(node):
    context = ssl.create_default_context()  # system CAs: our test CA is unknown
    with Connection(f'amqp://guest:guest@127.0.0.1:{node.amqps_port}//', ssl=context,
                    connect_timeout=5) as conn:
        with pytest.raises(ssl.SSLCertVerificationError):
            conn.transport.establish_connection()


def test_manager_sees_queues_and_connections(node, uname):
    name = uname('mgmt-conn')
    url = f'amqp://guest:guest@127.0.0.1:{node.amqp_port}//'
    with Connection(url, transport_options={'connection_name': name,
                                            'manager_port': node.management_port}) as conn:
        queue = Queue(uname('mgmt'))
        producer = Producer(conn)
        for i in range(3):
            producer.publish(i, routing_key=queue.name, declare=[queue])
        manager = conn.get_manager()
        assert manager.is_alive()
        assert '/' in manager.get_vhost_names()
        assert manager.get_queue('/', queue.name)['name'] == queue.name
        assert _eventually(lambda: manager.get_queue_depth('/', queue.name) == 3)
        assert manager.get_queue_depths('/', [queue.name]) == {queue.name: 3}
        assert any(b['destination'] == queue.name
                   for b in manager.get_queue_bindings('/', queue.name))
        assert _eventually(lambda: any(
            c.get('client_properties', {}).get('connection_name') == name
            for c in manager.get_connections()))
        manager.purge_queue('/', queue.name)
        assert queue(conn.default_channel).get() is None
        manager.delete_queue('/', queue.name)
        with pytest.raises(ManagementError) as info:
            manager.get_queue('/', queue.name)
        assert info.value.status == 404


def test_manager_wrong_password(node):
    url = f'amqp://guest:guest@127.0.0.1:{node.amqp_port}//'
    with Connection(url) as conn:
        manager = conn.get_manager(port=node.management_port, password='not-it')
        with pytest.raises(ManagementError) as info:
            manager.get_overview()
        assert info.value.status == 401
        assert 'not-it' not in str(info.value)


def _eventually(predicate, timeout=10.0):
    # management statistics are collected every few seconds
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False
