"""A fake Azure Service Bus namespace behind the ``azure-servicebus`` client surface.

What the ``azureservicebus`` transport calls, and nothing else:

* ``ServiceBusClient(namespace, credential, retry_*=...)`` and
  ``ServiceBusClient.from_connection_string(...)``; ``get_queue_sender`` and
  ``get_queue_receiver(queue_name, receive_mode=..., auto_lock_renewer=...)``;
* senders: ``send_messages`` (a real :class:`azure.servicebus.ServiceBusMessage`,
  with ``time_to_live`` honoured and the message size limit of the standard tier);
* receivers: ``receive_messages(max_message_count, max_wait_time)`` in peek-lock
  (the message is locked for the queue's ``lock_duration`` and comes back when
  the lock expires) or receive-and-delete mode, ``complete_message``,
  ``abandon_message``, ``renew_message_lock``, ``dead_letter_message``;
* ``ServiceBusAdministrationClient``: queues and topics/subscriptions created,
  read, listed and deleted, with ``user_metadata``, ``lock_duration`` and
  ``forward_to`` kept; queue runtime properties (message counts).

Errors are the SDK's own classes (``ResourceExistsError``,
``ResourceNotFoundError``, ``MessageLockLostError``, ``MessageAlreadySettled``,
``MessageSizeExceededError``, ``ServiceBusAuthenticationError``,
``ServiceBusConnectionError``), so the transport's error translation is tested
too.  Tests can break a namespace (``namespace.fail_with = exc``) or expire
locks early (``namespace.lock_scale``).
"""
from __future__ import annotations

import contextlib
import datetime
import itertools
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.servicebus import ServiceBusReceiveMode
from azure.servicebus.exceptions import (
    MessageAlreadySettled,
    MessageLockLostError,
    MessageSizeExceededError,
    MessagingEntityNotFoundError,
    ServiceBusAuthenticationError,
)

__all__ = ('FakeNamespace', 'ServiceBusClient', 'ServiceBusAdministrationClient',
           'AutoLockRenewer', 'namespaces', 'reset')

#: the standard tier's limit for one message.
MAX_MESSAGE_BYTES = 256 * 1024

# Queue and topic names: letters, digits, periods, hyphens, underscores, slashes;
# starting and ending with a letter or digit; at most 260 characters.
_ENTITY_NAME = re.compile(r'^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,258}[A-Za-z0-9])?$')
_SUBSCRIPTION_NAME = re.compile(r'^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,48}[A-Za-z0-9])?$')


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _seconds(value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)):
        return float(value)
    return _iso_seconds(str(value))


