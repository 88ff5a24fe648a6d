"""ZooKeeper transport (virtual), on the ``kazoo`` client.

Features
========
* Type: Virtual
* Supports Direct, Topic, Fanout, Headers: Yes (exchange tables live in ZooKeeper,
  so an exchange declared by one process routes for every other)
* Supports Priority: Yes (queues declared with ``x-max-priority``)
* Supports TTL: Yes (per-message ``expiration`` and queue ``x-message-ttl``,
  with dead-lettering, enforced by the virtual base when a message is read)

Connection String
=================
::

    zookeeper://HOST:PORT[,HOST2:PORT2...]/VHOST
    zookeeper://USER:PASSWORD@HOST:PORT/VHOST
    zookeeper://HOST:PORT/VHOST?session_timeout=5

Every host of the URL (and of ``;``-separated alternates) goes to one kazoo
client, which fails over between the members of the ensemble itself.  The port
defaults to 2181.  The virtual host is the root under which everything is
kept (as a chroot): ``zookeeper://zk1/prod`` keeps queue ``celery`` at
``/prod/celery``, the same znodes Kombu uses.  A user name and password
authenticate with the ``digest`` scheme; a node the server refuses raises
:class:`~kombu.exceptions.AccessRefused`.

Layout
======
* ``<vhost>/<queue>``: a queue; its children are the messages, named
  ``entry-<level>-<sequence>`` (a sequential znode: ``level`` is
  ``255 - priority``, so the sorted names are the delivery order), and its
  data is JSON with the queue's ``x-`` arguments and bindings.
* ``<vhost>/.kombu-exchanges/<exchange>``: the exchange's type and bindings
  (JSON, updated with compare-and-set on the znode version).

Queue and exchange names are percent-quoted where they contain ``/`` or
``%``.

Delivery
========
A consumer claims a message by deleting its znode: when several race for
one, exactly one wins.  When the connection is lost before the delete is
answered, the message read is delivered anyway (it comes again if the delete
was not applied), and a publish retried after a lost reply may store a
message twice: delivery is at least once.  As in Kombu, the message is then kept by the channel
until it is acknowledged, and unacknowledged messages go back to the head of
their queue when the channel closes (a process killed meanwhile loses them).
Consumers are woken by ZooKeeper child watches, not by polling.

Limits
======
A znode holds at most 1 MiB (ZooKeeper's ``jute.maxbuffer``): a message whose
JSON envelope is over 1,000,000 bytes is written in parts under
``<vhost>/.kombu-blobs/<id>/`` before its entry, which names them (Kombu's
transport cannot send such messages at all).  A message over
``max_message_size`` (64 MiB) raises :class:`~kombu.exceptions.LimitExceeded`
and is not sent.

Transport Options
=================
* ``session_timeout`` - ZooKeeper session timeout in seconds (default 10).
* ``max_message_size`` - largest envelope accepted, in bytes (default 64 MiB).
* ``connect_timeout`` (the connection's) - seconds to wait for the first connect.
"""
from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from queue import Empty
from typing import Any, Callable, ClassVar, Mapping, Sequence
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from kombu.brokerurl import mask_url
from kombu.exceptions import ConnectionError, LimitExceeded
from kombu.utils.json import dumps, loads

from . import virtual
from .virtual.errors import ErrorTranslator
from .virtual.exchange import ExchangeType
from .virtual.forksafe import ForkSafeTransport
from .virtual.options import TransportOptions
from .virtual.state import QueuePolicy

try:
    import kazoo
    from kazoo.client import KazooClient, KazooState
    from kazoo.exceptions import (
        AuthFailedError,
        BadVersionError,
        ConnectionClosedError,
        ConnectionLoss,
        NoAuthError,
        NodeExistsError,
        NoNodeError,
        NotEmptyError,
        OperationTimeoutError,
        SessionExpiredError,
        ZookeeperError,
    )
    from kazoo.handlers.threading import KazooTimeoutError
