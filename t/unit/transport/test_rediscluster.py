"""Unit tests of the Redis Cluster transport: key layout, URL parsing, error paths."""
from __future__ import annotations

from unittest import mock

import pytest

from kombu import Connection
from kombu.exceptions import ConnectionError as KombuConnectionError

redis = pytest.importorskip('redis')

from redis.cluster import key_slot  # noqa: E402

from kombu.transport.rediscluster import keys as K  # noqa: E402


@pytest.mark.parametrize('queue', ['celery', 'a.b', 'with}brace', '{odd', '', '}x', '~y'])
def test_every_key_of_a_queue_is_in_one_slot(queue: str) -> None:
    layout = K.Layout('pfx:')
    keys = [*layout.queue_keys(queue), layout.unacked(queue),
            layout.unacked_index(queue), layout.args(queue)]
    assert len({key_slot(k.encode()) for k in keys}) == 1


def test_global_tables_share_a_slot_and_queues_spread() -> None:
    layout = K.Layout()
    globals_ = [layout.queues, layout.exchanges, layout.bindings('x'), layout.bindings('y')]
    assert len({key_slot(k.encode()) for k in globals_}) == 1
    slots = {key_slot(layout.queue_key(f'q{i}', 0).encode()) for i in range(50)}
    assert len(slots) > 40  # distinct queues land in distinct slots (and nodes)


def test_priority_steps() -> None:
    assert [K.priority_step([0, 3, 6, 9], p) for p in (0, 2, 3, 5, 9, 10)] == [0, 0, 3, 3, 9, 9]


def test_binding_member_round_trip() -> None:
    member = K.binding_member('rk', '', 'q')
    assert K.parse_binding(member.encode()) == ('rk', '', 'q')


def test_startup_nodes_from_alternates() -> None:
    conn = Connection('rediscluster://127.0.0.1:7000;rediscluster://127.0.0.2:7001')
    assert conn.transport.startup_nodes() == [('127.0.0.1', 7000), ('127.0.0.2', 7001)]


def test_password_is_not_in_the_uri() -> None:
    conn = Connection('rediscluster://:s3cret@127.0.0.1:7000')
    assert 's3cret' not in conn.as_uri()
    assert 's3cret' not in repr(conn)


def test_unreachable_cluster_is_a_connection_error() -> None:
    conn = Connection('rediscluster://127.0.0.1:7000')
    with mock.patch('kombu.transport.rediscluster.RedisCluster',
                    side_effect=redis.exceptions.ConnectionError('refused')):
        with pytest.raises(KombuConnectionError, match='rediscluster connect'):
            conn.transport.cluster_client()


def test_command_errors_are_translated() -> None:
    conn = Connection('rediscluster://127.0.0.1:7000')
    fake = mock.MagicMock()
    fake.get_replicas.return_value = []  # no replica: publishes do not WAIT
    fake.execute_command.side_effect = redis.exceptions.TimeoutError('slow')
    with mock.patch('kombu.transport.rediscluster.RedisCluster', return_value=fake):
        channel = conn.channel()
        with pytest.raises(KombuConnectionError, match="rediscluster publish 'q'"):
            channel._put('q', {'properties': {'priority': 0}})


def test_escaped_names_never_share_keys() -> None:
    names = ['a', '~a', 'a}', '~a~r', '}', '', '~', '~~']
    tags = [K.hash_tag(n) for n in names]
    assert len(set(tags)) == len(names)
    assert all('}' not in t and t for t in tags)
