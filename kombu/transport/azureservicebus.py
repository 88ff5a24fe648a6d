"""Azure Service Bus transport (virtual), on the ``azure-servicebus`` SDK.

Tested against an in-process fake of the SDK's client surface
(``t/fakes/servicebus.py``), **not against a live Service Bus namespace**: no
Service Bus server or emulator can run on the machines this project is tested
on.  What is listed below is what the conformance suite proves on that fake.

Features
========
* Type: Virtual
* Supports Direct: Yes
* Supports Topic: Yes
* Supports Headers: Yes
* Supports Fanout: Yes (bindings are kept in the namespace, see below)
* Supports Priority: Yes (queues declared with ``x-max-priority``: one Service Bus
  queue per priority step)
* Supports TTL: Yes (per message and per queue; Service Bus also drops expired
  messages itself through ``time_to_live`` when the queue has no dead-letter exchange)

Connection String
=================
::

    azureservicebus://<SAS policy name>:<SAS key>@<namespace>
    azureservicebus://DefaultAzureCredential@<namespace>
    azureservicebus://ManagedIdentityCredential@<namespace>

The credential is everything before the last ``@`` and is not URL-decoded (a SAS
key may contain ``/``).  A namespace not ending in ``.net`` gets
``.servicebus.windows.net`` appended.  The two credential names (any case) use
those classes of ``azure-identity``.  ``as_uri`` masks the SAS key.

The SAS policy needs the Manage, Send and Listen claims: the transport creates
and deletes queues, topics and subscriptions.

Delivery
========
Messages are received in peek-lock mode: a delivered message stays locked in
Service Bus until the consumer acknowledges it (the lock is *completed*).  A
requeued message, and every unacknowledged one when its channel closes, is
*abandoned*: Service Bus hands it out again at once, marked redelivered.  A
message whose lock expires (``peek_lock_seconds``, at most 300) before it is
acknowledged is delivered again: delivery is at least once.  With
``use_lock_renewal`` an :class:`~azure.servicebus.AutoLockRenewer` keeps the
locks for up to ``max_lock_renewal_duration`` seconds.  ``no_ack`` consumers
receive in receive-and-delete mode.

A consumer looks at each of its queues briefly, and when none has a message
long-polls the next one in turn for up to ``wait_time_seconds`` (never longer than
the ``drain_events`` timeout).  ``basic_get`` (``Queue.get``) waits up to
``wait_time_seconds`` for a message, as in Kombu.

Shared state
============
Everything a second process needs lives in the namespace: a queue's
``x-`` arguments (TTL, dead-lettering, priority, max length) in its
``user_metadata``; an exchange as a topic named ``kombu.x.<exchange>`` (its type
in ``user_metadata``) with one subscription per binding (routing key, pattern
and queue in the subscription's ``user_metadata``).  Publishers route on that
table and re-read it at most every ``routing_refresh_seconds``; bindings made
by the same connection apply at once.

Queue names
===========
Punctuation other than ``_``, ``.`` and ``-`` becomes ``_`` (as in Kombu);
Service Bus also requires names of at most 260 characters starting and ending
with a letter or digit, and a name breaking those rules raises
:class:`~kombu.exceptions.ChannelError` before any call is made.

Transport Options
=================
* ``queue_name_prefix`` - prepended to every queue name (default ``''``).
* ``wait_time_seconds`` - longest long poll of a receive (default ``5``).
* ``peek_lock_seconds`` - lock duration of the queues created (default ``60``,
  at most ``300``; Service Bus needs at least 5).
* ``uamqp_keep_alive_interval`` - keep-alive of senders and receivers (default ``30``;
  ``0`` starts no keep-alive thread).
* ``retry_total``, ``retry_backoff_factor``, ``retry_backoff_max`` - the SDK's retry
  policy (defaults ``3``, ``0.8``, ``120``).
* ``use_lock_renewal`` (default ``False``), ``max_lock_renewal_duration``
  (default ``3600.0``).
* ``priority_steps`` - priority levels with a queue of their own (default
  ``[0, 3, 6, 9]``).
* ``routing_refresh_seconds`` - longest time a publisher uses a cached binding
  table or queue arguments (default ``1.0``).
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import logging
import math
import re
import string
from queue import Empty
from time import monotonic
from typing import Any, Callable, ClassVar, Sequence

from kombu.exceptions import ChannelError
from kombu.utils.encoding import bytes_to_str, safe_str
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

from . import virtual
from .virtual import ttl
from .virtual.errors import ErrorTranslator
from .virtual.message import as_envelope, corrupt_envelope
from .virtual.options import TransportOptions
from .virtual.settle import SettleOnAckMixin
from .virtual.shared_exchanges import SharedExchangesMixin
from .virtual.state import QueuePolicy

try:
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceExistsError,
        ResourceNotFoundError,
    )
    from azure.servicebus import (
        AutoLockRenewer,
        ServiceBusClient,
        ServiceBusMessage,
        ServiceBusReceiveMode,
    )
    from azure.servicebus.exceptions import (
        MessageAlreadySettled,
        MessageLockLostError,
        MessageSizeExceededError,
        MessagingEntityNotFoundError,
        OperationTimeoutError,
        ServiceBusAuthenticationError,
        ServiceBusAuthorizationError,
        ServiceBusCommunicationError,
        ServiceBusConnectionError,
        ServiceBusError,
        ServiceBusQuotaExceededError,
        ServiceBusServerBusyError,
    )
    from azure.servicebus.management import ServiceBusAdministrationClient
except ImportError:  # pragma: no cover - the SDK is optional
    ServiceBusClient = ServiceBusAdministrationClient = None  # type: ignore[misc,assignment]
    ServiceBusMessage = AutoLockRenewer = ServiceBusReceiveMode = None  # type: ignore[misc,assignment]

    class _Missing(Exception):
        """Stands in for the SDK's exception classes when it is not installed."""

    ClientAuthenticationError = HttpResponseError = _Missing  # type: ignore[misc,assignment]
    ResourceExistsError = ResourceNotFoundError = _Missing  # type: ignore[misc,assignment]
    MessageAlreadySettled = MessageLockLostError = _Missing  # type: ignore[misc,assignment]
    MessageSizeExceededError = MessagingEntityNotFoundError = _Missing  # type: ignore[misc,assignment]
    OperationTimeoutError = ServiceBusAuthenticationError = _Missing  # type: ignore[misc,assignment]
    ServiceBusAuthorizationError = ServiceBusCommunicationError = _Missing  # type: ignore[misc,assignment]
    ServiceBusConnectionError = ServiceBusError = _Missing  # type: ignore[misc,assignment]
    ServiceBusQuotaExceededError = ServiceBusServerBusyError = _Missing  # type: ignore[misc,assignment]

try:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
except ImportError:  # pragma: no cover
    DefaultAzureCredential = ManagedIdentityCredential = None  # type: ignore[misc,assignment]

__all__ = ('CHARS_REPLACE_TABLE', 'PUNCTUATIONS_TO_REPLACE', 'SendReceive', 'Channel',
           'Transport', 'AzureServiceBusOptions')

logger = logging.getLogger(__name__)

#: punctuation Service Bus names cannot hold (all but ``_``, ``.``, ``-``) becomes ``_``.
PUNCTUATIONS_TO_REPLACE = set(string.punctuation) - {'_', '.', '-'}
CHARS_REPLACE_TABLE = {ord(c): ord('_') for c in PUNCTUATIONS_TO_REPLACE}

_VALID_NAME = re.compile(r'^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,258}[A-Za-z0-9])?$')

#: wait of a receive that only looks whether a message is there, in a consumer's sweep
#: of its queues before it long-polls one of them (the SDK needs > 0).
_SHORT_WAIT = 0.05

#: prefix of the topics standing for exchanges (topics share the queues' name space).
_EXCHANGE_TOPIC = 'kombu.x.'

_SCHEME = 'azureservicebus://'
_URI_HELP = ('Need a URI like azureservicebus://{SAS policy name}:{SAS key}@{namespace}, '
             'azureservicebus://DefaultAzureCredential@{namespace} or '
             'azureservicebus://ManagedIdentityCredential@{namespace}')

