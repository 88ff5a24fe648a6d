"""SQLAlchemy transport: options, error translation, claims (on SQLite files)."""
from __future__ import annotations

import socket

import pytest

pytest.importorskip('sqlalchemy')

from sqlalchemy.exc import OperationalError

from kombu import Connection
from kombu.exceptions import AccessRefused, ConnectionError
from kombu.transport import sqlalchemy as sqla
from kombu.transport.sqlalchemy import engine as sqla_engine
from kombu.transport.sqlalchemy import models
from kombu.transport.virtual.options import TransportOptionError


@pytest.fixture
def url(tmp_path):
    yield f'sqla+sqlite:///{tmp_path / "broker.db"}'
    sqla_engine.dispose_all()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_auth_failure_is_access_refused():
    exc = OperationalError('connect', {}, Exception(
        'FATAL:  password authentication failed for user "bob"'))
    translated = sqla.errors.translate(exc, 'connect')
    assert isinstance(translated, AccessRefused)


def test_mysql_access_denied_is_access_refused():
    exc = OperationalError('connect', {}, Exception(
        1045, "Access denied for user 'bob'@'localhost' (using password: YES)"))
    assert isinstance(sqla.errors.translate(exc, 'connect'), AccessRefused)


def test_other_operational_error_is_connection_error():
    exc = OperationalError('select', {}, Exception('server closed the connection unexpectedly'))
    translated = sqla.errors.translate(exc, 'consume', 'q')
    assert isinstance(translated, ConnectionError)
    assert not isinstance(translated, AccessRefused)
    assert "'q'" in str(translated)


def _postgres_driver() -> str:
    # SQLAlchemy 2 has psycopg (3); 1.4 only psycopg2.
    import sqlalchemy
    if sqlalchemy.__version__ >= '2':
        pytest.importorskip('psycopg')
        return 'psycopg'
    pytest.importorskip('psycopg2')
    return 'psycopg2'


def test_unreachable_server_raises_connection_error_without_password():
    driver = _postgres_driver()
    port = closed_port()
    conn = Connection(f'sqla+postgresql+{driver}://bob:s3cr3tpw@127.0.0.1:{port}/db',
                      transport_options={'connect_args': {'connect_timeout': 2}})
    with pytest.raises(ConnectionError) as info:
        conn.connect()
    assert 's3cr3tpw' not in str(info.value)
    assert 's3cr3tpw' not in repr(conn)
    assert isinstance(info.value.__cause__, OperationalError)
    assert isinstance(info.value, conn.connection_errors)


def test_options_defaults_and_validation():
    opts = sqla.SQLAlchemyOptions.from_transport_options({})
    assert (opts.queue_tablename, opts.message_tablename) == ('kombu_queue', 'kombu_message')
    assert opts.visibility_timeout == 3600.0
    with pytest.raises(TransportOptionError):
        sqla.SQLAlchemyOptions.from_transport_options({'queue_tablename': 'x; drop'})
    with pytest.raises(TransportOptionError):
        sqla.SQLAlchemyOptions.from_transport_options({'visibility_timeout': '0'})


def test_engine_options_are_the_keys_that_are_not_ours():
    opts = sqla.SQLAlchemyOptions.from_transport_options({
        'pool_size': 3, 'queue_tablename': 'q', 'visibility_timeout': 5,
        'max_retries': 2, 'polling_interval': 0.1, 'echo': False})
    assert opts.engine_options() == {'pool_size': 3, 'echo': False}


def test_custom_table_names(url):
    names = {'queue_tablename': 'my_q', 'message_tablename': 'my_m',
             'binding_tablename': 'my_b'}
    with Connection(url, transport_options=names) as conn:
        queue = conn.SimpleQueue('tq')
        queue.put('x')
        assert queue.get(timeout=1).payload == 'x'
        channel = conn.default_channel
        assert channel.queue_cls.__table__.name == 'my_q'
        assert channel.message_cls.__table__.name == 'my_m'
        from sqlalchemy import inspect
        assert {'my_q', 'my_m', 'my_b'} <= set(inspect(channel.engine).get_table_names())
        queue.close()


def test_default_models_are_kombus():
    assert models.Queue.__table__.name == 'kombu_queue'
    assert models.Message.__table__.name == 'kombu_message'
    assert models.class_registry['Queue'] is models.Queue
    assert models.Queue('a').name == 'a'


def test_ack_deletes_row_and_requeue_keeps_place(url):
    with Connection(url) as conn:
        channel = conn.default_channel
        queue = conn.SimpleQueue('rows')
        for n in range(3):
            queue.put(n)
        first = queue.get(timeout=1)
        assert first.payload == 0
        first.requeue()
        again = queue.get(timeout=1)
        assert again.payload == 0 and again.delivery_info['redelivered']
        again.ack()
        assert channel._size('rows') == 2
        assert not conn.transport.claims
        queue.close()


def test_no_ack_get_deletes_row(url):
    with Connection(url) as conn:
        channel = conn.default_channel
        queue = conn.SimpleQueue('noack', no_ack=True)
        queue.put('x')
        assert queue.get(timeout=1).payload == 'x'
        from sqlalchemy import func, select
        m = channel.tables.message
        with channel.engine.connect() as c:
            assert c.execute(select(func.count()).select_from(m)).scalar() == 0
        queue.close()


def test_unacked_restored_on_close(url):
    with Connection(url) as conn:
        queue = conn.SimpleQueue('close')
        queue.put('x')
        assert queue.get(timeout=1).payload == 'x'
        queue.close()
    with Connection(url) as conn:
        queue = conn.SimpleQueue('close')
        message = queue.get(timeout=1)
        assert message.payload == 'x' and message.delivery_info['redelivered']
        message.ack()
        queue.close()


def test_skip_locked_detection():
    class Dialect:
        def __init__(self, name, version, mariadb=False):
            self.name, self.server_version_info, self.is_mariadb = name, version, mariadb

    class Engine:
        def __init__(self, *args, **kwargs):
            self.dialect = Dialect(*args, **kwargs)

    check = sqla_engine.supports_skip_locked
    assert check(Engine('postgresql', (15, 2)))
    assert not check(Engine('postgresql', (9, 4)))
    assert check(Engine('mysql', (10, 11, 6), mariadb=True))
    assert not check(Engine('mysql', (10, 5), mariadb=True))
    assert check(Engine('mysql', (8, 0, 32)))
    assert not check(Engine('mysql', (5, 7)))
    assert not check(Engine('sqlite', (3, 40)))