except ImportError:  # pragma: no cover - the client library is optional
    kazoo = KazooClient = KazooState = None  # type: ignore[assignment,misc]

    class _Missing(Exception):
        pass

    AuthFailedError = BadVersionError = ConnectionClosedError = _Missing  # type: ignore
    ConnectionLoss = NodeExistsError = NoAuthError = NoNodeError = _Missing  # type: ignore
    NotEmptyError = OperationTimeoutError = SessionExpiredError = _Missing  # type: ignore
    ZookeeperError = KazooTimeoutError = _Missing  # type: ignore

__all__ = ('DEFAULT_PORT', 'Channel', 'Transport', 'ZooKeeperOptions', 'parse_hosts')

DEFAULT_PORT = 2181

#: Parent of the exchange znodes, under the virtual host.
EXCHANGES = '.kombu-exchanges'

#: Parent of the parts of messages larger than one znode, under the virtual host.
BLOBS = '.kombu-blobs'

#: Largest part of a message kept in one znode (ZooKeeper's jute.maxbuffer is 1 MiB).
CHUNK_SIZE = 1_000_000

# Data of an entry whose message is in parts: the marker, then '<blob id>:<count>'.
_CHUNKED = '\x00kombu-chunks:'
_CHUNKED_BYTES = _CHUNKED.encode()

#: Message znodes are named ``entry-<level>-<sequence>``.
ENTRY = 'entry-'

# Names restored to the head of a queue: ``entry-<level>--<key>`` sorts before
# every sequential name of its level ('-' < '0') and later restores first.
_FRONT = 10 ** 20

# Errors after which a request may or may not have been applied.
_UNKNOWN_OUTCOME = (ConnectionLoss, SessionExpiredError, ConnectionClosedError,
                    OperationTimeoutError)

errors = ErrorTranslator(
    'zookeeper',
    connection=(ConnectionLoss, SessionExpiredError, ConnectionClosedError,
                KazooTimeoutError, OperationTimeoutError),
    auth=(NoAuthError, AuthFailedError),
    channel=(ZookeeperError,),
)


def _quote(name: str) -> str:
    """The znode name of a queue or exchange (names without '/' or '%' as they are)."""
    if '/' in name or '%' in name:
        name = quote(name, safe='')
    # '.' and '..' are not valid znode names; quote() never makes a lone '%'.
    return f'%{name}' if name in ('', '.', '..') else name


_Change = Callable[[dict[str, Any]], 'dict[str, Any] | None']


def _adding(key: str, item: list[str]) -> _Change:
    """A change for :meth:`Channel._update`: ``item`` appended to the list ``key``."""
    def change(data: dict[str, Any]) -> dict[str, Any] | None:
        items = data.setdefault(key, [])
        if item in items:
            return None
        items.append(item)
        return data
    return change


def _removing(key: str, item: list[str]) -> _Change:
    """A change for :meth:`Channel._update`: ``item`` taken out of the list ``key``."""
    def change(data: dict[str, Any]) -> dict[str, Any] | None:
        items = data.get(key) or []
        if item not in items:
            return None
        data[key] = [i for i in items if i != item]
        return data
    return change


def parse_hosts(url: str, alternates: Sequence[str] = (),
                default_port: int = DEFAULT_PORT) -> tuple[list[tuple[str, int]], str,
                                                            str | None, str | None]:
    """``(hosts, vhost, user, password)`` of a ``zookeeper://`` URL and its alternates."""
    hosts: list[tuple[str, int]] = []
    vhost = '/'
    user = password = None
    for n, text in enumerate([url, *alternates]):
        if '://' not in text:
            text = f'zookeeper://{text}'
        parts = urlsplit(text)
        netloc = parts.netloc
        if '@' in netloc:
            auth, netloc = netloc.rsplit('@', 1)
            if n == 0:
                name, _, secret = auth.partition(':')
                user, password = unquote(name) or None, unquote(secret) or None
        if n == 0 and parts.path not in ('', '/'):
            vhost = unquote(parts.path)
        for item in filter(None, (h.strip() for h in netloc.split(','))):
            host, port = _host_port(item, default_port)
            if (host, port) not in hosts:
                hosts.append((host, port))
    return hosts or [('localhost', default_port)], vhost, user, password