errors = ErrorTranslator(
    'azureservicebus',
    connection=(ServiceBusConnectionError, ServiceBusCommunicationError,
                OperationTimeoutError, ServiceBusServerBusyError),
    auth=(ServiceBusAuthenticationError, ServiceBusAuthorizationError,
          ClientAuthenticationError),
    not_found=(MessagingEntityNotFoundError, ResourceNotFoundError),
    limit=(MessageSizeExceededError, ServiceBusQuotaExceededError),
    channel=(ServiceBusError, HttpResponseError),
)


@dataclasses.dataclass(frozen=True)
class AzureServiceBusOptions(TransportOptions):
    """``transport_options`` of the Azure Service Bus transport (Kombu's names and defaults).

    The SAS key is part of the URL (masked by ``as_uri``), not an option.
    """

    transport_name: ClassVar[str] = 'azureservicebus'

    queue_name_prefix: str = ''
    wait_time_seconds: float = 5
    peek_lock_seconds: int = 60
    uamqp_keep_alive_interval: int = 30
    retry_total: int = 3
    retry_backoff_factor: float = 0.8
    retry_backoff_max: float = 120
    use_lock_renewal: bool = False
    max_lock_renewal_duration: float = 3600.0
    priority_steps: Sequence[int] = (0, 3, 6, 9)
    routing_refresh_seconds: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require(isinstance(self.queue_name_prefix, str),
                     f'queue_name_prefix must be a string, not {self.queue_name_prefix!r}')
        self.require(self.wait_time_seconds >= 0, 'wait_time_seconds must be >= 0')
        self.require(self.peek_lock_seconds > 0, 'peek_lock_seconds must be > 0')
        self.require(self.retry_total >= 0, 'retry_total must be >= 0')
        self.require(self.max_lock_renewal_duration > 0,
                     'max_lock_renewal_duration must be > 0')
        self.require(self.routing_refresh_seconds >= 0, 'routing_refresh_seconds must be >= 0')
        steps = list(self.priority_steps)
        self.require(bool(steps) and all(isinstance(s, int) and 0 <= s <= 255 for s in steps),
                     f'priority_steps must be integers 0..255, not {self.priority_steps!r}')
        object.__setattr__(self, 'priority_steps', tuple(sorted(set(steps))))


class SendReceive:
    """The sender and receiver of one Service Bus queue (either may be None)."""

    def __init__(self, receiver: Any = None, sender: Any = None) -> None:
        self.receiver = receiver
        self.sender = sender

    def close(self) -> None:
        if self.receiver is not None:
            self.receiver.close()
            self.receiver = None
        if self.sender is not None:
            self.sender.close()
            self.sender = None


def _step(priority: int, steps: Sequence[int]) -> int:
    """The largest step not above ``priority`` (steps are sorted)."""
    chosen = steps[0]
    for step in steps:
        if step <= priority:
            chosen = step
    return chosen


