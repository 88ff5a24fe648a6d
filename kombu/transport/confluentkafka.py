"""Kafka transport (virtual), on the ``confluent-kafka`` library (librdkafka).

Features
========
* Type: Virtual
* Supports Direct: Yes
* Supports Topic: Yes
* Supports Fanout: Yes (a topic per fanout exchange, read by the consumer
  group of each bound queue)
* Supports Priority: No (a topic partition is a log read in order)
* Supports TTL: Yes (per-message ``expiration`` and queue ``x-message-ttl``,
  applied by the virtual base when a message is read)

Each Kombu queue is a Kafka topic, read by a consumer group named after the
queue (``group.id``), so the consumers of one queue share its partitions and
every message reaches one of them.

A fanout exchange is a topic of its own (``fanout.`` + the exchange name;
``kombu.transport.kafka_fanout``).
The consumer group of each queue bound to it reads that topic besides the
queue's own, so every bound queue gets each message, and its consumers share
it as they share the queue.  Binding a queue commits its group's offset at the
end of the exchange's topic (unless the group read it before): the queue gets
what is published from then on, also while none of its consumers runs, and in
whichever process the message is published.  The conformance suite
(``t/integration/test_conformance_confluentkafka.py``, run against Tansu, a
Kafka-compatible broker) proves: publish/consume/ack, ``basic_get``, reject,
requeue, purge, queue size, several queues per consumer, cancel, prefetch,
``no_ack``, unacked messages given back when a channel or connection closes,
direct, topic and fanout routing (fanout also across connections and to
queues without consumers), unbind, 1 MiB messages in order, message expiration
and queue TTL with dead-lettering, and dead-lettering on reject.

Connection String
=================
::

    confluentkafka://[USER:PASSWORD@]KAFKA_ADDRESS[:PORT]
    kafka://[USER:PASSWORD@]KAFKA_ADDRESS[:PORT]

A user and password are sent as ``sasl.username``/``sasl.password`` (set
``security_protocol`` and ``sasl_mechanism`` to match the broker).

Delivery
========
Offsets are committed when messages are acknowledged (``enable.auto.commit``
is off): a consumer that dies with messages unacknowledged leaves its group,
and the next member of the group reads them again from the last commit.  An
offset is committed only once every earlier message of its partition is
settled (acknowledged, rejected or given back), so an ack out of order never
commits past an unacknowledged message.  A requeued, rejected-with-requeue or
restored message is produced again at the end of its topic (Kafka cannot put
one back at the head) and its old offset settled.

Joining a group takes about half of ``session.timeout.ms`` on some brokers
(librdkafka's default is 45 s); with ``kafka_consumer_config={
'session.timeout.ms': 6000}`` a new consumer gets its partitions within a few
seconds.

Errors
======
Every call into confluent-kafka is translated at the boundary
(:class:`~kombu.transport.virtual.errors.ErrorTranslator`): transport errors,
timeouts and an unreachable cluster are :class:`~kombu.exceptions.ConnectionError`
(retried by ``Connection.ensure``), failed SASL authentication or ACL denials
:class:`~kombu.exceptions.AccessRefused`, an unknown topic a ``ChannelError``
with code 404, a message over the size limit
:class:`~kombu.exceptions.LimitExceeded`.  A connection that cannot reach any
broker within ``connection_wait_time_seconds`` raises
:class:`NoBrokersAvailable` (a Kafka and a Kombu connection error).

Transport Options
=================
* ``connection_wait_time_seconds`` - seconds to wait for the cluster when
  connecting (default ``5``).
* ``wait_time_seconds`` - longest one poll of a topic waits (default ``5``;
  the channel polls in slices of at most 0.1 s so ``drain_events`` keeps its
  timeout).
* ``security_protocol`` - ``security.protocol`` (default ``'plaintext'``).
* ``sasl_mechanism`` - ``sasl.mechanism`` (default ``'GSSAPI'``, used only
  with a user in the URL).
* ``num_partitions`` - partitions of a topic the transport creates (default ``1``).
* ``replication_factor`` - its replication factor (default ``1``).
* ``topic_config`` - further settings of a created topic (default ``{}``).
* ``kafka_common_config`` - librdkafka settings for producer, consumers and
  admin client (default ``{}``).
* ``kafka_producer_config`` / ``kafka_consumer_config`` / ``kafka_admin_config``
  - settings for one of them only (default ``{}``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import string
import threading
import uuid
from queue import Empty
from time import monotonic
from typing import Any, ClassVar, Iterator

from kombu.exceptions import ConnectionError as KombuConnectionError
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

from . import virtual
from .kafka_fanout import FanoutTopicsMixin
from .virtual.errors import ErrorTranslator
from .virtual.message import as_envelope, corrupt_envelope
from .virtual.options import TransportOptions
from .virtual.settle import SettleOnAckMixin

try:
    import confluent_kafka
    from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError:  # pragma: no cover - the client library is optional
    confluent_kafka = None  # type: ignore[assignment]
    Consumer = Producer = TopicPartition = AdminClient = NewTopic = None  # type: ignore

    class KafkaException(Exception):  # type: ignore[no-redef]
        """Stands in for confluent-kafka's exception when it is not installed."""

    KafkaError = None  # type: ignore[misc,assignment,unused-ignore]

