"""MongoDB transport (virtual), on ``pymongo``.

Features
========
* Type: Virtual
* Supports Direct, Topic, Headers: Yes (the routing table is kept in the database,
  so a binding made by one process routes for every other)
* Supports Fanout: Yes (through a capped broadcast collection read with tailable
  cursors: a copy reaches the queues whose consumers are reading)
* Supports Priority: Yes (queues declared with ``x-max-priority``)
* Supports TTL: Yes (per-message ``expiration`` and queue ``x-message-ttl``, with
  dead-lettering, enforced when a message is read; with the ``ttl`` option, TTL
  indexes also let the server remove expired messages, queues and bindings)

Connection String
=================
The URL is a MongoDB connection string, passed to pymongo as it is::

    mongodb://USER:PASSWORD@HOST1:PORT1,HOST2:PORT2/DATABASE?replicaSet=rs0&authSource=admin

The database defaults to ``kombu_default``; authentication, replica-set, TLS and
timeout options are read from the URL by pymongo.

Storage
=======
* ``messages``: one document per message ``{queue, priority, payload, expire_at}``;
  a consumer takes the next one by ``(priority, _id)`` with a conditional update,
  so exactly one of racing consumers gets it (see :meth:`Channel._claim`: the
  document is marked, then deleted, so that a server crash in between loses
  nothing; delivery is at least once).
* ``messages.routing``: the bindings ``{queue, exchange, routing_key, pattern}``.
* ``messages.broadcast``: capped; fanout messages ``{queue: <exchange>, payload}``.
* ``messages.queues``: ``{_id: <queue>, options: {arguments}}``, the queue's
  ``x-`` arguments (TTL, priority, dead-lettering) for every process.
* ``messages.exchanges``: ``{_id: <exchange>, type}``, so a publisher that never
  declared an exchange routes by its type.

The first four are the collections and document shapes Kombu uses.

Transport Options
=================
* ``ttl`` - create TTL indexes and stamp ``expire_at`` (default False).
* ``capped_queue_size`` - size in bytes of the broadcast collection (default 100000).
* ``calc_queue_size`` - count messages for ``queue_declare`` (default True).
* ``connect_timeout`` - seconds to connect and to find a server (default: the
  connection's).
* ``ssl`` - use TLS (or a dict of pymongo TLS options).
* ``default_database``, ``default_hostname``, ``default_port``,
  ``messages_collection``, ``routing_collection``, ``broadcast_collection``,
  ``queues_collection``, ``exchanges_collection`` - names and defaults as in Kombu.
* ``routing_cache_ttl`` - seconds this process reuses a routing table read from the
  database (default 1; its own bindings take effect at once).
* ``polling_interval`` - longest an idle consumer waits between looks (default 1); where
  the server has change streams (replica sets) consumers are woken by inserts instead.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import socket
import struct
import time
import uuid
from queue import Empty
from typing import Any, ClassVar, Mapping

from kombu.brokerurl import mask_url
from kombu.exceptions import AccessRefused, VersionMismatch
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

from . import virtual
from .virtual.errors import ErrorTranslator
from .virtual.exchange import ExchangeType
from .virtual.forksafe import ForkSafeTransport
from .virtual.options import TransportOptions
from .virtual.shared_policies import PolicyCache, SharedPoliciesMixin

try:
    import pymongo
    from bson import ObjectId
    from pymongo import ASCENDING, CursorType, MongoClient, uri_parser
    from pymongo.errors import (
        CollectionInvalid,
        ConfigurationError,
        ConnectionFailure,
        DocumentTooLarge,
        InvalidURI,
        OperationFailure,
        PyMongoError,
    )
except ImportError:  # pragma: no cover - the client library is optional
    pymongo = MongoClient = None  # type: ignore[assignment,misc]

    class _Missing(Exception):
        pass

    CollectionInvalid = ConfigurationError = ConnectionFailure = _Missing  # type: ignore
    DocumentTooLarge = InvalidURI = OperationFailure = PyMongoError = _Missing  # type: ignore

__all__ = ('BroadcastCursor', 'Channel', 'MongoDBOptions', 'Transport')

DEFAULT_HOST = '127.0.0.1'
DEFAULT_PORT = 27017

E_SERVER_VERSION = 'the mongodb transport needs MongoDB 3.6 or later (the server is {0})'
E_NO_TTL_INDEXES = 'the ttl option needs TTL indexes: MongoDB 2.2 or later (the server is {0})'

# Server error codes that mean "credentials refused / not allowed".
_AUTH_CODES = frozenset({13, 18})

#: ``queue`` of a message being taken (see :meth:`Channel._claim`).
CLAIMED = '\x00kombu.claimed'
#: marks the claims of this process.
CLAIM_TOKEN = f'{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}'
#: longest a change-stream read blocks (bounds how late a drain_events timeout is).
STREAM_WAIT_MS = 100
#: messages read per query of a queue's head (see :meth:`Channel._claim`).
CLAIM_BATCH = 10
#: claims older than this (seconds) belong to a consumer that died mid-claim.
STALE_CLAIM = 60.0

# _id of a document restored to the head of its queue: 8 bytes decreasing with
# time (later restores sort first) and 4 random ones.
_FRONT = 2 ** 63


class _MongoErrors(ErrorTranslator):
    """pymongo's errors; authentication failures are OperationFailure by code."""

    def translate(self, exc: BaseException, operation: str = '',
                  name: str | None = None) -> BaseException | None:
        if isinstance(exc, OperationFailure) and getattr(exc, 'code', None) in _AUTH_CODES:
            where = f'mongodb {operation}' + (f' {name!r}' if name is not None else '')
            return AccessRefused(f'{where}: {type(exc).__name__}: {exc}')
        return super().translate(exc, operation, name)


