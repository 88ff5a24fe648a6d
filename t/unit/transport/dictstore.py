"""dictstore://: a complete virtual transport, the example of the writing-transports guide.

The "broker" is a pretend client library (:class:`DictStoreClient`: named
queues of JSON text in this process, with errors of its own), so the example
runs anywhere; everything below it is what a real transport writes.
``t/unit/transport/test_dictstore_example.py`` runs the conformance suite and
the error paths on it, so the guide (which includes this file) stays true.
"""
from __future__ import annotations

import dataclasses
import json
from collections import deque
from queue import Empty
from typing import Any, ClassVar

from kombu.transport import virtual
from kombu.transport.virtual.errors import ErrorTranslator
from kombu.transport.virtual.options import TransportOptions

# -- the client library of the broker (pretend) ------------------------------


class StoreError(Exception):
    """Base class of the library's errors."""


class StoreUnavailable(StoreError):
    """The server cannot be reached."""


class BadToken(StoreError):
    """The server refused the credentials."""


class NoSuchQueue(StoreError):
    """The queue does not exist."""


class DictStoreClient:
    """A connection to a namespace of the pretend server."""

    #: namespace -> (token, queues): the pretend servers.
    servers: ClassVar[dict[str, tuple[str | None, dict[str, deque[str]]]]] = {}
    #: namespaces whose server is down (tests set it).
    down: ClassVar[set[str]] = set()

    def __init__(self, namespace: str, token: str | None = None) -> None:
        expected, self._queues = self.servers.setdefault(namespace, (token, {}))
        if token != expected:
            raise BadToken(f'token refused by namespace {namespace!r}')
        self.namespace = namespace

    def _check(self) -> None:
        if self.namespace in self.down:
            raise StoreUnavailable(f'namespace {self.namespace!r} is down')

    def _queue(self, name: str) -> deque[str]:
        self._check()
        try:
            return self._queues[name]
        except KeyError:
            raise NoSuchQueue(name) from None

    def create(self, name: str) -> None:
        self._check()
        self._queues.setdefault(name, deque())

    def exists(self, name: str) -> bool:
        self._check()
        return name in self._queues

    def push(self, name: str, text: str, front: bool = False) -> None:
        queue = self._queue(name)
        if front:
            queue.appendleft(text)
        else:
            queue.append(text)

    def pop(self, name: str) -> str | None:
        queue = self._queue(name)
        return queue.popleft() if queue else None

    def length(self, name: str) -> int:
        return len(self._queue(name))

    def clear(self, name: str) -> int:
        queue = self._queue(name)
        size = len(queue)
        queue.clear()
        return size

    def drop(self, name: str) -> None:
        self._queue(name)
        del self._queues[name]


# -- the transport -----------------------------------------------------------

#: The library's exceptions, by kind; every call into the library goes through it.
errors = ErrorTranslator(
    'dictstore',
    connection=(StoreUnavailable,),
    auth=(BadToken,),
    not_found=(NoSuchQueue,),
    channel=(StoreError,),
)


@dataclasses.dataclass(frozen=True)
class DictStoreOptions(TransportOptions):
    """``transport_options`` of dictstore:// (each field: a key users may pass)."""

    transport_name: ClassVar[str] = 'dictstore'
    secret_fields: ClassVar[frozenset[str]] = frozenset({'token'})

    #: which namespace of the server to use.
    namespace: str = 'default'
    #: credentials (masked in the options' repr).
    token: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require(bool(self.namespace), 'namespace must not be empty')


class Channel(virtual.Channel):
    """The storage hooks; routing, QoS, acks, TTL and dead-lettering are the base's."""

    Options = DictStoreOptions
    options: DictStoreOptions

    #: the exchange tables are shared by every connection of the process
    #: (Transport.global_state), so fanout reaches other connections' queues.
    supports_fanout = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        with errors('connect', self.options.namespace):
            self.client = DictStoreClient(self.options.namespace, self.options.token)

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        with errors('declare', queue):
            self.client.create(queue)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        with errors('check', queue):
            return self.client.exists(queue)

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        with errors('send', queue):
            self.client.push(queue, json.dumps(message))

    def _put_front(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        # Optional: requeued and restored messages go back to the head.
        with errors('send', queue):
            self.client.push(queue, json.dumps(message), front=True)

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        with errors('receive', queue):
            text = self.client.pop(queue)
        if text is None:
            raise Empty()
        return json.loads(text)  # type: ignore[no-any-return]

    def _size(self, queue: str) -> int:
        with errors('size', queue):
            return self.client.length(queue)

    def _purge(self, queue: str) -> int:
        with errors('purge', queue):
            return self.client.clear(queue)

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        with errors('delete', queue):
            if self.client.exists(queue):
                self.client.drop(queue)


class Transport(virtual.Transport):
    """dictstore:// (register it: ``kombu.transport.registry.register``)."""

    Channel = Channel

    #: bindings and queue arguments, shared by the connections of the process.
    global_state = virtual.BrokerState()

    #: seconds between polls of empty queues (the store cannot wake a consumer).
    polling_interval = 0.01

    #: what callers (Connection.ensure, Celery) catch, by kind.
    connection_errors = errors.connection_errors
    channel_errors = errors.channel_errors

    implements = virtual.Transport.implements.extend(
        exchange_type=frozenset({'direct', 'topic', 'fanout', 'headers'}))

    driver_type = driver_name = 'dictstore'

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.state = self.global_state

    def driver_version(self) -> str:
        return '1.0'