__all__ = ('NoBrokersAvailable', 'Message', 'QoS', 'Channel', 'Transport')

logger = logging.getLogger(__name__)

DEFAULT_PORT = 9092

#: longest single ``Consumer.poll``: drain_events' timeout stays accurate.
POLL_SLICE = 0.1

#: characters a Kafka topic name may hold besides letters and digits.
_TOPIC_CHARS = frozenset(string.ascii_letters + string.digits + '._-')


class NoBrokersAvailable(KafkaException, KombuConnectionError):  # type: ignore[misc]
    """No broker of the cluster answered within ``connection_wait_time_seconds``."""

    retriable = True


def _codes(*names: str) -> frozenset[int]:
    """The error codes of those names this librdkafka knows (the list grows by version)."""
    return frozenset(getattr(KafkaError, n) for n in names if hasattr(KafkaError, n))


def _code_kind(exc: BaseException) -> str | None:
    """The kind of a KafkaException from its error code (None: by class)."""
    if not isinstance(exc, KafkaException) or KafkaError is None:
        return None
    err: Any = exc.args[0] if exc.args else None
    code = err.code() if hasattr(err, 'code') else None
    if code is None:
        return None
    if code in _codes('UNKNOWN_TOPIC_OR_PART', '_UNKNOWN_TOPIC', '_UNKNOWN_PARTITION'):
        return 'not_found'
    if code in _codes('_AUTHENTICATION', 'SASL_AUTHENTICATION_FAILED',
                      'TOPIC_AUTHORIZATION_FAILED', 'GROUP_AUTHORIZATION_FAILED',
                      'CLUSTER_AUTHORIZATION_FAILED'):
        return 'auth'
    if code in _codes('MSG_SIZE_TOO_LARGE', 'MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE'):
        return 'limit'
    if code in _codes('_TRANSPORT', '_ALL_BROKERS_DOWN', '_TIMED_OUT', '_MSG_TIMED_OUT',
                      '_RESOLVE', 'REQUEST_TIMED_OUT', 'NOT_COORDINATOR',
                      'COORDINATOR_NOT_AVAILABLE', 'NETWORK_EXCEPTION',
                      'LEADER_NOT_AVAILABLE'):
        return 'connection'
    if getattr(err, 'retriable', lambda: False)():
        return 'connection'
    return 'channel'


errors = ErrorTranslator(
    'confluentkafka',
    # BufferError: librdkafka's local queue is full (the cluster does not keep up).
    connection=(KafkaException, BufferError),
    classify=_code_kind,
)


@dataclasses.dataclass(frozen=True)
class KafkaOptions(TransportOptions):
    """``transport_options`` of the Kafka transport (Kombu's names and defaults)."""

    transport_name: ClassVar[str] = 'confluentkafka'

    connection_wait_time_seconds: int = 5
    wait_time_seconds: int = 5
    security_protocol: str = 'plaintext'
    sasl_mechanism: str = 'GSSAPI'
    num_partitions: int = 1
    replication_factor: int = 1
    topic_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    kafka_common_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    kafka_producer_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    kafka_consumer_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    kafka_admin_config: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require(self.wait_time_seconds >= 0, 'wait_time_seconds must be >= 0')
        self.require(self.connection_wait_time_seconds >= 0,
                     'connection_wait_time_seconds must be >= 0')
        self.require(self.num_partitions >= 1, 'num_partitions must be >= 1')
        self.require(self.replication_factor >= 1, 'replication_factor must be >= 1')
        for name in ('topic_config', 'kafka_common_config', 'kafka_producer_config',
                     'kafka_consumer_config', 'kafka_admin_config'):
            self.require(isinstance(getattr(self, name), dict), f'{name} must be a dict')


