"""PGMQ transport: error translation, options and URL masking, with the client mocked."""
from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock, patch

import pytest

from kombu import Connection
from kombu.exceptions import AccessRefused, ChannelError, ConnectionError
from kombu.transport.virtual.options import TransportOptionError

psycopg = pytest.importorskip('psycopg')
pgmq = pytest.importorskip('kombu.transport.pgmq')


@pytest.mark.parametrize('raised,kind', [
    (psycopg.OperationalError('connection refused'), ConnectionError),
    (psycopg.InterfaceError('closed'), ConnectionError),
    (psycopg.errors.InsufficientPrivilege('denied'), AccessRefused),
    (psycopg.errors.InvalidPassword('bad password'), AccessRefused),
    (psycopg.errors.SyntaxError('oops'), ChannelError),
])
def test_database_errors_become_kombu_kinds(raised: Exception, kind: type) -> None:
    with pytest.raises(kind) as info:
        with pgmq.errors('send', 'q'):
            raise raised
    assert info.value.__cause__ is raised


def test_missing_queue_table_is_404() -> None:
    with pytest.raises(ChannelError) as info:
        with pgmq.errors('read', 'q'):
            raise psycopg.errors.UndefinedTable('relation "pgmq.q_x" does not exist')
    assert info.value.reply_code == 404


def test_unreachable_database_raises_connection_error_on_connect() -> None:
    client = MagicMock()
    client.list_queues.side_effect = psycopg.OperationalError('no route')
    with patch.object(pgmq, 'PGMQueue', return_value=client) as factory:
        conn = Connection('pgmq://alice:pw@db.example:5433/mq')
        with pytest.raises(ConnectionError):
            conn.connect()
    kwargs = factory.call_args.kwargs
    assert (kwargs['host'], kwargs['port'], kwargs['database'], kwargs['username']) == (
        'db.example', '5433', 'mq', 'alice')
    assert kwargs['vt'] == 1800 and kwargs['init_extension'] is True


def test_ack_failure_is_translated() -> None:
    client = MagicMock()
    record = MagicMock(msg_id=7, read_ct=1, message={'body': 'x', 'properties': {}})
    client.read.return_value = [record]
    client.delete.side_effect = psycopg.OperationalError('server closed the connection')
    with patch.object(pgmq, 'PGMQueue', return_value=client):
        with Connection('pgmq://127.0.0.1/mq') as conn:
            channel = conn.channel()
            raw = channel._get('celery.q')
            with pytest.raises(ConnectionError):
                channel._settle(raw['properties']['delivery_tag'])
    assert client.read.call_args.args[0] == 'celery_q'
    assert client.delete.call_args.args == ('celery_q', 7)


@pytest.mark.parametrize('options', [
    {'visibility_timeout': 0}, {'fifo_mode': 'sorted'}, {'pool_size': 0},
])
def test_bad_options_refused(options: dict[str, Any]) -> None:
    with pytest.raises(TransportOptionError):
        pgmq.PGMQOptions.from_transport_options(options)


def test_secrets_masked() -> None:
    options = pgmq.PGMQOptions.from_transport_options(
        {'conn_string': 'postgresql://u:secret@h/db', 'max_poll_seconds': 3})
    assert 'secret' not in repr(options)
    assert options.wait_time_seconds == 3
    assert 'pw' not in pgmq.Transport.as_uri('pgmq://alice:pw@h:5432/mq')
