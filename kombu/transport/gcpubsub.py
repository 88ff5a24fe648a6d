"""Google Cloud Pub/Sub transport (virtual), on the ``google-cloud-pubsub`` library.

Features
========
* Type: Virtual
* Supports Direct: Yes
* Supports Topic: Yes
* Supports Fanout: Yes (a subscription per bound queue on the exchange's topic)
* Supports Priority: No
* Supports TTL: Yes (per-message ``expiration`` and queue ``x-message-ttl``,
  applied by the virtual base when a message is read)

Each Kombu queue is a Pub/Sub topic with one subscription of the same name
(``queue_name_prefix`` + queue name); direct and topic exchanges route in the
client to the queues' topics.  A fanout exchange is a topic of its own and
binding a queue to it creates one subscription for that queue on it, so every
process publishing to the exchange reaches every bound queue, consumed or not.

The conformance suite (``t/integration/test_conformance_gcpubsub.py``, on the
Pub/Sub emulator) proves: publish/consume/ack, ``basic_get``, reject, requeue,
purge, queue size, several queues per consumer, cancel, prefetch, ``no_ack``,
unacked messages given back when a channel or connection closes, direct, topic
and fanout routing (fanout also across connections), unbind, 1 MiB messages in
order, message expiration and queue TTL with dead-lettering, dead-lettering on
reject, and that a message held past its ack deadline is not delivered again.

Connection String
=================
::

    gcpubsub://projects/<project-id>

Credentials come from the environment, as for every Google client
(``GOOGLE_APPLICATION_CREDENTIALS``...); ``PUBSUB_EMULATOR_HOST`` points the
client at the emulator.

Delivery
========
A message stays in its subscription until acknowledged.  While a channel holds
it unacknowledged a background thread extends its ack deadline (every quarter
of ``ack_deadline_seconds``, at least every 5 s), so a slow task is not given to
another consumer; a consumer that dies stops extending and Pub/Sub delivers the
message again after the deadline.  A requeue, or a channel closing with
messages unacknowledged, sets their deadline to 0: Pub/Sub gives them out again
at once (marked redelivered when the same connection reads them again).

Queue size
==========
With the Cloud Monitoring API (``google-cloud-monitoring`` installed, not on
the emulator) the size is its ``num_undelivered_messages``.  Otherwise (the
emulator has no Monitoring API) the messages are counted by pulling them, up
to 1000, and giving them back at once: exact for small idle queues, at most an
estimate while others consume.

Errors
======
Every call into the client is translated at the boundary
(:class:`~kombu.transport.virtual.errors.ErrorTranslator`): an unreachable or
failing service (``ServiceUnavailable``, ``DeadlineExceeded``, ``RetryError``,
``InternalServerError``, ``TooManyRequests``) is a
:class:`~kombu.exceptions.ConnectionError`, refused credentials
(``Unauthenticated``, ``PermissionDenied``) :class:`~kombu.exceptions.AccessRefused`,
a missing topic or subscription a ``ChannelError`` with code 404, a message over
Pub/Sub's 10 MB limit :class:`~kombu.exceptions.LimitExceeded`.

Transport Options
=================
Kombu's names and defaults:

* ``queue_name_prefix`` - prepended to topic and subscription names (``'kombu-'``).
* ``ack_deadline_seconds`` - ack deadline of created subscriptions (``240``).
* ``expiration_seconds`` - an idle subscription is removed after this (``86400``).
* ``wait_time_seconds`` - longest wait of one pull (``10``).
* ``retry_timeout_seconds`` - longest time the client retries a call (``300``).
* ``bulk_max_messages`` - most messages one pull takes (``32``).
* ``enable_exactly_once_delivery`` - create subscriptions with exactly-once
  delivery (``False``).
* ``ack_modify_batch_size`` - most ack ids in one ack-deadline request (``1000``;
  Pub/Sub refuses requests over 512 KiB, and an ack id is about 200 bytes).
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import string
import threading
import uuid
from queue import Empty
from typing import Any, ClassVar

from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

from . import virtual
from .virtual.errors import ErrorTranslator
from .virtual.message import as_envelope, corrupt_envelope
from .virtual.options import TransportOptions
from .virtual.settle import SettleOnAckMixin

try:
    from google.api_core import exceptions as gexc
    from google.api_core.retry import Retry
    from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
    from google.cloud.pubsub_v1.publisher import exceptions as publisher_exceptions
except ImportError:  # pragma: no cover - the client library is optional
    PublisherClient = SubscriberClient = Retry = None  # type: ignore[misc,assignment]
    gexc = publisher_exceptions = None  # type: ignore[assignment]

try:
    from google.cloud import monitoring_v3
except ImportError:  # pragma: no cover - only for _size outside the emulator
    monitoring_v3 = None

__all__ = ('CHARS_REPLACE_TABLE', 'PUNCTUATIONS_TO_REPLACE', 'Channel', 'Transport')

logger = logging.getLogger(__name__)

#: dots become dashes, other punctuation (but ``_`` and ``-``) underscores.
PUNCTUATIONS_TO_REPLACE = set(string.punctuation) - {'_', '.', '-'}
CHARS_REPLACE_TABLE = {ord('.'): ord('-'), **{ord(c): ord('_') for c in PUNCTUATIONS_TO_REPLACE}}

#: Pub/Sub's limit for one message.
MAX_MESSAGE_SIZE = 10 * 1000 * 1000
#: most messages counted by pulling (no Monitoring API).
MAX_COUNTED = 1000
#: Pub/Sub's shortest ack deadline.
MIN_ACK_DEADLINE = 10


def _types(*names: str) -> tuple[type[BaseException], ...]:
    if gexc is None:
        return ()
    return tuple(getattr(gexc, n) for n in names)


errors = ErrorTranslator(
    'gcpubsub',
    connection=_types('ServiceUnavailable', 'DeadlineExceeded', 'RetryError',
                      'InternalServerError', 'TooManyRequests', 'Aborted'),
    auth=_types('Unauthenticated', 'PermissionDenied'),
    not_found=_types('NotFound'),
    limit=((publisher_exceptions.MessageTooLargeError,)
           if publisher_exceptions is not None else ()),
    channel=_types('GoogleAPICallError') + (
        (publisher_exceptions.PublishError,) if publisher_exceptions is not None else ()),
)


@dataclasses.dataclass(frozen=True)
class PubSubOptions(TransportOptions):
    """``transport_options`` of the Pub/Sub transport (Kombu's names and defaults)."""

    transport_name: ClassVar[str] = 'gcpubsub'

    queue_name_prefix: str = 'kombu-'
    ack_deadline_seconds: int = 240
    expiration_seconds: int = 86400
    wait_time_seconds: int = 10
    retry_timeout_seconds: int = 300
    bulk_max_messages: int = 32
    enable_exactly_once_delivery: bool = False
    ack_modify_batch_size: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require(isinstance(self.queue_name_prefix, str),
                     'queue_name_prefix must be a string')
        self.require(MIN_ACK_DEADLINE <= self.ack_deadline_seconds <= 600,
                     'ack_deadline_seconds must be from 10 to 600 (Pub/Sub\'s range)')
        self.require(self.expiration_seconds >= 86400 or self.expiration_seconds == 0,
                     'expiration_seconds must be at least 86400 (one day), or 0 for never')
        self.require(self.wait_time_seconds >= 0, 'wait_time_seconds must be >= 0')
        self.require(self.retry_timeout_seconds > 0, 'retry_timeout_seconds must be > 0')
        self.require(self.bulk_max_messages >= 1, 'bulk_max_messages must be >= 1')
        self.require(self.ack_modify_batch_size >= 1, 'ack_modify_batch_size must be >= 1')


class Channel(SettleOnAckMixin, virtual.Channel):
    """Pub/Sub channel."""

    Options = PubSubOptions
    options: PubSubOptions

    supports_fanout = True
    default_wait_time_seconds = 10
    default_ack_deadline_seconds = 240
    default_expiration_seconds = 86400
    default_retry_timeout_seconds = 300
    default_bulk_max_messages = 32
    default_enable_exactly_once_delivery = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if SubscriberClient is None:
            raise ImportError('the Pub/Sub transport needs google-cloud-pubsub '
                              '(pip install "kombu[gcpubsub]")')
        super().__init__(*args, **kwargs)
        self.project_id = Transport.parse_uri(self._uri)
        #: delivery tag -> (subscription path, ack id, message id) of a message held.
        self._held: dict[Any, tuple[str, str, str]] = {}
        self._held_lock = threading.Lock()
        #: queues consumed with no_ack (SettleOnAckMixin): acknowledged as they are read.
        self._noack_queues: set[str] = set()
        self.connection._register_channel(self)

    @property
    def _uri(self) -> str:
        conninfo = self.conninfo
        return f'{conninfo.hostname or ""}/{conninfo.virtual_host or ""}'

    # -- names -------------------------------------------------------------

    def entity_name(self, name: str, table: dict[int, int] = CHARS_REPLACE_TABLE) -> str:
        """The Pub/Sub id of a queue or exchange (prefixed, punctuation replaced)."""
        prefix = self.queue_name_prefix
        if not name.startswith(prefix):
            name = prefix + name
        return str(name).translate(table)

    def _topic(self, name: str) -> str:
        return self.publisher.topic_path(self.project_id, self.entity_name(name))

    def _subscription(self, queue: str) -> str:
        return self.subscriber.subscription_path(self.project_id, self.entity_name(queue))

    def _fanout_subscription(self, queue: str, exchange: str) -> str:
        return self.subscriber.subscription_path(
            self.project_id, self.entity_name(f'{queue}--fanout--{exchange}'))

    def _subscriptions_of(self, queue: str) -> list[str]:
        """The queue's own subscription, then those binding it to fanout exchanges."""
        fanout = self.connection._fanout_subscriptions.get(queue, {})
        return [self._subscription(queue), *fanout.values()]

    # -- entities ----------------------------------------------------------

    def _create_topic(self, topic: str) -> None:
        with errors('create topic', topic):
            try:
                self.publisher.create_topic(request={'name': topic})
            except gexc.AlreadyExists:
                pass

    def _create_subscription(self, subscription: str, topic: str) -> None:
        options = self.options
        request: dict[str, Any] = {
            'name': subscription, 'topic': topic,
            'ack_deadline_seconds': options.ack_deadline_seconds,
            'enable_exactly_once_delivery': options.enable_exactly_once_delivery,
        }
        if options.expiration_seconds:
            request['expiration_policy'] = {'ttl': f'{options.expiration_seconds}s'}
        with errors('create subscription', subscription):
            try:
                self.subscriber.create_subscription(request=request)
            except gexc.AlreadyExists:
                pass

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        topic = self._topic(queue)
        self._create_topic(topic)
        self._create_subscription(self._subscription(queue), topic)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        with errors('get subscription', queue):
            try:
                self.subscriber.get_subscription(
                    request={'subscription': self._subscription(queue)})
            except gexc.NotFound:
                return False
        return True

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        fanout = self.connection._fanout_subscriptions.pop(queue, {})
        for subscription in [self._subscription(queue), *fanout.values()]:
            with errors('delete subscription', queue):
                try:
                    self.subscriber.delete_subscription(
                        request={'subscription': subscription})
                except gexc.NotFound:
                    pass
        with errors('delete topic', queue):
            try:
                self.publisher.delete_topic(request={'topic': self._topic(queue)})
            except gexc.NotFound:
                pass

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        if self.typeof(exchange).type != 'fanout':
            return   # direct and topic exchanges route in the client
        topic = self._topic(exchange)
        self._create_topic(topic)
        subscription = self._fanout_subscription(queue, exchange)
        self._create_subscription(subscription, topic)
        self.connection._fanout_subscriptions.setdefault(queue, {})[exchange] = subscription

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        subscription = self.connection._fanout_subscriptions.get(queue, {}).pop(exchange, None)
        if subscription is None:
            return
        with errors('delete subscription', queue):
            try:
                self.subscriber.delete_subscription(request={'subscription': subscription})
            except gexc.NotFound:
                pass

    def exchange_delete(self, exchange: str, if_unused: bool = False,
                        nowait: bool = False) -> None:
        fanout = exchange in self.state.exchanges and self.typeof(exchange).type == 'fanout'
        super().exchange_delete(exchange, if_unused=if_unused, nowait=nowait)
        if fanout:
            with errors('delete topic', exchange):
                try:
                    self.publisher.delete_topic(request={'topic': self._topic(exchange)})
                except gexc.NotFound:
                    pass

    # -- messages ----------------------------------------------------------

    def _publish(self, topic: str, message: dict[str, Any], name: str) -> None:
        data = dumps(message).encode()
        if len(data) > MAX_MESSAGE_SIZE:
            raise publisher_exceptions.MessageTooLargeError(
                f'{len(data)} bytes is over the {MAX_MESSAGE_SIZE} byte limit of Pub/Sub')
        routing_key = (message.get('properties', {}).get('delivery_info', {})
                       .get('routing_key') or '')
        with errors('publish', name):
            self.publisher.publish(
                topic, data, routing_key=str(routing_key),
                retry=Retry(deadline=self.options.retry_timeout_seconds),
            ).result(timeout=self.options.retry_timeout_seconds)

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        with errors('publish', queue):
            self._publish(self._topic(queue), message, queue)

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str,
                    **kwargs: Any) -> None:
        # To the exchange's topic: every bound queue has a subscription there, in
        # whichever process it was bound.
        with errors('publish', exchange):
            self._publish(self._topic(exchange), message, exchange)

    def _pull(self, subscription: str, max_messages: int) -> list[Any]:
        with errors('pull', subscription):
            response = self.subscriber.pull(
                request={'subscription': subscription, 'max_messages': max_messages,
                         'return_immediately': True},
                retry=Retry(deadline=self.options.retry_timeout_seconds),
                timeout=self.options.wait_time_seconds or None)
        return list(response.received_messages)

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        for subscription in self._subscriptions_of(queue):
            received = self._pull(subscription, 1)
            if received:
                envelope = self._hold(subscription, received[0])
                if queue in self._noack_queues:
                    self._settle(envelope.get('properties', {}).get('delivery_tag'))
                return envelope
        raise Empty()

    def _hold(self, subscription: str, received: Any) -> dict[str, Any]:
        envelope = self._envelope(received.message.data)
        tag = uuid.uuid4().hex   # one per read: two reads of a message never share a tag
        props = envelope.get('properties')
        if isinstance(props, dict):
            props['delivery_tag'] = tag
            if self.connection._was_given_back(received.message.message_id):
                envelope['redelivered'] = True
                props.setdefault('delivery_info', {})['redelivered'] = True
        with self._held_lock:
            self._held[tag] = (subscription, received.ack_id, received.message.message_id)
        return envelope

    @staticmethod
    def _envelope(data: bytes) -> dict[str, Any]:
        try:
            return as_envelope(loads(data))
        except ValueError as exc:   # not JSON: on_decode_error gets it
            return corrupt_envelope(data, f'message is not JSON: {exc}')

    def _settle(self, delivery_tag: Any, action: str = 'complete',
                give_back: bool = False) -> None:
        """Acknowledge the message in Pub/Sub, or give it back (deadline 0)."""
        with self._held_lock:
            held = self._held.pop(delivery_tag, None)
        if held is None:
            return
        subscription, ack_id, _ = held
        with errors('acknowledge' if not give_back else 'give back', subscription):
            if give_back:
                self.subscriber.modify_ack_deadline(request={
                    'subscription': subscription, 'ack_ids': [ack_id],
                    'ack_deadline_seconds': 0})
            else:
                self.subscriber.acknowledge(
                    request={'subscription': subscription, 'ack_ids': [ack_id]})

    def held_ack_ids(self) -> dict[str, list[str]]:
        """Subscription path -> ack ids this channel holds (for the deadline extender)."""
        out: dict[str, list[str]] = {}
        with self._held_lock:
            for subscription, ack_id, _ in self._held.values():
                out.setdefault(subscription, []).append(ack_id)
        return out

    def _restore(self, message: Any) -> None:
        # Pub/Sub still has it: a deadline of 0 hands it out again, in its place.
        with self._held_lock:
            held = self._held.get(message.delivery_tag)
        if held is None:   # not read by this channel (a serialized message): publish it
            super()._restore(message)
            return
        self.connection._give_back_ids.add(held[2])   # marked redelivered when read again
        self._settle(message.delivery_tag, give_back=True)

    def _size(self, queue: str) -> int:
        if monitoring_v3 is not None and not os.environ.get('PUBSUB_EMULATOR_HOST'):
            return self._size_by_monitoring(queue)
        total = 0
        for subscription in self._subscriptions_of(queue):
            ack_ids: list[str] = []
            while len(ack_ids) < MAX_COUNTED:
                received = self._pull(subscription, min(self.options.bulk_max_messages,
                                                        MAX_COUNTED - len(ack_ids)))
                if not received:
                    break
                ack_ids.extend(r.ack_id for r in received)
            self._give_back(subscription, ack_ids)
            total += len(ack_ids)
        return total

    def _give_back(self, subscription: str, ack_ids: list[str]) -> None:
        batch = self.options.ack_modify_batch_size
        for start in range(0, len(ack_ids), batch):
            with errors('give back', subscription):
                self.subscriber.modify_ack_deadline(request={
                    'subscription': subscription, 'ack_ids': ack_ids[start:start + batch],
                    'ack_deadline_seconds': 0})

    def _size_by_monitoring(self, queue: str) -> int:  # pragma: no cover - real GCP only
        from google.cloud.monitoring_v3 import query
        result = query.Query(
            self.monitor, self.project_id,
            'pubsub.googleapis.com/subscription/num_undelivered_messages',
            end_time=datetime.datetime.now(), minutes=1,
        ).select_resources(subscription_id=self.entity_name(queue))
        try:
            return sum(series.points[0].value.int64_value for series in result)
        except gexc.PermissionDenied:   # the monitoring.viewer role is missing
            return -1

    def _purge(self, queue: str) -> int:
        purged = 0
        for subscription in self._subscriptions_of(queue):
            while True:
                received = self._pull(subscription, self.options.bulk_max_messages)
                if not received:
                    break
                with errors('purge', queue):
                    self.subscriber.acknowledge(request={
                        'subscription': subscription,
                        'ack_ids': [r.ack_id for r in received]})
                purged += len(received)
        return purged

    def after_reply_message_received(self, queue: str) -> None:
        """Reply queues are used once: delete them when the reply came."""
        self._delete(queue)

    # -- clients and options -----------------------------------------------

    @cached_property
    def subscriber(self) -> Any:
        return self.connection.subscriber

    @cached_property
    def publisher(self) -> Any:
        return self.connection.publisher

    @cached_property
    def monitor(self) -> Any:  # pragma: no cover - real GCP only
        return monitoring_v3.MetricServiceClient()

    @property
    def conninfo(self) -> Any:
        return self.connection.client

    @property
    def wait_time_seconds(self) -> int:
        return self.options.wait_time_seconds

    @property
    def retry_timeout_seconds(self) -> int:
        return self.options.retry_timeout_seconds

    @property
    def ack_deadline_seconds(self) -> int:
        return self.options.ack_deadline_seconds

    @property
    def queue_name_prefix(self) -> str:
        return self.options.queue_name_prefix

    @property
    def expiration_seconds(self) -> int:
        return self.options.expiration_seconds

    @property
    def bulk_max_messages(self) -> int:
        return self.options.bulk_max_messages

    @property
    def enable_exactly_once_delivery(self) -> bool:
        return self.options.enable_exactly_once_delivery

    @property
    def ack_modify_batch_size(self) -> int:
        return self.options.ack_modify_batch_size

    def close(self) -> None:
        connection = self.connection
        super().close()   # gives unacknowledged messages back first
        if connection is not None:
            connection._unregister_channel(self)