class Message(virtual.Message):
    """A message read from a Kafka topic."""

    def __init__(self, payload: Any, channel: Any = None, **kwargs: Any) -> None:
        self.topic = payload.get('topic') if isinstance(payload, dict) else None
        super().__init__(payload, channel=channel, **kwargs)


class _Partition:
    """The offsets read from one partition and not settled yet, for commits in order."""

    def __init__(self) -> None:
        self.pending: list[int] = []    # read order is offset order
        self.settled: set[int] = set()

    def settle(self, offset: int) -> int | None:
        """Mark ``offset`` done; the offset to commit now (None: nothing new)."""
        self.settled.add(offset)
        commit = None
        while self.pending and self.pending[0] in self.settled:
            done = self.pending.pop(0)
            self.settled.discard(done)
            commit = done + 1
        return commit


class QoS(virtual.QoS):
    """Prefetch and unacked messages (settling goes through the channel's ``_settle``)."""


class Channel(FanoutTopicsMixin, SettleOnAckMixin, virtual.Channel):
    """Kafka channel: one producer per connection, one group consumer per queue."""

    QoS = QoS
    Message = Message
    Options = KafkaOptions
    options: KafkaOptions

    default_wait_time_seconds = 5
    default_connection_wait_time_seconds = 5

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if confluent_kafka is None:
            raise ImportError('the Kafka transport needs confluent-kafka '
                              '(pip install "kombu[confluentkafka]")')
        super().__init__(*args, **kwargs)
        self._kafka_consumers: dict[str, Any] = {}
        #: delivery tag -> (queue, partition key, offset) of a read, unsettled message.
        self._positions: dict[Any, tuple[str, tuple[str, int], int]] = {}
        self._partitions: dict[tuple[str, int], _Partition] = {}
        self._commit_lock = threading.Lock()  # acks may come from other threads
        #: queues consumed with no_ack (SettleOnAckMixin): committed as they are read.
        self._noack_queues: set[str] = set()
        #: queues whose consumer has not been given partitions yet.
        self._joining: set[str] = set()

    # -- names and configuration -------------------------------------------

    def sanitize_queue_name(self, queue: str) -> str:
        """The topic name of a queue: characters Kafka refuses become ``-``."""
        return ''.join(c if c in _TOPIC_CHARS else '-' for c in str(queue))

    @property
    def wait_time_seconds(self) -> int:
        return self.options.wait_time_seconds

    @property
    def connection_wait_time_seconds(self) -> int:
        return self.options.connection_wait_time_seconds

    @property
    def conninfo(self) -> Any:
        return self.connection.client

    @property
    def common_config(self) -> dict[str, Any]:
        return self.connection.common_config

    @property
    def client(self) -> Any:
        """The connection's producer."""
        return self.connection.producer

    def _consumer(self, queue: str) -> Any:
        """This channel's member of the consumer group of ``queue`` (made on first use)."""
        consumer = self._kafka_consumers.get(queue)
        if consumer is None:
            topic = self.sanitize_queue_name(queue)
            config = dict(self.common_config)
            config.update({'group.id': topic, 'auto.offset.reset': 'earliest',
                           'enable.auto.commit': False, 'enable.partition.eof': False})
            config.update(self.options.kafka_consumer_config)
            with errors('subscribe', queue):
                consumer = Consumer(config)
                consumer.subscribe(self._topics(queue))
            self._kafka_consumers[queue] = consumer
            self._joining.add(queue)
        return consumer

    @contextlib.contextmanager
    def _group_client(self, queue: str) -> Iterator[Any]:
        """A client of the group of ``queue`` for offsets: this channel's member of it,
        or a consumer made for the call that never joins."""
        consumer = self._kafka_consumers.get(queue)
        if consumer is not None:
            yield consumer
            return
        config = dict(self.common_config)
        config.update({'group.id': self.sanitize_queue_name(queue),
                       'enable.auto.commit': False})
        config.update(self.options.kafka_consumer_config)
        with errors('group client', queue):
            consumer = Consumer(config)
        try:
            yield consumer
        finally:
            consumer.close()

    def _partitions_of(self, consumer: Any, topic: str) -> list[Any]:
        """The partitions of ``topic`` (none when it does not exist)."""
        meta = consumer.list_topics(topic, timeout=self.connection_wait_time_seconds)
        found = meta.topics.get(topic)
        if found is None or found.error is not None:
            return []
        return [TopicPartition(topic, p) for p in found.partitions]

    def _resubscribe(self, queue: str) -> None:
        """Members of the group of ``queue`` on this connection read its topics anew."""
        for channel in list(self.connection.channels or ()):
            consumer = getattr(channel, '_kafka_consumers', {}).get(queue)
            if consumer is not None:
                with errors('subscribe', queue):
                    consumer.subscribe(channel._topics(queue))

    def _await_assignment(self, queue: str, consumer: Any) -> Any:
        """Poll until the group gave ``consumer`` partitions; the first record, if any."""
        deadline = monotonic() + max(self.connection_wait_time_seconds,
                                     self.wait_time_seconds, 1)
        while not consumer.assignment() and monotonic() < deadline:
            record = consumer.poll(POLL_SLICE)
            if record is not None:   # assigned and fetched at once
                self._joining.discard(queue)
                return record
        self._joining.discard(queue)
        # The committed offsets are looked up and the first fetch made after assignment.
        return consumer.poll(1.0)

    # -- the virtual hooks ---------------------------------------------------

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        if not self._has_queue(queue):
            self._create_topic(self.sanitize_queue_name(queue), queue)

    def _create_topic(self, topic: str, name: str) -> None:
        new = NewTopic(topic, num_partitions=self.options.num_partitions,
                       replication_factor=self.options.replication_factor,
                       config=dict(self.options.topic_config))
        with errors('create topic', name):
            future = self.connection.admin.create_topics([new])[topic]
            try:
                future.result(timeout=self.connection_wait_time_seconds or None)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return self._has_topic(self.sanitize_queue_name(queue), queue)

    def _has_topic(self, topic: str, name: str) -> bool:
        with errors('list topics', name):
            # All topics: a metadata request naming one may auto-create it.
            meta = self.connection.admin.list_topics(
                timeout=self.connection_wait_time_seconds or None)
        found = meta.topics.get(topic)
        return found is not None and found.error is None

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self._drop_consumer(queue)
        self._delete_topic(self.sanitize_queue_name(queue), queue)
        # The group goes too: its offsets on fanout topics are the queue's bindings.
        group = self.sanitize_queue_name(queue)
        try:
            future = self.connection.admin.delete_consumer_groups(
                [group], request_timeout=self.connection_wait_time_seconds or None)[group]
            future.result(timeout=self.connection_wait_time_seconds or None)
        except KafkaException as exc:   # never committed, or members elsewhere
            logger.debug('deleting the consumer group %r: %r', group, exc)

    def _delete_topic(self, topic: str, name: str) -> None:
        with errors('delete topic', name):
            future = self.connection.admin.delete_topics([topic])[topic]
            try:
                future.result(timeout=self.connection_wait_time_seconds or None)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise

    def _start_at_end(self, queue: str, topic: str) -> None:
        """The group of ``queue`` reads ``topic`` from its end on: a new binding gets what is
        published from now on.  A group that read the topic before keeps its offsets."""
        wait = self.connection_wait_time_seconds
        with self._group_client(queue) as consumer:
            with errors('bind', queue):
                parts = self._partitions_of(consumer, topic)
                fresh = [tp for tp in consumer.committed(parts, timeout=wait) if tp.offset < 0]
                ends = [TopicPartition(topic, tp.partition,
                                       consumer.get_watermark_offsets(tp, timeout=wait)[1])
                        for tp in fresh]
            if not ends:
                return
            try:
                consumer.commit(offsets=ends, asynchronous=False)
            except KafkaException as exc:
                # Members elsewhere refuse a commit from outside the group: the queue then
                # reads the topic from its start (at least once, never less).
                logger.warning('queue %r reads %r from its start: %r', queue, topic, exc)

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        self._produce(self.sanitize_queue_name(queue), message, queue)

    def _produce(self, topic: str, message: dict[str, Any], name: str) -> None:
        producer = self.client
        with errors('produce', name):
            producer.produce(topic, value=dumps(message))
            # Published means stored: a failed delivery surfaces here, not later.
            if producer.flush(self.connection_wait_time_seconds or 5) > 0:
                # Not sent: drop it from librdkafka's queue, so that a retry by the caller
                # does not deliver it twice once the cluster is back.  (A message already
                # in flight may still arrive: publishing is at least once.)
                producer.purge(in_queue=True, in_flight=False, blocking=False)
                raise KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT))

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        consumer = self._consumer(queue)
        wait = min(POLL_SLICE, self.wait_time_seconds)
        with errors('poll', queue):
            if queue in self._joining:
                # A new member has no partitions until the group rebalances: without
                # waiting for them, basic_get would report a full queue as empty.
                record = self._await_assignment(queue, consumer)
            else:
                record = consumer.poll(wait)
            if record is None:
                raise Empty()
            error = record.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    raise Empty()
                raise KafkaException(error)
        envelope = self._envelope(record.value())
        # A fresh tag per read: two copies of a requeued message never share one.
        tag = uuid.uuid4().hex
        props = envelope.get('properties')
        if isinstance(props, dict):
            props['delivery_tag'] = tag
            key = (record.topic(), record.partition())
            with self._commit_lock:
                self._partitions.setdefault(key, _Partition()).pending.append(
                    record.offset())
                self._positions[tag] = (queue, key, record.offset())
        envelope['topic'] = record.topic()
        if queue in self._noack_queues and isinstance(props, dict):
            self._settle(tag)
        return envelope

    @staticmethod
    def _envelope(value: Any) -> dict[str, Any]:
        try:
            return as_envelope(loads(value))
        except ValueError as exc:   # not JSON: on_decode_error gets it
            return corrupt_envelope(value, f'message is not JSON: {exc}')

    def _settle(self, delivery_tag: Any, action: str = 'complete') -> None:
        """The message is done with here: commit its partition as far as it is settled."""
        with self._commit_lock:
            position = self._positions.pop(delivery_tag, None)
            if position is None:
                return
            queue, key, offset = position
            commit = self._partitions[key].settle(offset)
        consumer = self._kafka_consumers.get(queue)
        if commit is None or consumer is None:
            return
        with errors('commit', queue):
            consumer.commit(offsets=[TopicPartition(key[0], key[1], commit)],
                            asynchronous=False)

    def _restore(self, message: Any) -> None:
        super()._restore(message)   # produced again (at the end of its topic)
        self._settle(message.delivery_tag)

    def basic_consume(self, queue: str, no_ack: bool, *args: Any, **kwargs: Any) -> str:
        self._consumer(queue)   # join the group now: the join runs while we wait
        # drain_events keeps its timeout: a consumer waits for partitions as it polls.
        self._joining.discard(queue)
        return super().basic_consume(queue, no_ack, *args, **kwargs)

    def _size(self, queue: str) -> int:
        wait = self.connection_wait_time_seconds
        total = 0
        with self._group_client(queue) as consumer, errors('size', queue):
            for topic in self._topics(queue):
                parts = self._partitions_of(consumer, topic)
                for tp in consumer.committed(parts, timeout=wait) if parts else ():
                    low, high = consumer.get_watermark_offsets(tp, timeout=wait)
                    start = tp.offset if tp.offset >= 0 else low
                    total += max(high - max(start, low), 0)
        with self._commit_lock:  # read here, not acknowledged: not ready any more
            held = sum(1 for q, _, _ in self._positions.values() if q == queue)
        return max(total - held, 0)

    def _purge(self, queue: str) -> int:
        size = self._size(queue)
        consumer = self._consumer(queue)
        wait = self.connection_wait_time_seconds
        with errors('purge', queue):
            ends = [TopicPartition(tp.topic, tp.partition,
                                   consumer.get_watermark_offsets(tp, timeout=wait)[1])
                    for topic in self._topics(queue)
                    for tp in self._partitions_of(consumer, topic)]
            if ends:
                self._commit_as_member(consumer, ends, wait)
        # What this channel read and holds stays readable to ack; the rest is gone:
        # a new group member starts from the commit.
        self._drop_consumer(queue)
        return size

    @staticmethod
    def _commit_as_member(consumer: Any, offsets: list[Any], wait: float) -> None:
        """Commit ``offsets`` once ``consumer`` is a member of its group.

        A member made just now may not have joined yet (the broker answers
        UNKNOWN_MEMBER_ID, or REBALANCE_IN_PROGRESS while the group settles):
        polling serves the join.  Only purge calls this: what a poll reads is
        below the offsets being committed, or read again by the next member.
        """
        deadline = monotonic() + wait
        joining = _codes('UNKNOWN_MEMBER_ID', 'REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION')
        while True:
            try:
                consumer.commit(offsets=offsets, asynchronous=False)
                return
            except KafkaException as exc:
                err: Any = exc.args[0] if exc.args else None
                code = err.code() if hasattr(err, 'code') else None
                if code not in joining or monotonic() >= deadline:
                    raise
            consumer.poll(0.1)

    def _drop_consumer(self, queue: str) -> None:
        consumer = self._kafka_consumers.pop(queue, None)
        self._joining.discard(queue)
        if consumer is not None:
            try:
                consumer.close()   # leave the group at once: others get its partitions
            except Exception as exc:  # already closed or the cluster gone
                logger.debug('closing the consumer of %r: %r', queue, exc)

    def close(self) -> None:
        super().close()   # restores unacked messages first (produced again)
        for queue in list(self._kafka_consumers):
            self._drop_consumer(queue)