def _host_port(item: str, default_port: int) -> tuple[str, int]:
    if item.startswith('['):  # [IPv6]:port
        host, _, rest = item[1:].partition(']')
        port = rest[1:] if rest.startswith(':') else ''
    else:
        host, _, port = item.rpartition(':') if ':' in item else (item, '', '')
    try:
        return host, int(port) if port else default_port
    except ValueError:
        raise ValueError(f'zookeeper URL: invalid port in {item!r}') from None


@dataclasses.dataclass(frozen=True)
class ZooKeeperOptions(TransportOptions):
    """``transport_options`` of the ZooKeeper transport."""

    transport_name: ClassVar[str] = 'zookeeper'

    #: ZooKeeper session timeout, seconds (kazoo's ``timeout``).
    session_timeout: float = 10.0
    #: largest JSON envelope accepted by ``_put``, bytes (above 1,000,000 it is
    #: stored in parts).
    max_message_size: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require(self.session_timeout > 0, 'session_timeout must be > 0')
        self.require(self.max_message_size > 0, 'max_message_size must be > 0')


class Channel(virtual.Channel):
    """ZooKeeper channel."""

    Options = ZooKeeperOptions
    options: ZooKeeperOptions

    supports_fanout = True
    #: tables come from ZooKeeper; routes are memoized until a watch says they changed.
    cache_routes = True
    max_priority = 255

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        # queue -> message names listed but not claimed yet (FIFO queues only)
        self._listing: dict[str, list[str]] = {}
        self._front_key = 0

    @property
    def client(self) -> Any:
        """The connection's started :class:`kazoo.client.KazooClient`."""
        return self.connection.zk

    # -- paths ---------------------------------------------------------------

    def _queue_path(self, queue: str) -> str:
        return f'{self.connection.root}/{_quote(queue)}'

    def _exchange_path(self, exchange: str) -> str:
        return f'{self.connection.root}/{EXCHANGES}/{_quote(exchange)}'

    # -- shared metadata: queue arguments, exchange declarations and tables ---

    def _exchange_decl(self, exchange: str) -> dict[str, Any] | None:
        return self.connection.read_json(self._exchange_path(exchange), exchange=exchange)

    def _queue_meta(self, queue: str) -> dict[str, Any] | None:
        return self.connection.read_json(self._queue_path(queue))

    def _update(self, path: str, change: Callable[[dict[str, Any]], dict[str, Any] | None],
                initial: dict[str, Any] | None, operation: str, name: str) -> None:
        """Apply ``change(data)`` to the JSON of ``path`` with compare-and-set.

        ``change`` returns None for "nothing to do".  A missing znode is created
        from ``initial`` (None: leave it missing).
        """
        zk = self.client
        with errors(operation, name):
            while True:
                try:
                    raw, stat = zk.get(path)
                except NoNodeError:
                    if initial is None:
                        return
                    new = change(dict(initial))
                    try:
                        zk.create(path, dumps(new if new is not None else initial).encode(),
                                  makepath=True)
                    except NodeExistsError:
                        continue
                    break
                data = loads(raw) if raw else {}
                new = change(data)
                if new is None:
                    return
                try:
                    zk.set(path, dumps(new).encode(), version=stat.version)
                except BadVersionError:
                    continue  # changed meanwhile: apply to the new version
                break
        self.connection.forget(path)

    def exchange_declare(self, exchange: str | None = None, type: str = 'direct',
                         durable: bool = False, auto_delete: bool = False,
                         arguments: Mapping[str, Any] | None = None,
                         nowait: bool = False, passive: bool = False) -> None:
        name = exchange or f'amq.{type or "direct"}'
        if passive and name not in self.state.exchanges:
            decl = self._exchange_decl(name)
            if decl is not None:
                self._adopt(name, decl)
        super().exchange_declare(exchange, type, durable, auto_delete, arguments,
                                 nowait, passive)
        if passive:
            return
        local = self.state.exchanges[name]
        initial = {'type': local['type'], 'durable': local['durable'],
                   'auto_delete': local['auto_delete'],
                   'arguments': dict(local['arguments']), 'table': []}
        self._update(self._exchange_path(name), lambda data: None, initial,
                     'exchange_declare', name)

    def _adopt(self, exchange: str, decl: Mapping[str, Any]) -> None:
        """Know an exchange another process declared (type, flags) in this connection."""
        with self.state.lock:
            self.state.exchanges.setdefault(exchange, {
                'type': decl.get('type') or 'direct', 'durable': decl.get('durable', False),
                'auto_delete': decl.get('auto_delete', False),
                'arguments': decl.get('arguments') or {}, 'table': []})

    def exchange_delete(self, exchange: str, if_unused: bool = False,
                        nowait: bool = False) -> None:
        if if_unused and self.get_table(exchange):
            return
        super().exchange_delete(exchange, if_unused, nowait)
        path = self._exchange_path(exchange)
        with errors('exchange_delete', exchange):
            try:
                self.client.delete(path)
            except NoNodeError:
                pass
        self.connection.forget(path)

    def get_table(self, exchange: str) -> list[tuple[str, str, str]]:
        decl = self._exchange_decl(exchange)
        if decl is None:
            return []
        return [tuple(entry) for entry in decl.get('table') or ()]  # type: ignore[misc]

    def typeof(self, exchange: str, default: str = 'direct') -> ExchangeType:
        if exchange in self.state.exchanges:
            return super().typeof(exchange, default)
        decl = self._exchange_decl(exchange) if exchange else None
        return self.exchange_types[(decl or {}).get('type') or default]

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        local = self.state.exchanges.get(exchange) or {}
        initial = {'type': local.get('type', 'direct'), 'table': []}
        self._update(self._exchange_path(exchange),
                     _adding('table', [routing_key or '', pattern or '', queue or '']),
                     initial, 'queue_bind', exchange)
        # The queue remembers its bindings, so deleting it from any process unbinds it.
        self._update(self._queue_path(queue),
                     _adding('bindings', [exchange, routing_key or '', pattern or '']),
                     {}, 'queue_bind', queue)

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        self._update(self._exchange_path(exchange),
                     _removing('table', [routing_key or '', pattern or '', queue or '']),
                     None, 'queue_unbind', exchange)
        self._update(self._queue_path(queue),
                     _removing('bindings', [exchange, routing_key or '', pattern or '']),
                     None, 'queue_unbind', queue)

    def _queue_policy(self, queue: str) -> QueuePolicy | None:
        policy = self.state.policies.get(queue)
        if policy is None:
            meta = self._queue_meta(queue)
            if meta and meta.get('arguments'):
                policy = QueuePolicy.from_arguments(meta['arguments'])
        return policy

    # -- queues --------------------------------------------------------------

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        arguments = dict(kwargs.get('arguments') or {})

        def set_arguments(data: dict[str, Any]) -> dict[str, Any] | None:
            if not arguments or data.get('arguments') == arguments:
                return None
            data['arguments'] = arguments
            return data

        self._update(self._queue_path(queue), set_arguments, {'arguments': arguments},
                     'queue_declare', queue)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        with errors('queue_declare', queue):
            return self.client.exists(self._queue_path(queue)) is not None

    def _size(self, queue: str) -> int:
        with errors('queue_size', queue):
            stat = self.client.exists(self._queue_path(queue))
        return stat.numChildren if stat is not None else 0

    def _purge(self, queue: str) -> int:
        path = self._queue_path(queue)
        self._listing.pop(queue, None)
        zk = self.client
        count = 0
        with errors('queue_purge', queue):
            try:
                names = zk.get_children(path)
            except NoNodeError:
                return 0
            for name in names:
                if not name.startswith(ENTRY):
                    continue
                try:
                    zk.delete(f'{path}/{name}')
                except NoNodeError:
                    continue  # consumed meanwhile
                count += 1
        return count

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        meta = self._queue_meta(queue) or {}
        for exchange, routing_key, pattern in meta.get('bindings') or ():
            self._queue_unbind(exchange, routing_key, pattern, queue)
        if len(args) >= 3:
            exchange, routing_key, pattern = args[:3]
            self._queue_unbind(exchange, routing_key, pattern, queue)
        path = self._queue_path(queue)
        self._listing.pop(queue, None)
        with errors('queue_delete', queue):
            try:
                self.client.delete(path, recursive=True)
            except (NoNodeError, NotEmptyError):
                pass  # gone already / a publisher raced us: nothing more to do
        self.connection.forget(path)

    # -- messages ------------------------------------------------------------

    def _encode(self, queue: str, message: dict[str, Any]) -> tuple[bytes, int]:
        data = dumps(message).encode()
        limit = self.options.max_message_size
        if len(data) > limit:
            raise LimitExceeded(
                f'message of {len(data)} bytes for queue {queue!r} is over the '
                f'max_message_size of {limit} bytes')
        level = self.max_priority - self._queue_priority(self._queue_policy(queue), message)
        return data, level

    def _create(self, queue: str, name: str, data: bytes, sequence: bool) -> None:
        path = self._queue_path(queue)
        zk = self.client
        with errors('publish', queue):
            if len(data) > CHUNK_SIZE:
                data = self._store_chunks(data)
            try:
                zk.create(f'{path}/{name}', data, sequence=sequence)
            except NoNodeError:  # first message of an undeclared queue (as in Kombu)
                zk.create(f'{path}/{name}', data, sequence=sequence, makepath=True)

    # A message larger than a znode takes: its parts are written first under
    # <vhost>/.kombu-blobs/<id>/, then the entry, which names them.

    def _store_chunks(self, data: bytes) -> bytes:
        blob = uuid.uuid4().hex
        path = f'{self.connection.root}/{BLOBS}/{blob}'
        zk = self.client
        count = 0
        for count, offset in enumerate(range(0, len(data), CHUNK_SIZE), 1):
            zk.create(f'{path}/{count - 1:06d}', data[offset:offset + CHUNK_SIZE],
                      makepath=True)
        return f'{_CHUNKED}{blob}:{count}'.encode()

    def _load(self, data: bytes) -> tuple[dict[str, Any], str | None] | None:
        """``(message, blob path)`` of an entry's data; None if its parts are gone."""
        if not data.startswith(_CHUNKED_BYTES):
            return loads(data), None
        blob, _, count = data[len(_CHUNKED_BYTES):].decode().partition(':')
        path = f'{self.connection.root}/{BLOBS}/{blob}'
        try:
            parts = [self.client.get(f'{path}/{n:06d}')[0] for n in range(int(count))]
        except NoNodeError:
            return None  # taken meanwhile by another consumer, which removes the parts
        return loads(b''.join(parts)), path

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        data, level = self._encode(queue, message)
        self._create(queue, f'{ENTRY}{level:03d}-', data, sequence=True)

    def _put_front(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        data, level = self._encode(queue, message)
        key = max(time.time_ns(), self._front_key + 1)
        self._front_key = key
        self._listing.pop(queue, None)
        self._create(queue, f'{ENTRY}{level:03d}--{_FRONT - key // 1000:020d}'
                            f'-{uuid.uuid4().hex[:8]}', data, sequence=False)

    def _list(self, queue: str) -> list[str]:
        """The queue's message names in delivery order; sets a wake-up watch."""
        with errors('consume', queue):
            try:
                names = self.client.get_children(
                    self._queue_path(queue), watch=self.connection.on_queue_event)
            except NoNodeError:
                return []
        names = [n for n in names if n.startswith(ENTRY)]
        names.sort(reverse=True)  # pop() from the end gives the next one
        return names

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        names = self._listing.get(queue)
        if names:
            message = self._claim_next(queue, names)
            if message is not None:
                return message
        # Nothing listed, or other consumers took every listed message: list again.
        names = self._list(queue)
        policy = self._queue_policy(queue)
        if policy is None or not policy.max_priority:
            # Priority queues list every time, so a new urgent message is seen.
            self._listing[queue] = names
        message = self._claim_next(queue, names)
        if message is None:
            raise Empty()
        return message

    def _claim_next(self, queue: str, names: list[str]) -> dict[str, Any] | None:
        path = self._queue_path(queue)
        zk = self.client
        with errors('consume', queue):
            while names:
                node = f'{path}/{names.pop()}'
                try:
                    data, _ = zk.get(node)
                except NoNodeError:
                    continue
                loaded = self._load(data)  # read before the claim: nothing to lose after
                if loaded is None:
                    continue
                message, blob = loaded
                try:
                    zk.delete(node)  # the claim: one of the racing consumers wins
                except NoNodeError:
                    continue
                except _UNKNOWN_OUTCOME:
                    # The connection went with the reply: the delete may have been
                    # applied.  Deliver what we read rather than lose it (if the
                    # delete was not applied the message comes again: at least once).
                    return message
                if blob is not None:
                    try:
                        zk.delete(blob, recursive=True)
                    except (NoNodeError, *_UNKNOWN_OUTCOME):
                        pass  # a leftover costs space only
                return message
        return None


class Transport(ForkSafeTransport, virtual.Transport):
    """ZooKeeper transport."""

    Channel = Channel

    polling_interval: float = 1
    default_port = DEFAULT_PORT
    can_parse_url = True
    driver_type = 'zookeeper'
    driver_name = 'kazoo'

    connection_errors = errors.connection_errors
    channel_errors = errors.channel_errors

    implements = virtual.Transport.implements.extend(
        exchange_type=frozenset(['direct', 'topic', 'fanout', 'headers']))

    options: ZooKeeperOptions

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        url = client.hostname or 'localhost'
        self.hosts, vhost, self.userid, self.password = parse_hosts(
            url, list(client.alt or ()), self.default_port)
        if client.userid and not self.userid:
            self.userid, self.password = client.userid, client.password
        vhost = vhost if vhost != '/' else (client.virtual_host or '/')
        query = urlsplit(url).query if '://' in url else ''
        if query:  # ?session_timeout=5: options from the URL, transport_options win
            self.options = self.Channel.Options.from_transport_options(
                client.transport_options, query=dict(parse_qsl(query)),
                extra_known=self.Channel.from_transport_options)
            if self.options.polling_interval is not None:
                self.polling_interval = self.options.polling_interval
        #: path prefix of every znode (the virtual host), '' for '/'.
        self.root = '/' + vhost.strip('/') if vhost.strip('/') else ''
        self._zk: Any = None
        self._cache: dict[str, Any] = {}
        self._cache_exchanges: dict[str, str] = {}
        self._cache_lock = threading.Lock()
        self._wake = threading.Condition()
        self._generation = 0

    # -- the client ----------------------------------------------------------

    @property
    def zk(self) -> Any:
        """The started kazoo client (started on first use)."""
        if self._zk is None:
            self._zk = self._connect()
        return self._zk

    def _connect(self) -> Any:
        if KazooClient is None:
            raise ImportError('the ZooKeeper transport needs kazoo '
                              '(pip install "kombu[zookeeper]")')
        auth = [('digest', f'{self.userid}:{self.password or ""}')] if self.userid else None
        hosts = ','.join(f'[{h}]:{p}' if ':' in h else f'{h}:{p}' for h, p in self.hosts)
        zk = KazooClient(hosts=hosts, timeout=self.options.session_timeout, auth_data=auth)
        timeout = self.client.connect_timeout or 15
        try:
            with errors('connect', hosts):
                zk.start(timeout=timeout)
        except ConnectionError:
            self._discard(zk)
            raise
        except Exception as exc:
            self._discard(zk)
            translated = errors.translate(exc, 'connect', hosts)
            if translated is None:
                raise
            raise translated from exc
        zk.add_listener(self._on_state)
        self._owned_by_this_process()
        if self.root:
            with errors('connect', hosts):
                zk.ensure_path(self.root)
        return zk

    @staticmethod
    def _discard(zk: Any) -> None:
        try:
            zk.stop()
            zk.close()
        except Exception:  # pragma: no cover - already broken
            pass

    def _forget_client(self) -> None:
        self._zk = None
        self._clear_cache()

    def establish_connection(self) -> Transport:
        self.zk  # noqa: B018 - connect now, so that errors surface here
        super().establish_connection()
        return self

    def close_connection(self, connection: Any) -> None:
        if self._forked():
            return self._abandon()
        try:
            super().close_connection(connection)
        finally:
            zk, self._zk = self._zk, None
            if zk is not None:
                self._discard(zk)
            self._clear_cache()

    def verify_connection(self, connection: Any) -> bool:
        return self._zk is not None and self._zk.connected

    def driver_version(self) -> str:
        return kazoo.version.__version__ if kazoo is not None else 'N/A'

    @classmethod
    def as_uri(cls, uri: str, include_password: bool = False, mask: str = '**') -> str:
        return uri if include_password else mask_url(uri, mask)

    # -- watched metadata (read by channels) ----------------------------------

    def read_json(self, path: str, exchange: str | None = None) -> Any:
        """The JSON of ``path`` (None if missing), cached until a watch fires."""
        cache = self._cache
        with self._cache_lock:
            if path in cache and cache[path] is not _PENDING:
                return cache[path]
            cache[path] = _PENDING
            if exchange is not None:
                self._cache_exchanges[path] = exchange
        zk = self.zk
        with errors('read', path):
            try:
                raw, _ = zk.get(path, watch=self._on_node_event)
                value = loads(raw) if raw else {}
            except NoNodeError:
                value = None
                if zk.exists(path, watch=self._on_node_event) is not None:
                    self.forget(path)  # created meanwhile: read again next time
                    return None
        with self._cache_lock:
            # A watch that fired meanwhile removed the marker: do not keep the value.
            if cache.get(path) is _PENDING:
                cache[path] = value
        return value

    def forget(self, path: str) -> None:
        """Drop the cached JSON of ``path`` (and the routes of its exchange)."""
        with self._cache_lock:
            self._cache.pop(path, None)
            exchange = self._cache_exchanges.pop(path, None)
        if exchange is not None:
            self.state.invalidate_routes(exchange)

    def _clear_cache(self) -> None:
        with self._cache_lock:
            exchanges = list(self._cache_exchanges.values())
            self._cache.clear()
            self._cache_exchanges.clear()
        for exchange in exchanges:
            self.state.invalidate_routes(exchange)

    def _on_node_event(self, event: Any) -> None:
        self.forget(event.path)

    def _on_state(self, state: Any) -> None:
        if state == KazooState.LOST:  # the session's watches are gone with it
            self._clear_cache()
        self.on_queue_event(None)

    # -- waking consumers -----------------------------------------------------

    def on_queue_event(self, event: Any) -> None:
        """A watched queue changed: wake a waiting ``drain_events``."""
        with self._wake:
            self._generation += 1
            self._wake.notify_all()

    def _wakeup_token(self) -> Any:
        return self._generation

    def _wait_for_messages(self, timeout: float, token: Any) -> None:
        # Woken by a child watch; the polling interval bounds the wait anyway.
        limit = min(timeout, self.polling_interval or timeout)
        with self._wake:
            if self._generation == token:
                self._wake.wait(limit)


_PENDING = object()