errors = _MongoErrors(
    'mongodb',
    connection=(ConnectionFailure,),
    limit=(DocumentTooLarge,),
    channel=(PyMongoError,),
)


@dataclasses.dataclass(frozen=True)
class MongoDBOptions(TransportOptions):
    """``transport_options`` of the MongoDB transport (Kombu's names and defaults)."""

    transport_name: ClassVar[str] = 'mongodb'

    ssl: Any = False
    ttl: bool = False
    connect_timeout: float | None = None
    capped_queue_size: int = 100000
    calc_queue_size: bool = True
    default_hostname: str = DEFAULT_HOST
    default_port: int = DEFAULT_PORT
    default_database: str = 'kombu_default'
    messages_collection: str = 'messages'
    routing_collection: str = 'messages.routing'
    broadcast_collection: str = 'messages.broadcast'
    queues_collection: str = 'messages.queues'
    exchanges_collection: str = 'messages.exchanges'
    routing_cache_ttl: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require(self.capped_queue_size > 0, 'capped_queue_size must be > 0')
        self.require(self.routing_cache_ttl >= 0, 'routing_cache_ttl must be >= 0')
        if self.connect_timeout is not None:
            self.require(self.connect_timeout > 0, 'connect_timeout must be > 0')


class BroadcastCursor:
    """A tailable cursor over the fanout messages of one exchange, from now on.

    Reopened after the last document seen when the server closes it.
    """

    def __init__(self, cursor: Any, spec: Mapping[str, Any] | None = None) -> None:
        self._cursor = cursor
        self._collection = cursor.collection
        # the filter, for reopening (pymongo keeps it in a private attribute)
        self._spec = dict(spec if spec is not None else getattr(cursor, '_spec', None) or {})
        self._last: Any = None
        self.purge()

    def _reopen(self) -> None:
        spec = dict(self._spec)
        if self._last is not None:
            spec['_id'] = {'$gt': self._last}
        self._cursor = self._collection.find(spec, cursor_type=CursorType.TAILABLE)

    def get_size(self) -> int:
        """Documents seen by nobody yet cannot be counted on a tailable cursor."""
        return 0

    def close(self) -> None:
        self._cursor.close()

    def purge(self) -> None:
        """Skip everything already in the collection."""
        while self.next() is not None:
            pass

    def next(self) -> dict[str, Any] | None:
        """The next document, or None when there is none yet."""
        if not self._cursor.alive:
            self._reopen()
        try:
            doc = next(self._cursor)
        except StopIteration:
            return None
        except OperationFailure:
            # e.g. CappedPositionLost: the collection wrapped past our position (what
            # was overwritten is gone, as the capped size allows): go on after it.
            self._reopen()
            return None
        self._last = doc['_id']
        return doc

    __next__ = next


