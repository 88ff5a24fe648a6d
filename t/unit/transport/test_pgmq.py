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
from kombu.transport.pgmq import listener, topics  # noqa: E402


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
    {'wait_time_seconds': -1}, {'poll_interval_ms': 0}, {'notify_throttle_interval_ms': -1},
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


def test_waiting_options_defaults_and_coercion() -> None:
    defaults = pgmq.PGMQOptions.from_transport_options({})
    assert (defaults.wait_time_seconds, defaults.poll_interval_ms, defaults.use_notify,
            defaults.notify_throttle_interval_ms) == (10, 100, False, 250)
    given = pgmq.PGMQOptions.from_transport_options(
        {'wait_time_seconds': '2', 'poll_interval_ms': '20', 'use_notify': 'true',
         'notify_throttle_interval_ms': 0})
    assert (given.wait_time_seconds, given.poll_interval_ms, given.use_notify,
            given.notify_throttle_interval_ms) == (2, 20, True, 0)


def test_channel_exposes_waiting_options() -> None:
    client = MagicMock()
    options = {'wait_time_seconds': 4, 'poll_interval_ms': 50, 'use_notify': True,
               'notify_throttle_interval_ms': 10}
    with patch.object(pgmq, 'PGMQueue', return_value=client):
        with Connection('pgmq://127.0.0.1/mq', transport_options=options) as conn:
            channel = conn.channel()
            assert (channel.wait_time_seconds, channel.poll_interval_ms, channel.use_notify,
                    channel.notify_throttle_interval_ms) == (4, 50, True, 10)


@pytest.mark.parametrize('binding,patterns', [
    ('usd.stock', ['P.usd.stock']),
    ('*.stock', ['P.*.stock']),
    ('', ['P']),
    ('#', ['P.#', 'P']),
    ('*.stock.#', ['P.*.stock.#', 'P.*.stock']),
    ('a.#.#.b', ['P.a.#.b', 'P.a.b']),
    ('#.x.#', ['P.#.x.#', 'P.#.x', 'P.x.#', 'P.x']),
    ('a:b', None), ('a*.b', None), ('a..b', None), ('#.a.#.b.#.c.#', None),
    ('x' * 300, None),
])
def test_topic_bindings_as_server_patterns(binding: str, patterns: list[str] | None) -> None:
    assert topics.server_patterns('P', binding) == patterns


@pytest.mark.parametrize('key,expected', [
    ('usd.stock', 'P.usd.stock'), ('', 'P'), ('a-b_c.9', 'P.a-b_c.9'),
    ('a:b', None), ('a..b', None), ('.a', None), ('a.*', None),
])
def test_routing_keys_as_server_keys(key: str, expected: str | None) -> None:
    assert topics.server_key('P', key) == expected


def test_notify_channel_is_the_lower_case_table_name() -> None:
    assert listener.channel_name('Celery_Q') == 'pgmq.q_celery_q.INSERT'


def test_long_queue_names_are_shortened_the_same_way_everywhere() -> None:
    with patch.object(pgmq, 'PGMQueue', return_value=MagicMock()):
        with Connection('pgmq://127.0.0.1/mq') as conn:
            channel = conn.channel()
            short = channel.canonical_queue_name('celery@worker.example.com.celery.pidbox')
            long_name = 'celery@ip-10-0-0-1.eu-west-1.compute.internal.celery.pidbox'
            first = channel.canonical_queue_name(long_name)
            other = channel.canonical_queue_name(long_name + '2')
    assert short == 'celery_worker_example_com_celery_pidbox'
    assert len(first) == 47 and first.startswith('celery_ip_10_0_0_1_eu_west_1_comput')
    assert first == pgmq._shortened(pgmq.Channel.entity_name(channel, long_name))
    assert other != first and len(other) == 47