class Channel(SettleOnAckMixin, SharedExchangesMixin, virtual.Channel):
    """Azure Service Bus channel."""

    Options = AzureServiceBusOptions
    options: AzureServiceBusOptions

    supports_fanout = True
    #: routes are memoized and dropped when the shared table is re-read.
    cache_routes = True

    # Kombu's class-level defaults, read from the options (one place for each value).
    _defaults = AzureServiceBusOptions
    default_wait_time_seconds = _defaults.wait_time_seconds
    default_peek_lock_seconds = _defaults.peek_lock_seconds
    default_uamqp_keep_alive_interval = _defaults.uamqp_keep_alive_interval
    default_retry_total = _defaults.retry_total
    default_retry_backoff_factor = _defaults.retry_backoff_factor
    default_retry_backoff_max = _defaults.retry_backoff_max
    default_use_lock_renewal = _defaults.use_lock_renewal
    default_max_lock_renewal_duration = _defaults.max_lock_renewal_duration

    domain_format: str = 'kombu%(vhost)s'

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if ServiceBusClient is None:
            raise ImportError('the Azure Service Bus transport needs azure-servicebus '
                              '(pip install "kombu[azureservicebus]")')
        super().__init__(*args, **kwargs)
        self._namespace, self._credential = Transport.parse_uri(self.conninfo.hostname)
        self._connection_string: str | None = None
        if isinstance(self._credential, str):
            policy, _, key = self._credential.partition(':')
            self._connection_string = (f'Endpoint=sb://{self._namespace}/;'
                                       f'SharedAccessKeyName={policy};SharedAccessKey={key}')
        self._queue_cache: dict[str, SendReceive] = {}
        self._noack_queues: set[str] = set()
        #: delivery tag -> (Service Bus queue, received message) of locked messages.
        self._locked: dict[Any, tuple[str, Any]] = {}
        self._renewer: Any = None
        self._poll_wait: float | None = None
        self._long_poll_index = 0

    def __repr__(self) -> str:  # never the connection string
        return f'<{type(self).__name__} {self._namespace} id={self.channel_id}>'

    # -- names ----------------------------------------------------------------

    def entity_name(self, name: str, table: dict[int, int] | None = None) -> str:
        """The Service Bus queue name for a Kombu queue name (raises for invalid names)."""
        entity = str(safe_str(name)).translate(table or CHARS_REPLACE_TABLE)
        if not _VALID_NAME.match(entity):
            raise ChannelError(
                f'azureservicebus: {name!r} gives the queue name {entity!r}, which Service '
                'Bus refuses (1-260 letters, digits, "_", ".", "-", starting and ending '
                'with a letter or digit)')
        return entity

    def _queue_entity(self, queue: str) -> str:
        return self.entity_name(self.queue_name_prefix + queue)

    def _topic_entity(self, exchange: str) -> str:
        return self.entity_name(f'{self.queue_name_prefix}{_EXCHANGE_TOPIC}{exchange}')

    def _entities(self, queue: str, policy: QueuePolicy | None = None) -> list[str]:
        """The Service Bus queues of ``queue``, highest priority first."""
        name = self._queue_entity(queue)
        if policy is None or not policy.max_priority:
            return [name]
        return [self._step_entity(name, step) for step in reversed(self.options.priority_steps)]

    @staticmethod
    def _step_entity(name: str, step: int) -> str:
        return name if not step else f'{name}.kombu-p{step}'

    # -- shared queue arguments -----------------------------------------------

    def _queue_policy(self, queue: str) -> QueuePolicy | None:
        policy = self.state.policies.get(queue)
        if policy is not None:
            return policy
        return self._metadata(queue)

    def _metadata(self, queue: str) -> QueuePolicy | None:
        cache = self.connection._policy_cache
        now = monotonic()
        hit = cache.get(queue)
        if hit is not None and now - hit[0] < self.options.routing_refresh_seconds:
            return hit[1]
        policy = None
        try:
            with errors('get queue', queue):
                props = self.queue_mgmt_service.get_queue(self._queue_entity(queue))
        except ChannelError as exc:
            if exc.reply_code != 404:
                raise
        else:
            if props.user_metadata:
                try:
                    policy = QueuePolicy.from_arguments(loads(props.user_metadata))
                except ValueError:  # metadata somebody else wrote
                    policy = None
        cache[queue] = (now, policy)
        return policy

    # -- queues ---------------------------------------------------------------

    def _create_queue(self, entity: str, metadata: str | None) -> None:
        lock = datetime.timedelta(seconds=min(self.peek_lock_seconds, 300))
        with errors('create queue', entity):
            try:
                self.queue_mgmt_service.create_queue(
                    queue_name=entity, lock_duration=lock, user_metadata=metadata)
            except ResourceExistsError:
                pass
        self._queue_cache.setdefault(entity, SendReceive())

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        arguments = kwargs.get('arguments')
        metadata = dumps(dict(arguments)) if arguments else None
        policy = QueuePolicy.from_arguments(arguments) or self._queue_policy(queue)
        for entity in self._entities(queue, policy):
            if entity not in self._queue_cache:
                self._create_queue(entity, metadata)
        self.connection._policy_cache.pop(queue, None)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        try:
            with errors('get queue', queue):
                self.queue_mgmt_service.get_queue(self._queue_entity(queue))
        except ChannelError as exc:
            if exc.reply_code == 404:
                return False
            raise
        return True

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        if len(args) >= 3:  # (exchange, routing_key, pattern[, queue]): one binding
            self._queue_unbind(args[0], args[1], args[2], queue)
        for entity in self._entities(queue, self._queue_policy(queue)):
            try:
                with errors('delete queue', entity):
                    self.queue_mgmt_service.delete_queue(entity)
            except ChannelError as exc:
                if exc.reply_code != 404:
                    raise
            cached = self._queue_cache.pop(entity, None)
            if cached is not None:
                cached.close()
        self.connection._policy_cache.pop(queue, None)

    def _size(self, queue: str) -> int:
        total = 0
        for entity in self._entities(queue, self._queue_policy(queue)):
            with errors('size', entity):
                total += self.queue_mgmt_service.get_queue_runtime_properties(
                    entity).active_message_count
        return total

    def _purge(self, queue: str) -> int:
        count = 0
        for entity in self._entities(queue, self._queue_policy(queue)):
            receiver = self._receiver(entity, ServiceBusReceiveMode.RECEIVE_AND_DELETE,
                                      cache_key=f'purge {entity}')
            while True:
                with errors('purge', entity):
                    got = receiver.receive_messages(max_message_count=100,
                                                    max_wait_time=self._purge_wait)
                count += len(got)
                if not got:
                    break
        return count

    @property
    def _purge_wait(self) -> float:
        # Long enough for a live link to deliver what is there, short enough to end.
        return max(_SHORT_WAIT, min(self.wait_time_seconds, 1.0))

    # -- senders and receivers ------------------------------------------------

    def _sender(self, entity: str) -> Any:
        cached = self._queue_cache.setdefault(entity, SendReceive())
        if cached.sender is None:
            cached.sender = self.queue_service.get_queue_sender(
                entity, keep_alive=self.uamqp_keep_alive_interval)
        return cached.sender

    def _receiver(self, entity: str, mode: Any, cache_key: str | None = None) -> Any:
        key = cache_key or (entity if mode == ServiceBusReceiveMode.PEEK_LOCK
                            else f'no-ack {entity}')
        cached = self._queue_cache.setdefault(key, SendReceive())
        if cached.receiver is None:
            renewer = None
            if self.use_lock_renewal and mode == ServiceBusReceiveMode.PEEK_LOCK:
                if self._renewer is None:
                    self._renewer = AutoLockRenewer(
                        max_lock_renewal_duration=self.max_lock_renewal_duration)
                renewer = self._renewer
            cached.receiver = self.queue_service.get_queue_receiver(
                queue_name=entity, receive_mode=mode,
                keep_alive=self.uamqp_keep_alive_interval, auto_lock_renewer=renewer)
        return cached.receiver

    # -- messages -------------------------------------------------------------

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        policy = self._queue_policy(queue)
        entity = self._queue_entity(queue)
        if policy is not None and policy.max_priority:
            priority = self._queue_priority(policy, message)
            entity = self._step_entity(entity, _step(priority, self.options.priority_steps))
        live = None
        deadline = message['properties'].get(ttl.EXPIRES_AT)
        if deadline is not None and (policy is None or policy.dead_letter_exchange is None):
            # Service Bus may drop it itself; with a dead-letter exchange the base
            # must see it expire, to route it there.  Whole seconds: the SDK drops a
            # shorter time_to_live (the base still expires the message on time).
            live = datetime.timedelta(seconds=max(math.ceil(deadline - ttl.clock()), 1))
        try:
            with errors('send', queue):
                self._sender(entity).send_messages(ServiceBusMessage(dumps(message),
                                                                     time_to_live=live))
        except ChannelError as exc:
            if exc.reply_code != 404:
                raise
            # As AMQP does for a queue that is gone (a binding another process left).
            logger.warning('azureservicebus: queue %r does not exist: message dropped', queue)

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        noack = queue in self._noack_queues
        mode = (ServiceBusReceiveMode.RECEIVE_AND_DELETE if noack
                else ServiceBusReceiveMode.PEEK_LOCK)
        entities = self._entities(queue, self._queue_policy(queue))
        if timeout is not None:
            wait = timeout
        elif self._poll_wait is not None:
            wait = self._poll_wait
        else:   # basic_get: as Kombu, up to wait_time_seconds (a link may be slow to attach)
            wait = self.wait_time_seconds
        for n, entity in enumerate(entities):
            # Only the last (lowest) priority level waits: the others are checked.
            this_wait = wait if (wait and n == len(entities) - 1) else _SHORT_WAIT
            receiver = self._receiver(entity, mode)
            with errors('receive', queue):
                got = receiver.receive_messages(max_message_count=1,
                                                max_wait_time=this_wait)
            if got:
                return self._unpack(got[0], entity, locked=not noack)
        raise Empty()

    def _unpack(self, received: Any, entity: str, locked: bool) -> dict[str, Any]:
        body = received.body
        if not isinstance(body, (bytes, str)):
            body = b''.join(body)
        text = bytes_to_str(body)
        try:
            message = as_envelope(loads(text))
        except ValueError as exc:   # not JSON: on_decode_error gets it
            message = corrupt_envelope(text, f'message is not JSON: {exc}')
        props = message['properties']
        # A tag of its own: a message redelivered after its lock expired must not
        # settle the lock of an earlier delivery.
        props['delivery_tag'] = tag = self._next_delivery_tag()
        if (received.delivery_count or 0) > 1:
            message['redelivered'] = True
            props.setdefault('delivery_info', {})['redelivered'] = True
        if locked:
            self._locked[tag] = (entity, received)
        return message

    def _settle(self, tag: Any, action: str = 'complete') -> None:
        """Complete or abandon the lock of the message delivered as ``tag``."""
        entry = self._locked.pop(tag, None)
        if entry is None:
            return
        entity, received = entry
        receiver = self._receiver(entity, ServiceBusReceiveMode.PEEK_LOCK)
        settle: Callable[[Any], Any] = (receiver.complete_message if action == 'complete'
                                        else receiver.abandon_message)
        try:
            with errors(action, entity):
                settle(received)
        except ChannelError as exc:
            cause = exc.__cause__
            if isinstance(cause, MessageAlreadySettled):
                return
            if isinstance(cause, MessageLockLostError):
                logger.warning('azureservicebus: the lock of a message of %r expired before '
                               'it was %sd: Service Bus delivers it again', entity, action)
                return
            raise

    def _poll(self, cycle: Any, callback: Callable[..., Any],
              timeout: float | None = None) -> Any:
        # A quick look at every consumed queue first (what it misses the long poll gets).
        self._poll_wait = _SHORT_WAIT
        try:
            return cycle.get(callback)
        except Empty:
            pass
        finally:
            self._poll_wait = None
        # Nothing anywhere: long-poll one queue (in turn) instead of sleeping.
        queues = self._active_queues
        wait = self.wait_time_seconds if timeout is None else min(timeout,
                                                                  self.wait_time_seconds)
        if not queues or wait <= 0:
            raise Empty()
        self._long_poll_index = (self._long_poll_index + 1) % len(queues)
        self._poll_wait = wait
        try:
            return self._get_and_deliver(queues[self._long_poll_index], callback)
        finally:
            self._poll_wait = None

    # -- acks -----------------------------------------------------------------

    def _restore(self, message: Any) -> None:
        tag = message.delivery_tag
        if tag in self._locked:
            self._settle(tag, 'abandon')   # Service Bus hands it out again at once
        else:
            super()._restore(message)

    def close(self) -> None:
        if self.closed:
            return
        super().close()   # abandons what is unacked, through the receivers
        if self._renewer is not None:
            self._renewer.close()
            self._renewer = None
        for cached in self._queue_cache.values():
            cached.close()
        self._queue_cache.clear()

    # -- exchanges: topics and subscriptions in the namespace -----------------

    def _store_exchange(self, exchange: str, type: str) -> None:
        self._ensure_topic(exchange, type)

    def _ensure_topic(self, exchange: str, type: str) -> str:
        topic = self._topic_entity(exchange)
        if topic in self.connection._topics:
            return topic
        with errors('create exchange', exchange):
            try:
                self.queue_mgmt_service.create_topic(
                    topic, user_metadata=dumps({'type': type}))
            except ResourceExistsError:
                pass
        self.connection._topics.add(topic)
        return topic

    def _stored_exchange_type(self, exchange: str) -> str | None:
        try:
            with errors('get exchange', exchange):
                props = self.queue_mgmt_service.get_topic(self._topic_entity(exchange))
        except ChannelError as exc:
            if exc.reply_code == 404:
                return None
            raise
        try:
            return str(loads(props.user_metadata or '{}').get('type') or 'direct')
        except ValueError:
            return 'direct'

    def exchange_delete(self, exchange: str, if_unused: bool = False,
                        nowait: bool = False) -> None:
        if if_unused:
            try:
                if self.get_table(exchange):
                    return
            except KeyError:
                pass
        super().exchange_delete(exchange, if_unused, nowait)
        topic = self._topic_entity(exchange)
        self.connection._topics.discard(topic)
        self.connection._tables.pop(exchange, None)
        try:
            with errors('delete exchange', exchange):
                self.queue_mgmt_service.delete_topic(topic)
        except ChannelError as exc:
            if exc.reply_code != 404:
                raise

    @staticmethod
    def _subscription_name(routing_key: str, pattern: Any, queue: str) -> str:
        # Subscription names are limited to 50 characters: a digest of the binding.
        digest = hashlib.sha1(dumps([routing_key, pattern, queue]).encode()).hexdigest()
        return f'b-{digest[:40]}'

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        decl = self.state.exchanges.get(exchange)
        topic = self._ensure_topic(exchange, decl['type'] if decl else 'direct')
        entry = [routing_key or '', pattern or '', queue or '']
        with errors('bind', queue):
            try:
                self.queue_mgmt_service.create_subscription(
                    topic, self._subscription_name(*entry), user_metadata=dumps(entry))
            except ResourceExistsError:
                pass
        self.connection._tables.pop(exchange, None)

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        entry = [routing_key or '', pattern or '', queue or '']
        try:
            with errors('unbind', queue):
                self.queue_mgmt_service.delete_subscription(
                    self._topic_entity(exchange), self._subscription_name(*entry))
        except ChannelError as exc:
            if exc.reply_code != 404:
                raise
        self.connection._tables.pop(exchange, None)
        self.state.invalidate_routes(exchange)

    def get_table(self, exchange: str) -> list[Any]:
        tables = self.connection._tables
        hit = tables.get(exchange)
        now = monotonic()
        if hit is not None and now - hit[0] < self.options.routing_refresh_seconds:
            return hit[1]
        try:
            with errors('read bindings', exchange):
                subscriptions = self.queue_mgmt_service.list_subscriptions(
                    self._topic_entity(exchange))
        except ChannelError as exc:
            if exc.reply_code == 404:
                raise KeyError(exchange) from None
            raise
        table = []
        for sub in subscriptions:
            try:
                table.append(tuple(loads(sub.user_metadata)))
            except (TypeError, ValueError):  # a subscription we did not make
                continue
        tables[exchange] = (now, table)
        return table

    def _lookup(self, exchange: str, routing_key: str,
                default: str | None = None) -> Any:
        if exchange:
            hit = self.connection._tables.get(exchange)
            if hit is None or monotonic() - hit[0] >= self.options.routing_refresh_seconds:
                self.state.invalidate_routes(exchange)   # re-read the shared table
        return super()._lookup(exchange, routing_key, default)

    # -- clients and options --------------------------------------------------

    @cached_property
    def queue_service(self) -> Any:
        retry: dict[str, Any] = {'retry_total': self.retry_total,
                 'retry_backoff_factor': self.retry_backoff_factor,
                 'retry_backoff_max': self.retry_backoff_max}
        if self._connection_string:
            return ServiceBusClient.from_connection_string(self._connection_string, **retry)
        return ServiceBusClient(self._namespace, self._credential, **retry)

    @cached_property
    def queue_mgmt_service(self) -> Any:
        if self._connection_string:
            return ServiceBusAdministrationClient.from_connection_string(
                self._connection_string)
        return ServiceBusAdministrationClient(self._namespace, self._credential)

    @property
    def queue_name_prefix(self) -> str:
        return self.options.queue_name_prefix

    @property
    def wait_time_seconds(self) -> float:
        return self.options.wait_time_seconds

    @property
    def peek_lock_seconds(self) -> int:
        return min(self.options.peek_lock_seconds, 300)

    @property
    def uamqp_keep_alive_interval(self) -> int:
        return self.options.uamqp_keep_alive_interval

    @property
    def retry_total(self) -> int:
        return self.options.retry_total

    @property
    def retry_backoff_factor(self) -> float:
        return self.options.retry_backoff_factor

    @property
    def retry_backoff_max(self) -> float:
        return self.options.retry_backoff_max

    @property
    def use_lock_renewal(self) -> bool:
        return self.options.use_lock_renewal

    @property
    def max_lock_renewal_duration(self) -> float:
        return self.options.max_lock_renewal_duration