class Transport(virtual.Transport):
    """Kafka transport."""

    Channel = Channel
    options: KafkaOptions

    default_port = DEFAULT_PORT
    driver_type = 'kafka'
    driver_name = 'confluentkafka'
    polling_interval: float = 0.0   # Consumer.poll waits itself

    connection_errors = errors.connection_errors + (NoBrokersAvailable,)
    channel_errors = errors.channel_errors
    recoverable_connection_errors = (NoBrokersAvailable, KombuConnectionError)

    implements = virtual.Transport.implements.extend(
        asynchronous=False, exchange_type=frozenset(['direct', 'topic', 'fanout']))

    def __init__(self, client: Any, **kwargs: Any) -> None:
        if confluent_kafka is None:
            raise ImportError('the Kafka transport needs confluent-kafka '
                              '(pip install "kombu[confluentkafka]")')
        super().__init__(client, **kwargs)
        self._producer: Any = None
        self._admin: Any = None

    def as_uri(self, uri: str, include_password: bool = False, mask: str = '**') -> str:
        pass_ = self.client.password
        if pass_ and not include_password:
            return uri.replace(f':{pass_}@', f':{mask}@')
        return uri

    def driver_version(self) -> str:
        return str(confluent_kafka.version()[0])

    @cached_property
    def common_config(self) -> dict[str, Any]:
        options = self.options
        conninfo = self.client
        hosts = []
        for host in (conninfo.hostname or '127.0.0.1').split(','):
            hosts.append(host if ':' in host else f'{host}:{conninfo.port or DEFAULT_PORT}')
        config: dict[str, Any] = {'bootstrap.servers': ','.join(hosts)}
        if options.given('security_protocol') or conninfo.userid:
            config['security.protocol'] = options.security_protocol
        if conninfo.userid:
            config.update({'sasl.mechanism': options.sasl_mechanism,
                           'sasl.username': conninfo.userid,
                           'sasl.password': conninfo.password})
        config.update(options.kafka_common_config)
        return config

    @property
    def producer(self) -> Any:
        if self._producer is None:
            config = dict(self.common_config)
            config.update(self.options.kafka_producer_config)
            with errors('producer'):
                self._producer = Producer(config)
        return self._producer

    @property
    def admin(self) -> Any:
        if self._admin is None:
            config = dict(self.common_config)
            config.update(self.options.kafka_admin_config)
            with errors('admin client'):
                self._admin = AdminClient(config)
        return self._admin

    def establish_connection(self) -> Any:
        wait = self.options.connection_wait_time_seconds
        try:
            self.admin.list_topics(timeout=wait or None)
        except KafkaException as exc:
            self._admin = None
            raise NoBrokersAvailable(
                f'no Kafka broker of {self.common_config["bootstrap.servers"]} answered '
                f'within {wait} s: {exc}') from exc
        return super().establish_connection()

    def close_connection(self, connection: Any) -> None:
        super().close_connection(connection)
        producer, self._producer, self._admin = self._producer, None, None
        if producer is not None:
            try:
                producer.flush(self.options.connection_wait_time_seconds)
            except Exception as exc:  # the cluster may be gone already
                logger.debug('flushing the producer: %r', exc)