class Channel(SharedPoliciesMixin, virtual.Channel):
    """MongoDB channel."""

    Options = MongoDBOptions
    options: MongoDBOptions

    supports_fanout = True
    #: routes are memoized and dropped when the table read from the database ages.
    cache_routes = True
    max_priority = 255

    # Kombu's option attributes (class defaults; ``transport_options`` override).
    ssl: Any = False
    ttl = False
    connect_timeout: float | None = None
    capped_queue_size = 100000
    calc_queue_size = True
    default_hostname = DEFAULT_HOST
    default_port = DEFAULT_PORT
    default_database = 'kombu_default'
    messages_collection = 'messages'
    routing_collection = 'messages.routing'
    broadcast_collection = 'messages.broadcast'
    queues_collection = 'messages.queues'
    exchanges_collection = 'messages.exchanges'

    from_transport_options = virtual.Channel.from_transport_options + (
        'connect_timeout', 'ssl', 'ttl', 'capped_queue_size', 'default_hostname',
        'default_port', 'default_database', 'messages_collection', 'routing_collection',
        'broadcast_collection', 'queues_collection', 'exchanges_collection',
        'calc_queue_size')

    def __init__(self, *vargs: Any, **kwargs: Any) -> None:
        super().__init__(*vargs, **kwargs)
        # (queue, exchange) -> cursor over the exchange's broadcast collection
        self._broadcast_cursors: dict[tuple[str, str], BroadcastCursor] = {}
        self._front_key = 0
        # queue -> head documents read but not taken yet (next one last)
        self._listing: dict[str, list[dict[str, Any]]] = {}

    # -- client and collections -------------------------------------------------

    @property
    def client(self) -> Any:
        """The connection's database (``pymongo.database.Database``)."""
        return self.connection.database

    @cached_property
    def messages(self) -> Any:
        collection = self.client[self.messages_collection]
        with errors('create_index', self.messages_collection):
            collection.create_index([('queue', ASCENDING), ('priority', ASCENDING),
                                     ('_id', ASCENDING)], background=True)
            if self.ttl:
                collection.create_index('expire_at', expireAfterSeconds=0)
        return collection

    @cached_property
    def routing(self) -> Any:
        collection = self.client[self.routing_collection]
        with errors('create_index', self.routing_collection):
            collection.create_index([('queue', ASCENDING), ('exchange', ASCENDING)])
            collection.create_index('exchange')
            if self.ttl:
                collection.create_index('expire_at', expireAfterSeconds=0)
        return collection

    @cached_property
    def broadcast(self) -> Any:
        db = self.client
        with errors('create_collection', self.broadcast_collection):
            try:
                return db.create_collection(self.broadcast_collection,
                                            size=self.capped_queue_size, capped=True)
            except CollectionInvalid:  # exists already
                return db[self.broadcast_collection]

    @cached_property
    def queues(self) -> Any:
        collection = self.client[self.queues_collection]
        if self.ttl:
            with errors('create_index', self.queues_collection):
                collection.create_index('expire_at', expireAfterSeconds=0)
        return collection

    @cached_property
    def exchanges(self) -> Any:
        return self.client[self.exchanges_collection]

    def get_now(self) -> datetime.datetime:
        """The current time, as stored in ``expire_at`` (naive UTC, as pymongo returns)."""
        return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)

    # -- exchanges and the routing table ------------------------------------------

    def exchange_declare(self, exchange: str | None = None, type: str = 'direct',
                         durable: bool = False, auto_delete: bool = False,
                         arguments: Mapping[str, Any] | None = None,
                         nowait: bool = False, passive: bool = False) -> None:
        name = exchange or f'amq.{type or "direct"}'
        if passive and name not in self.state.exchanges:
            self._adopt(name)
        super().exchange_declare(exchange, type, durable, auto_delete, arguments,
                                 nowait, passive)
        if not passive:
            with errors('exchange_declare', name):
                self.exchanges.update_one(
                    {'_id': name}, {'$setOnInsert': {'type': type or 'direct'}}, upsert=True)

    def _adopt(self, exchange: str) -> None:
        """Know an exchange another process declared (its type) in this connection."""
        with errors('exchange_declare', exchange):
            doc = self.exchanges.find_one({'_id': exchange})
        if doc is not None:
            with self.state.lock:
                self.state.exchanges.setdefault(exchange, {
                    'type': doc.get('type') or 'direct', 'durable': True,
                    'auto_delete': False, 'arguments': {}, 'table': []})

    def exchange_delete(self, exchange: str, if_unused: bool = False,
                        nowait: bool = False) -> None:
        if if_unused and self.get_table(exchange):
            return
        super().exchange_delete(exchange, if_unused, nowait)
        with errors('exchange_delete', exchange):
            self.routing.delete_many({'exchange': exchange})
            self.exchanges.delete_one({'_id': exchange})
        self._forget_table(exchange)

    def typeof(self, exchange: str, default: str = 'direct') -> ExchangeType:
        if exchange in self.state.exchanges or not exchange:
            return super().typeof(exchange, default)
        cache = self.connection.exchange_types
        typ = cache.get(exchange)
        if typ is None:
            with errors('exchange_declare', exchange):
                doc = self.exchanges.find_one({'_id': exchange})
            typ = (doc or {}).get('type') or default
            if doc is not None:
                cache[exchange] = typ
        return self.exchange_types[typ]

    def get_table(self, exchange: str) -> list[tuple[str, str, str]]:
        tables = self.connection.tables
        cached = tables.get(exchange)
        if cached is not None and time.monotonic() - cached[0] < self.options.routing_cache_ttl:
            return cached[1]
        with errors('get_table', exchange):
            table = [(doc.get('routing_key') or '', doc.get('pattern') or '', doc['queue'])
                     for doc in self.routing.find({'exchange': exchange})]
        tables[exchange] = (time.monotonic(), table)
        return table

    def _lookup(self, exchange: str, routing_key: str,
                default: str | None = None) -> Any:
        if exchange:
            cached = self.connection.tables.get(exchange)
            if cached is None or time.monotonic() - cached[0] >= \
                    self.options.routing_cache_ttl:
                self.state.invalidate_routes(exchange)  # the table is read again
        return super()._lookup(exchange, routing_key, default)

    def _forget_table(self, exchange: str) -> None:
        self.connection.tables.pop(exchange, None)
        self.state.invalidate_routes(exchange)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        lookup = {'queue': queue, 'exchange': exchange,
                  'routing_key': routing_key or '', 'pattern': pattern or ''}
        data = dict(lookup)
        if self.ttl:
            data['expire_at'] = self._queue_expire_at(queue)
        with errors('queue_bind', queue):
            self.routing.update_one(lookup, {'$set': data}, upsert=True)
        self._forget_table(exchange)
        if self.typeof(exchange).type == 'fanout':
            self._open_broadcast(queue, exchange)

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        with errors('queue_unbind', queue):
            self.routing.delete_one({'queue': queue, 'exchange': exchange,
                                     'routing_key': routing_key or '',
                                     'pattern': pattern or ''})
        self._forget_table(exchange)
        cursor = self._broadcast_cursors.pop((queue, exchange), None)
        if cursor is not None:
            cursor.close()

    # -- queues --------------------------------------------------------------------

    def prepare_queue_arguments(self, arguments: Any, **kwargs: Any) -> Any:
        return super().prepare_queue_arguments(arguments, **kwargs)

    def _queue_doc(self, queue: str) -> dict[str, Any] | None:
        with errors('queue_declare', queue):
            return self.queues.find_one({'_id': queue})

    @property
    def policy_max_age(self) -> float:  # type: ignore[override]
        return self.options.routing_cache_ttl  # type: ignore[no-any-return]

    def _policy_cache(self) -> PolicyCache:
        return self.connection.policies  # type: ignore[no-any-return]

    def _stored_queue_arguments(self, queue: str) -> Any:
        doc = self._queue_doc(queue)
        return ((doc or {}).get('options') or {}).get('arguments')

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        arguments = dict(kwargs.get('arguments') or {})
        data: dict[str, Any] = {'_id': queue, 'options': {'arguments': arguments}}
        if self.ttl:
            data['expire_at'] = self._expire_at(arguments.get('x-expires'))
        with errors('queue_declare', queue):
            self.queues.update_one({'_id': queue}, {'$set': data}, upsert=True)
        self.connection.policies.pop(queue, None)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        if self._queue_doc(queue) is not None:
            return True
        with errors('queue_declare', queue):
            return self.messages.find_one({'queue': queue}, {'_id': 1}) is not None

    def _size(self, queue: str) -> int:
        if not self.calc_queue_size:
            return 0
        with errors('queue_size', queue):
            return self.messages.count_documents({'queue': queue})

    def _purge(self, queue: str) -> int:
        self._listing.pop(queue, None)
        with errors('queue_purge', queue):
            return self.messages.delete_many({'queue': queue}).deleted_count

    def queue_delete(self, queue: str, if_unused: bool = False, if_empty: bool = False,
                     **kwargs: Any) -> int | None:
        size = super().queue_delete(queue, if_unused, if_empty, **kwargs)
        if size is None:
            return None
        # Bindings made by other processes too: the table is in the database.
        with errors('queue_delete', queue):
            exchanges = self.routing.distinct('exchange', {'queue': queue})
            self.routing.delete_many({'queue': queue})
            self.queues.delete_one({'_id': queue})
        for exchange in exchanges:
            self._forget_table(exchange)
        self.connection.policies.pop(queue, None)
        for key in [k for k in self._broadcast_cursors if k[0] == queue]:
            self._broadcast_cursors.pop(key).close()
        return size

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self._purge(queue)
        if len(args) >= 3:
            exchange, routing_key, pattern = args[:3]
            self._queue_unbind(exchange, routing_key, pattern, queue)

    # -- expiry ------------------------------------------------------------------------

    def _expire_at(self, milliseconds: Any) -> datetime.datetime | None:
        try:
            seconds = float(milliseconds) / 1000.0
        except (TypeError, ValueError):
            return None
        return self.get_now() + datetime.timedelta(seconds=seconds)

    def _queue_expire_at(self, queue: str) -> datetime.datetime | None:
        doc = self._queue_doc(queue) or {}
        return self._expire_at(((doc.get('options') or {}).get('arguments') or {})
                               .get('x-expires'))

    def _refresh_queue_expiry(self, queue: str) -> None:
        """``x-expires`` counts from the last use: push the queue's reaping back."""
        expire_at = self._queue_expire_at(queue)
        if expire_at is None:
            return
        with errors('queue_declare', queue):
            self.queues.update_one({'_id': queue}, {'$set': {'expire_at': expire_at}})
            self.routing.update_many({'queue': queue}, {'$set': {'expire_at': expire_at}})

    # -- messages ----------------------------------------------------------------------

    def _document(self, queue: str, message: dict[str, Any]) -> dict[str, Any]:
        level = self.max_priority - self._queue_priority(self._queue_policy(queue), message)
        doc: dict[str, Any] = {'payload': dumps(message), 'queue': queue, 'priority': level}
        if self.ttl:
            deadline = message['properties'].get(virtual.base.EXPIRES_AT)
            if deadline is not None:
                doc['expire_at'] = datetime.datetime.fromtimestamp(
                    deadline, datetime.timezone.utc).replace(tzinfo=None)
        return doc

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        doc = self._document(queue, message)
        with errors('publish', queue):
            self.messages.insert_one(doc)

    def _put_front(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        doc = self._document(queue, message)
        key = max(time.time_ns(), self._front_key + 1)
        self._front_key = key
        # Before every message of its level: a level half a step up (Kombu's
        # consumers sort on it too), and among restored ones the latest first.
        doc['priority'] = doc['priority'] - 0.5
        doc['_id'] = ObjectId(struct.pack('>Q', _FRONT - key) + os.urandom(4))
        self._listing.pop(queue, None)
        with errors('publish', queue):
            self.messages.insert_one(doc)

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str,
                    **kwargs: Any) -> None:
        if 'expiration' in message['properties']:
            self._stamp_expiry(message['properties'], None)
        with errors('publish', exchange):
            self.broadcast.insert_one({'payload': dumps(message), 'queue': exchange})

    def _open_broadcast(self, queue: str, exchange: str) -> None:
        if (queue, exchange) not in self._broadcast_cursors:
            with errors('consume', queue):
                spec = {'queue': exchange}
                self._broadcast_cursors[queue, exchange] = BroadcastCursor(
                    self.broadcast.find(spec, cursor_type=CursorType.TAILABLE), spec)

    def basic_consume(self, queue: str, *args: Any, **kwargs: Any) -> str:
        # Fanout copies reach this queue from now on, whoever bound it.
        with errors('consume', queue):
            exchanges = self.routing.distinct('exchange', {'queue': queue})
        for exchange in exchanges:
            if self.typeof(exchange).type == 'fanout':
                self._open_broadcast(queue, exchange)
        return super().basic_consume(queue, *args, **kwargs)

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        with errors('consume', queue):
            doc = self._claim(queue)
            if doc is None:
                doc = self._get_broadcast(queue)
        if self.ttl:
            self._refresh_queue_expiry(queue)
        if doc is None:
            raise Empty()
        return loads(doc['payload'])

    def _claim(self, queue: str) -> dict[str, Any] | None:
        """Take the next message of ``queue`` (one of racing consumers gets it).

        The head of the queue is read in batches of :data:`CLAIM_BATCH` documents,
        sorted by priority and age (one at a time on priority queues, so that an
        urgent message is seen at once), and each is taken in two steps, so that a
        reply lost with the connection loses nothing: a conditional ``update_one``
        on its ``_id`` *and* queue moves it out of the queue, marked as ours (of
        racing consumers exactly one matches), then ``delete_one`` removes it.  If
        the first reply is lost, the next connection this process makes puts its
        marked messages back (:meth:`Transport.recover_claims`); if the delete's
        reply is lost, the message is delivered anyway and may come again: at least
        once.
        """
        for fresh in (False, True):
            listing = self._listing.get(queue) if not fresh else None
            if not listing:
                listing = self._list(queue)
            while listing:
                doc = listing.pop()
                if self._take(queue, doc):
                    return doc
            if fresh:
                break
        return None

    def _list(self, queue: str) -> list[dict[str, Any]]:
        policy = self._queue_policy(queue)
        batch = 1 if policy is not None and policy.max_priority else CLAIM_BATCH
        docs = list(self.messages.find({'queue': queue}).sort(
            [('priority', ASCENDING), ('_id', ASCENDING)]).limit(batch))
        docs.reverse()  # pop() from the end gives the next one
        self._listing[queue] = docs
        return docs

    def _take(self, queue: str, doc: dict[str, Any]) -> bool:
        taken = self.messages.update_one(
            {'_id': doc['_id'], 'queue': queue},
            {'$set': {'queue': CLAIMED, 'claimed_from': queue, 'claimed_by': CLAIM_TOKEN,
                      'claimed_at': self.get_now()}})
        if not taken.modified_count:
            return False  # another consumer was first
        try:
            self.messages.delete_one({'_id': doc['_id']})
        except ConnectionFailure:
            pass  # taken and read: deliver; recover_claims may bring it back
        return True

    def _get_broadcast(self, queue: str) -> dict[str, Any] | None:
        for (name, _exchange), cursor in list(self._broadcast_cursors.items()):
            if name != queue:
                continue
            doc = cursor.next()
            if doc is not None:
                message = loads(doc['payload'])
                # One document feeds every bound queue: each copy its own tag.
                message['properties']['delivery_tag'] = uuid.uuid4().hex
                return {'payload': dumps(message)}
        return None

    def close(self) -> None:
        for cursor in self._broadcast_cursors.values():
            cursor.close()
        self._broadcast_cursors.clear()
        super().close()

    def after_reply_message_received(self, queue: str) -> None:
        self.queue_delete(queue)


