"""qpid://: runtime checks, connection options and error translation, against the fake
of qpid.messaging/qpidtoollibs (``t/fakes/qpid.py``)."""
from __future__ import annotations

import socket
import threading
from typing import Any, Iterator

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import AccessRefused, ChannelError, ConnectionError
from kombu.transport import qpid
from t.fakes import qpid as fake


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[fake.FakeBroker]:
    fake.reset()
    monkeypatch.setattr(qpid, 'qpid_messaging', fake.messaging)
    monkeypatch.setattr(qpid, 'qpidtoollibs', fake.qpidtoollibs)
    yield fake.broker('127.0.0.1', 5672)
    fake.reset()


def test_missing_client_libraries_say_so(monkeypatch):
    monkeypatch.setattr(qpid, 'qpid_messaging', None)
    assert qpid.dependency_is_none(qpid.qpid_messaging)
    with pytest.raises(RuntimeError, match='qpid.messaging'):
        Connection('qpid://localhost').transport


def test_connection_options_from_the_url(broker):
    conn = Connection('qpid://alice:secret@127.0.0.1:5672', login_method='PLAIN',
                      connect_timeout=3)
    try:
        qpid_conn = conn.connection.get_qpid_connection()
        assert (qpid_conn.host, qpid_conn.port, qpid_conn.username, qpid_conn.password,
                qpid_conn.sasl_mechanisms, qpid_conn.transport, qpid_conn.timeout) == (
            '127.0.0.1', 5672, 'alice', 'secret', 'PLAIN', 'tcp', 3)
        assert 'secret' not in repr(conn) and 'secret' not in conn.as_uri()
    finally:
        conn.release()


def test_ssl_uses_the_ssl_transport(broker):
    conn = Connection('qpid://127.0.0.1:5672', ssl={'ca_certs': '/ca.pem'})
    try:
        qpid_conn = conn.connection.get_qpid_connection()
        assert qpid_conn.transport == 'ssl' and qpid_conn.options['ssl_trustfile'] == '/ca.pem'
    finally:
        conn.release()


def test_refused_credentials(broker):
    broker.users = {'alice': 'right'}
    conn = Connection('qpid://alice:wrong@127.0.0.1:5672')
    with pytest.raises(AccessRefused, match='authentication failed'):
        conn.transport.establish_connection()


def test_no_broker_is_a_connection_error(broker):
    conn = Connection('qpid://127.0.0.1:5999')
    with pytest.raises(ConnectionError, match='refused'):
        conn.transport.establish_connection()
    assert issubclass(fake.ConnectionError, conn.connection_errors)


def test_lost_broker_during_publish_is_a_connection_error(broker):
    with Connection('qpid://127.0.0.1:5672') as conn:
        Queue('q')(conn.default_channel).declare()
        broker.running = False
        with pytest.raises(ConnectionError):
            Producer(conn.default_channel).publish('x', routing_key='q')
        broker.running = True


def test_publish_to_a_missing_queue_is_a_404(broker):
    with Connection('qpid://127.0.0.1:5672') as conn:
        with pytest.raises(ChannelError) as info:
            Producer(conn.default_channel).publish('x', routing_key='nowhere')
        assert info.value.reply_code == 404


def test_reject_goes_to_the_alternate_exchange(broker):
    with Connection('qpid://127.0.0.1:5672') as conn:
        dlx = Exchange('dlx', 'fanout')
        dead = Queue('dead', dlx)
        source = Queue('src', queue_arguments={'x-dead-letter-exchange': 'dlx'})
        for entity in (dlx, dead, source):
            entity(conn.default_channel).declare()
        Producer(conn.default_channel).publish('bad', routing_key='src')
        source(conn.default_channel).get().reject()
        assert dead(conn.default_channel).get(no_ack=True).payload == 'bad'


def test_celery_event_queues_get_a_ring_policy(broker):
    with Connection('qpid://127.0.0.1:5672') as conn:
        Queue('celeryev.x')(conn.default_channel).declare()
        assert broker.queues['celeryev.x'].arguments['qpid.policy_type'] == 'ring'


def test_event_loop_is_woken_through_the_pipe(broker):
    readers: dict[int, Any] = {}

    class Loop:
        def add_reader(self, fd: int, callback: Any, *args: Any) -> None:
            readers[fd] = (callback, args)

    got: list[Any] = []
    with Connection('qpid://127.0.0.1:5672') as conn:
        queue = Queue('loop')
        queue(conn.default_channel).declare()
        with Consumer(conn, [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            conn.transport.register_with_event_loop(conn.connection, Loop())
            (fd, (callback, args)), = readers.items()
            publisher = threading.Thread(target=lambda: Producer(
                conn.channel()).publish('woken', routing_key='loop'))
            publisher.start()
            publisher.join()
            import select
            assert select.select([fd], [], [], 2)[0] == [fd]
            callback(*args)
        assert got == ['woken']
        with pytest.raises(socket.timeout):
            conn.drain_events(timeout=0.1)