class Transport(virtual.Transport):
    """Azure Service Bus transport."""

    Channel = Channel

    polling_interval: float = 1
    default_port: int | None = None
    can_parse_url: bool = True
    driver_type = 'azureservicebus'
    driver_name = 'azure-servicebus'

    connection_errors = errors.connection_errors
    channel_errors = errors.channel_errors
    implements = virtual.Transport.implements.extend(
        exchange_type=frozenset(['direct', 'topic', 'fanout', 'headers']))

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        # Per connection: caches of what the namespace holds.
        self._policy_cache: dict[str, tuple[float, QueuePolicy | None]] = {}
        self._tables: dict[str, tuple[float, list[Any]]] = {}
        self._topics: set[str] = set()

    def _wait_for_messages(self, timeout: float, token: Any) -> None:
        # The channels long-poll (wait_time_seconds) when they find nothing; only
        # a channel that cannot consume (prefetch full, no consumers) gets here.
        super()._wait_for_messages(min(timeout, 0.05), token)

    @staticmethod
    def parse_uri(uri: str) -> tuple[str, Any]:
        """``(namespace, credential)`` from a connection URI (with or without the scheme).

        The credential is ``'policy:key'``, or a ``DefaultAzureCredential`` /
        ``ManagedIdentityCredential``.  Raises ValueError for an incomplete URI.
        """
        rest = uri[len(_SCHEME):] if uri.startswith(_SCHEME) else uri
        credential, sep, namespace = rest.rpartition('@')
        if not sep or not credential or not namespace:
            raise ValueError(_URI_HELP)
        if not namespace.endswith('.net'):
            namespace += '.servicebus.windows.net'
        named = {'defaultazurecredential': DefaultAzureCredential,
                 'managedidentitycredential': ManagedIdentityCredential}
        if credential.lower() in named:
            factory = named[credential.lower()]
            if factory is None:
                raise ImportError(f'{credential} needs azure-identity '
                                  '(pip install azure-identity)')
            return namespace, factory()
        policy, colon, key = credential.partition(':')
        if not colon or not policy or not key:
            raise ValueError(_URI_HELP)
        return namespace, credential

    @classmethod
    def as_uri(cls, uri: str, include_password: bool = False, mask: str = '**') -> str:
        """The URI with the SAS key masked unless ``include_password``."""
        namespace, credential = cls.parse_uri(uri)
        if isinstance(credential, str):
            policy, _, key = credential.partition(':')
            return f'{_SCHEME}{policy}:{key if include_password else mask}@{namespace}'
        return f'{_SCHEME}{type(credential).__name__}@{namespace}'
