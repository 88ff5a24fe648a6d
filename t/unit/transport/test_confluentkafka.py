"""Kafka transport: error translation, option checks and commit order, with the client mocked."""
from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock, patch

import pytest

from kombu import Connection
from kombu.exceptions import AccessRefused, ChannelError, ConnectionError, LimitExceeded
from kombu.transport.virtual.options import TransportOptionError

ck = pytest.importorskip('confluent_kafka')
kafka = pytest.importorskip('kombu.transport.confluentkafka')
KafkaError, KafkaException = ck.KafkaError, ck.KafkaException


def kafka_error(code: int) -> Any:
    return KafkaException(KafkaError(code))


@pytest.mark.parametrize('code,kind', [
    (KafkaError._TRANSPORT, ConnectionError),
    (KafkaError._ALL_BROKERS_DOWN, ConnectionError),
    (KafkaError._MSG_TIMED_OUT, ConnectionError),
    (KafkaError.SASL_AUTHENTICATION_FAILED, AccessRefused),
    (KafkaError.TOPIC_AUTHORIZATION_FAILED, AccessRefused),
    (KafkaError.MSG_SIZE_TOO_LARGE, LimitExceeded),
    (KafkaError.INVALID_CONFIG, ChannelError),
])
def test_errors_by_code(code: int, kind: type) -> None:
    with pytest.raises(kind) as info:
        with kafka.errors('produce', 'q'):
            raise kafka_error(code)
    assert isinstance(info.value.__cause__, KafkaException)
    assert 'q' in str(info.value)


def test_unknown_topic_is_404() -> None:
    with pytest.raises(ChannelError) as info:
        with kafka.errors('poll', 'q'):
            raise kafka_error(KafkaError.UNKNOWN_TOPIC_OR_PART)
    assert info.value.reply_code == 404


def test_full_local_queue_is_connection_error() -> None:
    with pytest.raises(ConnectionError):
        with kafka.errors('produce', 'q'):
            raise BufferError('Local: Queue full')


def test_no_brokers_is_a_kombu_connection_error() -> None:
    admin = MagicMock()
    admin.list_topics.side_effect = kafka_error(KafkaError._TRANSPORT)
    with patch.object(kafka, 'AdminClient', return_value=admin):
        conn = Connection('confluentkafka://127.0.0.1:1',
                          transport_options={'connection_wait_time_seconds': 1})
        with pytest.raises(kafka.NoBrokersAvailable) as info:
            conn.connect()
    assert isinstance(info.value, ConnectionError)
    assert isinstance(info.value, conn.connection_errors)
    assert admin.list_topics.call_args.kwargs['timeout'] == 1


def test_failed_delivery_is_connection_error() -> None:
    producer = MagicMock()
    producer.flush.return_value = 1   # one message still undelivered
    admin = MagicMock()
    admin.list_topics.return_value.topics = {}
    with patch.object(kafka, 'AdminClient', return_value=admin), \
            patch.object(kafka, 'Producer', return_value=producer):
        with Connection('kafka://127.0.0.1:9092') as conn:
            channel = conn.channel()
            with pytest.raises(ConnectionError):
                channel._put('q', {'body': 'x', 'properties': {}})
    assert producer.produce.call_args.args[0] == 'q'


@pytest.mark.parametrize('options', [
    {'num_partitions': 0}, {'wait_time_seconds': -1}, {'kafka_consumer_config': 'x'},
    {'replication_factor': 'many'},
])
def test_bad_options_refused(options: dict[str, Any]) -> None:
    with pytest.raises(TransportOptionError):
        kafka.KafkaOptions.from_transport_options(options)


def test_common_config_from_url_and_options() -> None:
    conn = Connection('confluentkafka://alice:secret@k1:9093',
                      transport_options={'sasl_mechanism': 'PLAIN',
                                         'security_protocol': 'SASL_SSL',
                                         'kafka_common_config': {'client.id': 'me'}})
    config = conn.transport.common_config
    assert config == {'bootstrap.servers': 'k1:9093', 'security.protocol': 'SASL_SSL',
                      'sasl.mechanism': 'PLAIN', 'sasl.username': 'alice',
                      'sasl.password': 'secret', 'client.id': 'me'}
    assert 'secret' not in conn.as_uri()


def test_commit_waits_for_every_earlier_offset() -> None:
    part = kafka._Partition()
    part.pending.extend([5, 6, 7])
    assert part.settle(6) is None     # 5 still unacknowledged
    assert part.settle(5) == 7        # 5 and 6 done: commit up to 7
    assert part.settle(7) == 8
    assert part.pending == [] and part.settled == set()


def test_sanitized_topic_names() -> None:
    admin = MagicMock()
    with patch.object(kafka, 'AdminClient', return_value=admin):
        with Connection('kafka://127.0.0.1:9092') as conn:
            assert conn.channel().sanitize_queue_name('celery@host:1') == 'celery-host-1'


# -- purge's commit waits for the group join ----------------------------------------

class _JoiningConsumer:
    """Refuses commits with ``codes`` (one per call) before accepting one."""

    def __init__(self, *codes: int) -> None:
        self.codes = list(codes)
        self.commits = self.polls = 0

    def commit(self, offsets: Any, asynchronous: bool) -> None:
        from confluent_kafka import KafkaError, KafkaException
        self.commits += 1
        if self.codes:
            raise KafkaException(KafkaError(self.codes.pop(0)))

    def poll(self, timeout: float) -> None:
        self.polls += 1


def test_purge_commit_waits_until_the_member_joined() -> None:
    from confluent_kafka import KafkaError

    from kombu.transport.confluentkafka import Channel
    consumer = _JoiningConsumer(KafkaError.UNKNOWN_MEMBER_ID,
                                KafkaError.REBALANCE_IN_PROGRESS)
    Channel._commit_as_member(consumer, [], wait=10)
    assert (consumer.commits, consumer.polls) == (3, 2)


def test_purge_commit_raises_other_errors_and_after_the_wait() -> None:
    from confluent_kafka import KafkaError, KafkaException

    from kombu.transport.confluentkafka import Channel
    refused = _JoiningConsumer(KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        Channel._commit_as_member(refused, [], wait=10)
    assert (refused.commits, refused.polls) == (1, 0)
    never = _JoiningConsumer(*[KafkaError.UNKNOWN_MEMBER_ID] * 100)
    with pytest.raises(KafkaException):
        Channel._commit_as_member(never, [], wait=0)
    assert never.commits == 1
