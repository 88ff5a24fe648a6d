"""Unit tests of kombu.transport.rediscluster.durability: the error paths a live cluster
rarely shows on demand (a master out of reach, ASK, TRYAGAIN), with a fake node client."""
from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from kombu.exceptions import NotReplicated
from kombu.transport.virtual.options import TransportOptionError

redis = pytest.importorskip('redis')
from redis import exceptions as rexc  # noqa: E402

from kombu.transport.rediscluster import RedisClusterOptions  # noqa: E402
from kombu.transport.rediscluster.durability import (  # noqa: E402
    ReplicatedWriter,
    replicas_to_wait_for,
)


class FakeNode:
    def __init__(self, name: str) -> None:
        self.name = name


def writer_over(replies: list[Any], replicas: int = 1) -> tuple[ReplicatedWriter, list[Any]]:
    """A writer whose node client answers each pipeline with the next of ``replies``."""
    sent: list[Any] = []
    cluster = mock.MagicMock()
    cluster.get_node_from_key.return_value = FakeNode('a:1')
    cluster.get_node.side_effect = lambda host, port: FakeNode(f'{host}:{port}')

    def pipeline(transaction: bool = True) -> Any:
        pipe = mock.MagicMock()
        commands: list[Any] = []
        pipe.execute_command.side_effect = lambda *c: commands.append(c)

        def execute(raise_on_error: bool = True) -> Any:
            sent.append(commands)
            reply = replies.pop(0)
            if isinstance(reply, BaseException):
                raise reply
            return reply
        pipe.execute.side_effect = execute
        return pipe
    cluster.get_redis_connection.return_value.pipeline.side_effect = pipeline
    return ReplicatedWriter(cluster, replicas, 100, attempts=2, backoff=0), sent


def test_write_and_wait_share_one_pipeline() -> None:
    writer, sent = writer_over([[1, 1]])
    assert writer.run('k', [('LPUSH', 'k', 'v')]) == [1]
    assert sent == [[('LPUSH', 'k', 'v'), ('WAIT', 1, 100)]]


def test_too_few_replicas_is_not_replicated() -> None:
    writer, _ = writer_over([[1, 0]])
    with pytest.raises(NotReplicated) as info:
        writer.run('k', [('LPUSH', 'k', 'v')])
    assert (info.value.wanted, info.value.acked, info.value.node) == (1, 0, 'a:1')


def test_master_out_of_reach_for_every_attempt() -> None:
    writer, sent = writer_over([rexc.ConnectionError('refused')] * 3)
    with pytest.raises(rexc.ConnectionError, match='after 3 attempts'):
        writer.run('k', [('LPUSH', 'k', 'v')])
    assert len(sent) == 3
    assert writer.cluster.nodes_manager.initialize.call_count == 3  # asked who owns it


def test_slot_without_master_is_asked_again() -> None:
    writer, sent = writer_over([[1, 1]])
    writer.cluster.get_node_from_key.side_effect = [
        rexc.SlotNotCoveredError('failing over'), FakeNode('b:2')]
    assert writer.run('k', [('LPUSH', 'k', 'v')]) == [1]
    assert len(sent) == 1


def test_ask_sends_asking_to_the_named_node_once() -> None:
    writer, sent = writer_over([[rexc.AskError('5 b:2'), 0], [b'OK', 1, 1]])
    assert writer.run('k', [('LPUSH', 'k', 'v')]) == [1]
    assert sent[1] == [('ASKING',), ('LPUSH', 'k', 'v'), ('WAIT', 1, 100)]
    writer.cluster.get_node.assert_called_with(host='b', port=2)


def test_tryagain_is_retried_and_a_refusal_raised() -> None:
    writer, sent = writer_over([[rexc.TryAgainError('busy'), 0], [1, 1]])
    assert writer.run('k', [('LPUSH', 'k', 'v')]) == [1]
    writer, _ = writer_over([[rexc.ResponseError('WRONGTYPE'), 1]])
    with pytest.raises(rexc.ResponseError, match='WRONGTYPE'):
        writer.run('k', [('LPUSH', 'k', 'v')])


def test_automatic_replica_count_reads_cluster_nodes() -> None:
    cluster = mock.MagicMock()
    cluster.cluster_nodes.return_value = {'a': {'flags': 'myself,master'},
                                          'b': {'flags': 'slave'}}
    assert replicas_to_wait_for(None, cluster) == 1
    cluster.cluster_nodes.return_value = {'a': {'flags': 'master'}}
    assert replicas_to_wait_for(None, cluster) == 0
    assert replicas_to_wait_for(2, cluster) == 2


def test_options_validated_and_redis_names_accepted() -> None:
    options = RedisClusterOptions.from_transport_options(
        {'publish_replicas': '2', 'publish_replicas_timeout': '250'})
    assert (options.replica_wait, options.replica_wait_timeout) == (2, 250)
    assert RedisClusterOptions().replica_wait is None  # automatic
    with pytest.raises(TransportOptionError):
        RedisClusterOptions.from_transport_options({'replica_wait': -1})
    with pytest.raises(TransportOptionError):
        RedisClusterOptions.from_transport_options({'replica_wait_timeout': 0})