_PubSubChannel = Channel   # for annotations inside Transport, where Channel is an attribute


class Transport(virtual.Transport):
    """Pub/Sub transport."""

    Channel = Channel
    options: PubSubOptions

    can_parse_url = True
    polling_interval: float = 0.1
    connection_errors = errors.connection_errors
    channel_errors = errors.channel_errors
    driver_type = 'gcpubsub'
    driver_name = 'pubsub_v1'
    implements = virtual.Transport.implements.extend(
        exchange_type=frozenset(['direct', 'topic', 'fanout']))

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        #: queue -> {fanout exchange: subscription path} bound on this connection.
        self._fanout_subscriptions: dict[str, dict[str, str]] = {}
        #: ids of messages given back by this connection (redelivered when read again).
        self._give_back_ids: set[str] = set()
        self._live: list[_PubSubChannel] = []
        self._live_lock = threading.Lock()
        self._stop = threading.Event()
        self._extender: threading.Thread | None = None

    # -- the ack deadline extender -------------------------------------------

    def _register_channel(self, channel: _PubSubChannel) -> None:
        with self._live_lock:
            self._live.append(channel)
            if self._extender is None or not self._extender.is_alive():
                self._stop.clear()
                self._extender = threading.Thread(
                    target=self._extend_deadlines, name='kombu-gcpubsub-deadlines',
                    daemon=True)
                self._extender.start()

    def _unregister_channel(self, channel: _PubSubChannel) -> None:
        with self._live_lock:
            if channel in self._live:
                self._live.remove(channel)

    def _extend_deadlines(self) -> None:
        deadline = self.options.ack_deadline_seconds
        interval = min(max(deadline / 4, 1.0), 5.0)
        while not self._stop.wait(interval):
            with self._live_lock:
                channels = list(self._live)
            for channel in channels:
                for subscription, ack_ids in channel.held_ack_ids().items():
                    batch = self.options.ack_modify_batch_size
                    for start in range(0, len(ack_ids), batch):
                        try:
                            self.subscriber.modify_ack_deadline(request={
                                'subscription': subscription,
                                'ack_ids': ack_ids[start:start + batch],
                                'ack_deadline_seconds': deadline})
                        except Exception as exc:   # acked meanwhile, or the service away
                            logger.debug('extending ack deadlines on %s: %r',
                                         subscription, exc)

    def _was_given_back(self, message_id: str) -> bool:
        try:
            self._give_back_ids.remove(message_id)
        except KeyError:
            return False
        return True

    # -- clients ---------------------------------------------------------------

    @cached_property
    def subscriber(self) -> Any:
        with errors('subscriber client'):
            return SubscriberClient()

    @cached_property
    def publisher(self) -> Any:
        with errors('publisher client'):
            return PublisherClient()

    def driver_version(self) -> str:
        from importlib import metadata
        try:
            return metadata.version('google-cloud-pubsub')
        except metadata.PackageNotFoundError:  # pragma: no cover
            return 'N/A'

    @staticmethod
    def parse_uri(uri: str) -> str:
        """The project id of ``gcpubsub://projects/<project-id>`` (scheme optional)."""
        rest = uri.split('://', 1)[1] if '://' in uri else uri
        parts = [p for p in rest.split('/') if p]
        if len(parts) != 2 or parts[0] != 'projects':
            raise ValueError(f'need a URL like gcpubsub://projects/<project-id>, not {uri!r}')
        return parts[1]

    @classmethod
    def as_uri(cls, uri: str, include_password: bool = False, mask: str = '**') -> str:
        return uri or 'gcpubsub://'

    def close_connection(self, connection: Any) -> None:
        super().close_connection(connection)
        self._stop.set()
        extender, self._extender = self._extender, None
        if extender is not None and extender is not threading.current_thread():
            extender.join(5)