class Transport(ForkSafeTransport, virtual.Transport):
    """MongoDB transport."""

    Channel = Channel

    can_parse_url = True
    polling_interval: float = 1
    default_port = DEFAULT_PORT
    driver_type = 'mongodb'
    driver_name = 'pymongo'

    connection_errors = errors.connection_errors
    channel_errors = errors.channel_errors

    implements = virtual.Transport.implements.extend(
        exchange_type=frozenset(['direct', 'topic', 'fanout', 'headers']))

    options: MongoDBOptions

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self._client: Any = None
        self._database: Any = None
        self._claims_checked = 0.0
        self._stream: Any = None
        self._stream_supported = True
        #: exchange -> (read at, table) read from the database.
        self.tables: dict[str, tuple[float, list[tuple[str, str, str]]]] = {}
        #: queue -> (read at, policy) read from the database.
        self.policies: PolicyCache = {}
        #: exchange -> type, for exchanges this connection did not declare.
        self.exchange_types: dict[str, str] = {}

    # -- the client ------------------------------------------------------------------

    def parse_uri(self) -> tuple[str, str, dict[str, Any]]:
        """``(url, database, client options)`` for :class:`pymongo.MongoClient`."""
        conninfo = self.client
        options = self.options
        url = conninfo.hostname or ''
        if not url.startswith(('mongodb://', 'mongodb+srv://')):
            host = url or options.default_hostname
            port = conninfo.port or options.default_port
            url = f'mongodb://{host}:{port}/'
        with errors('connect'):
            try:
                parsed = uri_parser.parse_uri(url, options.default_port, validate=False)
            except (InvalidURI, ConfigurationError, ValueError) as exc:
                raise ValueError(f'mongodb transport: invalid URL: {exc}') from None
        vhost = conninfo.virtual_host
        database = parsed.get('database') or (vhost if vhost not in (None, '', '/') else None) \
            or options.default_database
        kwargs: dict[str, Any] = {}
        if conninfo.userid and not parsed.get('username'):
            kwargs.update(username=conninfo.userid, password=conninfo.password)
        url_options = {k.lower() for k in parsed.get('options') or {}}
        timeout = options.connect_timeout or conninfo.connect_timeout
        if timeout and 'connecttimeoutms' not in url_options:
            kwargs['connectTimeoutMS'] = int(timeout * 1000)
        if timeout and 'serverselectiontimeoutms' not in url_options:
            # Without it a dead server blocks every operation for 30 s.
            kwargs['serverSelectionTimeoutMS'] = int(timeout * 1000)
        if 'retrywrites' not in url_options:
            # A retried claim is not safe on a server that does not deduplicate the
            # retry (SecantusDB): let the error surface, recover_claims handles it.
            kwargs['retryWrites'] = False
        ssl = options.ssl if options.given('ssl') else conninfo.ssl
        if isinstance(ssl, Mapping):
            kwargs['tls'] = True
            kwargs.update(ssl)
        elif ssl:
            kwargs['tls'] = True
        return url, database, kwargs

    @property
    def database(self) -> Any:
        """The connection's database (connected on first use)."""
        if self._database is None:
            self._connect()
        return self._database

    def _connect(self) -> None:
        if MongoClient is None:
            raise ImportError('the MongoDB transport needs pymongo '
                              '(pip install "kombu[mongodb]")')
        url, database, kwargs = self.parse_uri()
        client = MongoClient(url, **kwargs)
        try:
            with errors('connect', database):
                client.admin.command('ping')
                version = client.server_info().get('version', '0')
        except BaseException:
            client.close()
            raise
        if tuple(int(p) for p in version.split('.')[:2] if p.isdigit()) < (3, 6):
            client.close()
            raise VersionMismatch(E_SERVER_VERSION.format(version))
        self._client, self._database = client, client[database]
        self._owned_by_this_process()
        self.recover_claims()

    def recover_claims(self) -> int:
        """Put back the messages this process was taking when a connection broke,
        and those of consumers that died while taking one; return how many."""
        messages = self._database[self.options.messages_collection]
        stale = (datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
                 - datetime.timedelta(seconds=STALE_CLAIM))
        count = 0
        self._claims_checked = time.monotonic()
        with errors('recover', self.options.messages_collection):
            for doc in messages.find({'queue': CLAIMED, '$or': [
                    {'claimed_by': CLAIM_TOKEN}, {'claimed_at': {'$lt': stale}}]}):
                result = messages.update_one(
                    {'_id': doc['_id'], 'queue': CLAIMED},
                    {'$set': {'queue': doc.get('claimed_from')},
                     '$unset': {'claimed_from': '', 'claimed_by': '', 'claimed_at': ''}})
                count += result.modified_count
        return count

    def _wait_for_messages(self, timeout: float, token: Any) -> None:
        # Idle: a good moment to put back the claims of consumers that died.
        if self._database is not None and \
                time.monotonic() - self._claims_checked > STALE_CLAIM / 2:
            self.recover_claims()
        stream = self._insert_stream()
        if stream is None:
            return super()._wait_for_messages(timeout, token)
        deadline = time.monotonic() + min(timeout, self.polling_interval or timeout)
        try:
            while time.monotonic() < deadline:
                if stream.try_next() is not None:
                    return  # something was published: look again now
        except PyMongoError:
            self._close_stream(supported=True)  # reopened next time

    def _insert_stream(self) -> Any:
        """A change stream of inserts into the message collections, to wake on.

        None where the server has none (a standalone mongod): then consumers poll
        every ``polling_interval``.
        """
        if self._stream is None and self._stream_supported and self._database is not None:
            names = [self.options.messages_collection, self.options.broadcast_collection]
            try:
                self._stream = self._database.watch(
                    [{'$match': {'operationType': 'insert', 'ns.coll': {'$in': names}}},
                     {'$project': {'fullDocument': 0}}],  # only that it happened
                    max_await_time_ms=STREAM_WAIT_MS)
            except PyMongoError:
                self._stream_supported = False
        return self._stream

    def _close_stream(self, supported: bool = True) -> None:
        stream, self._stream = self._stream, None
        self._stream_supported = supported
        if stream is not None:
            try:
                stream.close()
            except PyMongoError:  # pragma: no cover - the connection is gone anyway
                pass

    def _forget_client(self) -> None:
        self._client = self._database = self._stream = None
        self.tables.clear()
        self.policies.clear()

    def establish_connection(self) -> Transport:
        self.database  # noqa: B018 - connect now, so that errors surface here
        super().establish_connection()
        return self

    def close_connection(self, connection: Any) -> None:
        if self._forked():
            return self._abandon()
        try:
            super().close_connection(connection)
        finally:
            self._close_stream()
            client, self._client, self._database = self._client, None, None
            if client is not None:
                client.close()
            self.tables.clear()
            self.policies.clear()
            self.exchange_types.clear()

    def verify_connection(self, connection: Any) -> bool:
        return self._client is not None

    def driver_version(self) -> str:
        return pymongo.version if pymongo is not None else 'N/A'

    @classmethod
    def as_uri(cls, uri: str, include_password: bool = False, mask: str = '**') -> str:
        return uri if include_password else mask_url(uri, mask)