def _iso_seconds(text: str) -> float:
    """Seconds of an ISO 8601 duration such as ``PT1M30S`` (what the REST API takes)."""
    match = re.fullmatch(r'P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?', text)
    if not match:
        raise HttpResponseError(f'invalid duration {text!r}')
    days, hours, minutes, seconds = (float(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


@dataclass
class _Stored:
    sequence_number: int
    body: bytes
    expires_at: float | None
    application_properties: dict[Any, Any] | None
    delivery_count: int = 0


@dataclass
class _Queue:
    name: str
    lock_duration: float
    user_metadata: str | None
    properties: dict[str, Any]
    ready: list[_Stored] = field(default_factory=list)
    #: lock token -> (message, monotonic deadline of the lock)
    locked: dict[str, tuple[_Stored, float]] = field(default_factory=dict)


@dataclass
class _Topic:
    name: str
    user_metadata: str | None
    subscriptions: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueProperties:
    name: str
    lock_duration: datetime.timedelta
    user_metadata: str | None
    max_delivery_count: int = 10


@dataclass(frozen=True)
class QueueRuntimeProperties:
    name: str
    active_message_count: int
    total_message_count: int


@dataclass(frozen=True)
class TopicProperties:
    name: str
    user_metadata: str | None


@dataclass(frozen=True)
class SubscriptionProperties:
    name: str
    forward_to: str | None
    user_metadata: str | None


class FakeNamespace:
    """One Service Bus namespace: its queues, topics and messages."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cond = threading.Condition()
        self.queues: dict[str, _Queue] = {}
        self.topics: dict[str, _Topic] = {}
        self._sequence = itertools.count(1)
        #: credentials accepted (SAS ``policy:key`` strings); None: any.
        self.accepted_credentials: set[str] | None = None
        #: raised by every data or management call while set.
        self.fail_with: BaseException | None = None
        #: multiplies lock durations (tests make locks expire quickly).
        self.lock_scale = 1.0
        #: counters a test can assert on.
        self.calls: dict[str, int] = {}

    # -- bookkeeping ----------------------------------------------------------

    def enter(self, operation: str) -> None:
        self.calls[operation] = self.calls.get(operation, 0) + 1
        if self.fail_with is not None:
            raise self.fail_with

    def queue(self, name: str) -> _Queue:
        try:
            return self.queues[name.lower()]   # entity names are case-insensitive
        except KeyError:
            raise MessagingEntityNotFoundError(
                message=f"The messaging entity '{self.name}:Queue:{name}' could not be found."
            ) from None

    def _settle_expired(self, queue: _Queue, now: float) -> None:
        """Locks past their deadline give their messages back, in sequence order."""
        expired = [token for token, (_, until) in queue.locked.items() if until <= now]
        for token in expired:
            stored, _ = queue.locked.pop(token)
            self._insert(queue, stored)
        if queue.ready and queue.ready[0].expires_at is not None or expired:
            wall = time.time()
            queue.ready = [m for m in queue.ready
                           if m.expires_at is None or m.expires_at > wall]

    @staticmethod
    def _insert(queue: _Queue, stored: _Stored) -> None:
        ready = queue.ready
        index = len(ready)
        while index and ready[index - 1].sequence_number > stored.sequence_number:
            index -= 1
        ready.insert(index, stored)

    # -- data plane -----------------------------------------------------------

    def send(self, queue_name: str, message: Any) -> None:
        body = b''.join(message.body) if not isinstance(message.body, bytes) else message.body
        if len(body) > MAX_MESSAGE_BYTES:
            raise MessageSizeExceededError(
                message=f'The message ({len(body)} bytes) is larger than the limit '
                        f'({MAX_MESSAGE_BYTES} bytes) of the standard tier.')
        ttl = message.time_to_live
        expires_at = time.time() + ttl.total_seconds() if ttl is not None else None
        with self.cond:
            queue = self.queue(queue_name)
            queue.ready.append(_Stored(next(self._sequence), body, expires_at,
                                       dict(message.application_properties or {}) or None))
            self.cond.notify_all()

    def receive(self, queue_name: str, mode: Any, count: int,
                max_wait_time: float | None) -> list[ReceivedMessage]:
        deadline = None if max_wait_time is None else time.monotonic() + max_wait_time
        with self.cond:
            while True:
                queue = self.queue(queue_name)
                now = time.monotonic()
                self._settle_expired(queue, now)
                if queue.ready:
                    break
                # A lock expiring is also a wake-up: wait at most until the next one.
                until = min((u for _, u in queue.locked.values()), default=None)
                limit = deadline
                if until is not None:
                    limit = until if limit is None else min(limit, until)
                if limit is None:
                    self.cond.wait()
                elif limit <= now:
                    if deadline is not None and deadline <= now:
                        return []
                else:
                    self.cond.wait(limit - now)
            got: list[ReceivedMessage] = []
            while queue.ready and len(got) < count:
                stored = queue.ready.pop(0)
                stored.delivery_count += 1
                token = None
                if mode == ServiceBusReceiveMode.PEEK_LOCK:
                    token = str(uuid.uuid4())
                    lock = queue.lock_duration * self.lock_scale
                    queue.locked[token] = (stored, time.monotonic() + lock)
                got.append(ReceivedMessage(stored, queue.name, token, self))
            return got

    def settle(self, message: ReceivedMessage, action: str) -> None:
        with self.cond:
            if message._settled:
                raise MessageAlreadySettled(action=action)
            queue = self.queue(message._queue)
            self._settle_expired(queue, time.monotonic())
            entry = queue.locked.pop(message.lock_token, None) if message.lock_token else None
            if entry is None:
                raise MessageLockLostError(
                    message='The lock on the message was lost (expired or taken).')
            message._settled = True
            if action == 'abandon':
                self._insert(queue, entry[0])
                self.cond.notify_all()

    def renew(self, message: ReceivedMessage) -> datetime.datetime:
        with self.cond:
            queue = self.queue(message._queue)
            self._settle_expired(queue, time.monotonic())
            entry = queue.locked.get(message.lock_token or '')
            if entry is None or message._settled:
                raise MessageLockLostError(message='The lock on the message was lost.')
            lock = queue.lock_duration * self.lock_scale
            queue.locked[message.lock_token] = (entry[0], time.monotonic() + lock)  # type: ignore[index]
            return _utcnow() + datetime.timedelta(seconds=lock)


class ReceivedMessage:
    """What ``receive_messages`` returns: the body as a generator of bytes, as the SDK."""

    def __init__(self, stored: _Stored, queue: str, lock_token: str | None,
                 namespace: FakeNamespace) -> None:
        self._stored = stored
        self._queue = queue
        self._namespace = namespace
        self._settled = lock_token is None
        self.lock_token = lock_token
        self.sequence_number = stored.sequence_number
        self.delivery_count = stored.delivery_count
        self.application_properties = stored.application_properties

    @property
    def body(self) -> Iterator[bytes]:
        yield self._stored.body

    def __str__(self) -> str:
        return self._stored.body.decode()


#: namespace host name -> its state (every client of a name shares it).
namespaces: dict[str, FakeNamespace] = {}
_namespaces_lock = threading.Lock()


def namespace(name: str) -> FakeNamespace:
    with _namespaces_lock:
        ns = namespaces.get(name)
        if ns is None:
            ns = namespaces[name] = FakeNamespace(name)
        return ns


def reset() -> None:
    with _namespaces_lock:
        namespaces.clear()


def _connection_string_parts(conn_str: str) -> tuple[str, str]:
    parts = dict(item.split('=', 1) for item in conn_str.split(';') if item)
    host = parts['Endpoint'].split('://', 1)[-1].rstrip('/')
    return host, f"{parts.get('SharedAccessKeyName')}:{parts.get('SharedAccessKey')}"


def _authenticate(ns: FakeNamespace, credential: Any) -> None:
    if ns.accepted_credentials is not None and isinstance(credential, str) \
            and credential not in ns.accepted_credentials:
        raise ServiceBusAuthenticationError(message='Unauthorized: invalid SAS key')


class Sender:
    def __init__(self, client: ServiceBusClient, queue_name: str, kwargs: dict[str, Any]):
        self._client, self.queue_name, self.kwargs = client, queue_name, kwargs
        self.closed = False

    def send_messages(self, message: Any, **kwargs: Any) -> None:
        ns = self._client._ns
        ns.enter('send')
        _authenticate(ns, self._client.credential)
        for one in message if isinstance(message, list) else [message]:
            ns.send(self.queue_name, one)

    def close(self) -> None:
        self.closed = True


class Receiver:
    def __init__(self, client: ServiceBusClient, queue_name: str, receive_mode: Any,
                 kwargs: dict[str, Any]) -> None:
        self._client, self.queue_name = client, queue_name
        self.receive_mode = receive_mode
        self.auto_lock_renewer = kwargs.pop('auto_lock_renewer', None)
        self.kwargs = kwargs
        self.closed = False

    def receive_messages(self, max_message_count: int | None = 1,
                         max_wait_time: float | None = None) -> list[ReceivedMessage]:
        ns = self._client._ns
        ns.enter('receive')
        _authenticate(ns, self._client.credential)
        got = ns.receive(self.queue_name, self.receive_mode, max_message_count or 1,
                         max_wait_time)
        if self.auto_lock_renewer is not None:
            for message in got:
                self.auto_lock_renewer.register(self, message)
        return got

    def complete_message(self, message: ReceivedMessage) -> None:
        self._client._ns.enter('complete')
        self._client._ns.settle(message, 'complete')

    def abandon_message(self, message: ReceivedMessage) -> None:
        self._client._ns.enter('abandon')
        self._client._ns.settle(message, 'abandon')

    def dead_letter_message(self, message: ReceivedMessage, reason: str | None = None,
                            error_description: str | None = None) -> None:
        self._client._ns.enter('dead_letter')
        self._client._ns.settle(message, 'dead_letter')

    def renew_message_lock(self, message: ReceivedMessage,
                           timeout: float | None = None) -> datetime.datetime:
        self._client._ns.enter('renew')
        return self._client._ns.renew(message)

    def close(self) -> None:
        self.closed = True


class ServiceBusClient:
    """``azure.servicebus.ServiceBusClient`` over a :class:`FakeNamespace`."""

    #: every client built, for tests to inspect.
    instances: list[ServiceBusClient] = []

    def __init__(self, fully_qualified_namespace: str, credential: Any, *,
                 retry_total: int = 3, retry_backoff_factor: float = 0.8,
                 retry_backoff_max: float = 120, **kwargs: Any) -> None:
        self.fully_qualified_namespace = fully_qualified_namespace
        self.credential = credential
        self.retry = {'retry_total': retry_total, 'retry_backoff_factor': retry_backoff_factor,
                      'retry_backoff_max': retry_backoff_max}
        self.kwargs = kwargs
        self._ns = namespace(fully_qualified_namespace)
        self.closed = False
        ServiceBusClient.instances.append(self)

    @classmethod
    def from_connection_string(cls, conn_str: str, **kwargs: Any) -> ServiceBusClient:
        host, credential = _connection_string_parts(conn_str)
        return cls(host, credential, **kwargs)

    def get_queue_sender(self, queue_name: str, **kwargs: Any) -> Sender:
        return Sender(self, queue_name, kwargs)

    def get_queue_receiver(self, queue_name: str, *,
                           receive_mode: Any = ServiceBusReceiveMode.PEEK_LOCK,
                           **kwargs: Any) -> Receiver:
        return Receiver(self, queue_name, receive_mode, kwargs)

    def close(self) -> None:
        self.closed = True


class ServiceBusAdministrationClient:
    """``azure.servicebus.management.ServiceBusAdministrationClient`` over the fake."""

    def __init__(self, fully_qualified_namespace: str, credential: Any, **kwargs: Any) -> None:
        self.credential = credential
        self._ns = namespace(fully_qualified_namespace)

    @classmethod
    def from_connection_string(cls, conn_str: str, **kwargs: Any
                               ) -> ServiceBusAdministrationClient:
        host, credential = _connection_string_parts(conn_str)
        return cls(host, credential, **kwargs)

    def _enter(self, operation: str) -> FakeNamespace:
        ns = self._ns
        ns.enter(operation)
        _authenticate(ns, self.credential)
        return ns

    # -- queues ---------------------------------------------------------------

    def create_queue(self, queue_name: str, *, lock_duration: Any = None,
                     user_metadata: str | None = None, **kwargs: Any) -> QueueProperties:
        ns = self._enter('create_queue')
        if not _ENTITY_NAME.match(queue_name):
            raise HttpResponseError(f'Invalid queue name {queue_name!r}')
        if user_metadata is not None and len(user_metadata) > 1024:
            raise HttpResponseError('user_metadata is longer than 1024 characters')
        lock = _seconds(lock_duration, 60.0)
        if not 5 <= lock <= 300:
            raise HttpResponseError(f'lock_duration {lock}s is outside 5 s .. 5 min')
        with ns.cond:
            if queue_name.lower() in ns.queues:
                raise ResourceExistsError(f'Queue {queue_name!r} already exists')
            ns.queues[queue_name.lower()] = _Queue(queue_name, lock, user_metadata, kwargs)
        return self.get_queue(queue_name)

    def get_queue(self, queue_name: str, **kwargs: Any) -> QueueProperties:
        ns = self._enter('get_queue')
        with ns.cond:
            queue = ns.queues.get(queue_name.lower())
            if queue is None:
                raise ResourceNotFoundError(f'Queue {queue_name!r} not found')
            return QueueProperties(queue.name, datetime.timedelta(seconds=queue.lock_duration),
                                   queue.user_metadata)

    def get_queue_runtime_properties(self, queue_name: str,
                                     **kwargs: Any) -> QueueRuntimeProperties:
        ns = self._enter('get_queue_runtime_properties')
        with ns.cond:
            queue = ns.queues.get(queue_name.lower())
            if queue is None:
                raise ResourceNotFoundError(f'Queue {queue_name!r} not found')
            ns._settle_expired(queue, time.monotonic())
            active = len(queue.ready)
            return QueueRuntimeProperties(queue.name, active, active + len(queue.locked))

    def list_queues(self, **kwargs: Any) -> list[QueueProperties]:
        ns = self._enter('list_queues')
        with ns.cond:
            names = [q.name for q in ns.queues.values()]
        return [self.get_queue(name) for name in names]

    def delete_queue(self, queue_name: str, **kwargs: Any) -> None:
        ns = self._enter('delete_queue')
        with ns.cond:
            if ns.queues.pop(queue_name.lower(), None) is None:
                raise ResourceNotFoundError(f'Queue {queue_name!r} not found')
            ns.cond.notify_all()

    # -- topics and subscriptions ---------------------------------------------

    def create_topic(self, topic_name: str, *, user_metadata: str | None = None,
                     **kwargs: Any) -> TopicProperties:
        ns = self._enter('create_topic')
        if not _ENTITY_NAME.match(topic_name):
            raise HttpResponseError(f'Invalid topic name {topic_name!r}')
        with ns.cond:
            if topic_name.lower() in ns.topics:
                raise ResourceExistsError(f'Topic {topic_name!r} already exists')
            ns.topics[topic_name.lower()] = _Topic(topic_name, user_metadata)
        return TopicProperties(topic_name, user_metadata)

    def _topic(self, ns: FakeNamespace, topic_name: str) -> _Topic:
        topic = ns.topics.get(topic_name.lower())
        if topic is None:
            raise ResourceNotFoundError(f'Topic {topic_name!r} not found')
        return topic

    def get_topic(self, topic_name: str, **kwargs: Any) -> TopicProperties:
        ns = self._enter('get_topic')
        with ns.cond:
            topic = self._topic(ns, topic_name)
            return TopicProperties(topic.name, topic.user_metadata)

    def delete_topic(self, topic_name: str, **kwargs: Any) -> None:
        ns = self._enter('delete_topic')
        with ns.cond:
            if ns.topics.pop(topic_name.lower(), None) is None:
                raise ResourceNotFoundError(f'Topic {topic_name!r} not found')

    def create_subscription(self, topic_name: str, subscription_name: str, *,
                            forward_to: str | None = None, user_metadata: str | None = None,
                            **kwargs: Any) -> SubscriptionProperties:
        ns = self._enter('create_subscription')
        if not _SUBSCRIPTION_NAME.match(subscription_name):
            raise HttpResponseError(f'Invalid subscription name {subscription_name!r}')
        if user_metadata is not None and len(user_metadata) > 1024:
            raise HttpResponseError('user_metadata is longer than 1024 characters')
        with ns.cond:
            topic = self._topic(ns, topic_name)
            if subscription_name.lower() in topic.subscriptions:
                raise ResourceExistsError(f'Subscription {subscription_name!r} exists')
            props = SubscriptionProperties(subscription_name, forward_to, user_metadata)
            topic.subscriptions[subscription_name.lower()] = props
            return props

    def delete_subscription(self, topic_name: str, subscription_name: str,
                            **kwargs: Any) -> None:
        ns = self._enter('delete_subscription')
        with ns.cond:
            topic = self._topic(ns, topic_name)
            if topic.subscriptions.pop(subscription_name.lower(), None) is None:
                raise ResourceNotFoundError(f'Subscription {subscription_name!r} not found')

    def list_subscriptions(self, topic_name: str, **kwargs: Any
                           ) -> list[SubscriptionProperties]:
        ns = self._enter('list_subscriptions')
        with ns.cond:
            return list(self._topic(ns, topic_name).subscriptions.values())

    def close(self) -> None:
        pass


class AutoLockRenewer:
    """``azure.servicebus.AutoLockRenewer``: renews registered messages' locks in a thread."""

    instances: list[AutoLockRenewer] = []

    def __init__(self, max_lock_renewal_duration: float = 300, **kwargs: Any) -> None:
        self.max_lock_renewal_duration = max_lock_renewal_duration
        self._items: list[tuple[Receiver, ReceivedMessage, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.renewals = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        AutoLockRenewer.instances.append(self)

    def register(self, receiver: Receiver, renewable: ReceivedMessage,
                 max_lock_renewal_duration: float | None = None) -> None:
        until = time.monotonic() + (max_lock_renewal_duration or self.max_lock_renewal_duration)
        with self._lock:
            self._items.append((receiver, renewable, until))

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            with self._lock:
                items = list(self._items)
            keep = []
            for receiver, message, until in items:
                if message._settled or time.monotonic() > until:
                    continue
                try:
                    receiver.renew_message_lock(message)
                    self.renewals += 1
                except Exception:
                    continue
                keep.append((receiver, message, until))
            with self._lock:
                self._items = keep + [i for i in self._items if i not in items]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


@contextlib.contextmanager
def patched(module: Any) -> Iterator[None]:
    """Put the fake in place of the SDK names a transport module imported."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, 'ServiceBusClient', ServiceBusClient)
        patch.setattr(module, 'ServiceBusAdministrationClient', ServiceBusAdministrationClient)
        patch.setattr(module, 'AutoLockRenewer', AutoLockRenewer)
        try:
            yield
        finally:
            reset()
