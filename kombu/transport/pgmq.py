"""PGMQ transport (virtual): queues of the PostgreSQL Message Queue, through the ``pgmq`` client.

Features
========
* Type: Virtual
* Supports Direct: Yes
* Supports Topic: Yes
* Supports Fanout: Yes (PGMQ topic routing: ``send_topic`` to ``kombu.fanout.<exchange>``)
* Supports Priority: No
* Supports TTL: Yes (per-message ``expiration`` and queue ``x-message-ttl``,
  applied by the virtual base when a message is read)

A read makes a message invisible for ``visibility_timeout`` seconds; an ack
deletes it; a requeue, or a channel closing with it unacknowledged, makes it
visible again at once in its old place (``set_vt`` 0), and a message read more
than once is marked redelivered.  A consumer that dies leaves its messages to
reappear after the timeout.  ``no_ack`` consumers ``pop`` (read and delete).

The conformance suite (``t/integration/test_conformance_pgmq.py``, against a
real PostgreSQL with PGMQ's SQL installed from the ``pgmq`` package) proves:
publish/consume/ack, ``basic_get``, reject, requeue in place with the
redelivered flag, purge, queue size, several queues per consumer, cancel,
prefetch, ``no_ack``, unacked messages given back when a channel or connection
closes, direct, topic and fanout routing (fanout across connections), unbind,
1 MiB messages in order, message expiration and queue TTL with dead-lettering,
dead-lettering on reject.

Connection String
=================
::

    pgmq://USER:PASSWORD@HOST:PORT/DATABASE

``conn_string`` (a libpq connection string) overrides the URL's parts.

Errors
======
Calls into psycopg are translated at the boundary
(:class:`~kombu.transport.virtual.errors.ErrorTranslator`): a lost or refused
connection (``OperationalError``, ``InterfaceError``, a pool timeout) is a
:class:`~kombu.exceptions.ConnectionError`, a missing privilege or failed
password :class:`~kombu.exceptions.AccessRefused`, a missing queue table a
``ChannelError`` with code 404, any other database error a ``ChannelError``.

Transport Options
=================
Kombu's names and defaults: ``queue_name_prefix`` (``''``), ``visibility_timeout``
(1800), ``init_extension`` (True: ``CREATE EXTENSION pgmq`` on connect; False where
the SQL was installed without the extension), ``pool_size`` (10), ``conn_string``
(None), ``fifo_mode`` (None, ``'grouped'`` or ``'round_robin'``).  Reads do not
long-poll (``drain_events`` keeps its timeout; an empty queue is polled every
``polling_interval`` seconds, default 1): ``wait_time_seconds`` (10, alias
``max_poll_seconds``), ``poll_interval_ms`` (100), ``use_notify`` (False) and
``notify_throttle_interval_ms`` (250) are accepted and checked but not used yet.
"""
from __future__ import annotations

import dataclasses
import string
import threading
import uuid
import warnings
from queue import Empty
from typing import Any, ClassVar

from kombu.utils.url import as_url, parse_url

from . import virtual
from .virtual.errors import ErrorTranslator
from .virtual.exchange import TopicExchange
from .virtual.message import as_envelope, corrupt_envelope
from .virtual.options import TransportOptions
from .virtual.settle import SettleOnAckMixin

try:
    import psycopg
    from pgmq import PGMQueue
    from psycopg_pool import PoolTimeout
except ImportError:  # pragma: no cover - the client library is optional
    psycopg = None  # type: ignore[assignment]
    PGMQueue = None  # type: ignore[misc,assignment]

    class PoolTimeout(Exception):  # type: ignore[no-redef]
        """Stands in for psycopg_pool's timeout when it is not installed."""

__all__ = ('CHARS_REPLACE_TABLE', 'PUNCTUATIONS_TO_REPLACE', 'PGMQTopicExchange',
           'Channel', 'Transport')

DEFAULT_PORT = 5432
#: most messages one read takes.
PGMQ_MAX_MESSAGES = 10
#: topic key prefix of fanout exchanges in PGMQ's topic routing.
FANOUT_TOPIC_PREFIX = 'kombu.fanout'
#: PGMQ queue names are letters, digits and underscores.
PUNCTUATIONS_TO_REPLACE = set(string.punctuation) - {'_'}
CHARS_REPLACE_TABLE = {ord(c): ord('_') for c in PUNCTUATIONS_TO_REPLACE}
FIFO_READ_METHODS = {'grouped': 'read_grouped', 'round_robin': 'read_grouped_rr'}
#: Kombu's topic key prefix of topic exchanges (routed in the client here).
TOPIC_PREFIX = ''


def _types(*names: str) -> tuple[type[BaseException], ...]:
    if psycopg is None:
        return ()
    return tuple(getattr(psycopg.errors, n) for n in names)


errors = ErrorTranslator(
    'pgmq',
    connection=((psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
                if psycopg is not None else ()),
    auth=_types('InsufficientPrivilege', 'InvalidPassword', 'InvalidAuthorizationSpecification'),
    not_found=_types('UndefinedTable'),
    channel=(psycopg.Error,) if psycopg is not None else (),
)


class PGMQTopicExchange(TopicExchange):
    """Topic exchange (routed by the virtual base; the name is Kombu's)."""


@dataclasses.dataclass(frozen=True)
class PGMQOptions(TransportOptions):
    """``transport_options`` of the PGMQ transport (Kombu's names and defaults)."""

    transport_name: ClassVar[str] = 'pgmq'
    secret_fields: ClassVar[frozenset[str]] = frozenset({'conn_string'})
    aliases: ClassVar[dict[str, str]] = {'max_poll_seconds': 'wait_time_seconds'}

    queue_name_prefix: str = ''
    visibility_timeout: int = 1800
    wait_time_seconds: int = 10
    poll_interval_ms: int = 100
    init_extension: bool = True
    pool_size: int = 10
    conn_string: str | None = None
    fifo_mode: str | None = None
    use_notify: bool = False
    notify_throttle_interval_ms: int = 250

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require(self.visibility_timeout >= 1, 'visibility_timeout must be >= 1')
        self.require(self.wait_time_seconds >= 0, 'wait_time_seconds must be >= 0')
        self.require(self.pool_size >= 1, 'pool_size must be >= 1')
        self.require(self.fifo_mode is None or self.fifo_mode in FIFO_READ_METHODS,
                     f'fifo_mode must be one of {sorted(FIFO_READ_METHODS)}, '
                     f'not {self.fifo_mode!r}')


class Channel(SettleOnAckMixin, virtual.Channel):
    """PGMQ channel."""

    Options = PGMQOptions
    options: PGMQOptions

    supports_fanout = True
    exchange_types = {**virtual.Channel.exchange_types, 'topic': PGMQTopicExchange}

    default_visibility_timeout = 1800
    default_wait_time_seconds = 10
    default_init_extension = True
    default_pool_size = 10
    default_poll_interval_ms = 100
    default_notify_throttle_interval_ms = 250

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if PGMQueue is None:
            raise ImportError('the PGMQ transport needs pgmq (pip install "kombu[pgmq]")')
        self._noack_queues: set[str] = set()
        #: delivery tag -> (PGMQ queue name, msg_id) of a message held unacked.
        self._held: dict[Any, tuple[str, int]] = {}
        self._held_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    # -- names -------------------------------------------------------------

    def entity_name(self, name: str, table: dict[int, int] = CHARS_REPLACE_TABLE) -> str:
        return str(name).translate(table)

    def canonical_queue_name(self, queue_name: str) -> str:
        """The PGMQ queue name of a Kombu queue (prefixed, punctuation replaced)."""
        return self.entity_name(self.queue_name_prefix + queue_name)

    def _fanout_key(self, exchange: str) -> str:
        return f'{FANOUT_TOPIC_PREFIX}.{self.entity_name(exchange)}'

    # -- queues ------------------------------------------------------------

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        name = self.canonical_queue_name(queue)
        with errors('create queue', queue):
            self.pgmq.create_queue(name)
            if self.options.fifo_mode:
                self.pgmq.create_fifo_index(name)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        name = self.canonical_queue_name(queue)
        with errors('list queues', queue), warnings.catch_warnings():
            warnings.simplefilter('ignore', UserWarning)   # the client's API change notice
            return any(getattr(record, 'queue_name', record) == name
                       for record in self.pgmq.list_queues())

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        if not self._has_queue(queue):
            return
        with errors('drop queue', queue):
            self.pgmq.drop_queue(self.canonical_queue_name(queue))

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        if self.typeof(exchange).type != 'fanout':
            return   # direct and topic exchanges route in the client
        self._new_queue(queue)
        with errors('bind', queue):
            self.pgmq.bind_topic(self._fanout_key(exchange), self.canonical_queue_name(queue))

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        if self.typeof(exchange).type != 'fanout':
            return
        with errors('unbind', queue):
            self.pgmq.unbind_topic(self._fanout_key(exchange),
                                   self.canonical_queue_name(queue))

    # -- messages ----------------------------------------------------------

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        with errors('send', queue):
            self.pgmq.send(self.canonical_queue_name(queue), message)

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str,
                    **kwargs: Any) -> None:
        # PGMQ copies the message to every queue bound to the key, in any process.
        with errors('send_topic', exchange):
            self.pgmq.send_topic(self._fanout_key(exchange), message)

    def _read(self, queue: str, qty: int) -> list[Any]:
        name = self.canonical_queue_name(queue)
        with errors('read', queue):
            if queue in self._noack_queues:
                result = self.pgmq.pop(name, qty=qty)
            elif self.options.fifo_mode:
                read = getattr(self.pgmq, FIFO_READ_METHODS[self.options.fifo_mode])
                result = read(name, vt=self.visibility_timeout, qty=qty)
            else:
                result = self.pgmq.read(name, vt=self.visibility_timeout, qty=qty)
        if result is None:
            return []
        return result if isinstance(result, list) else [result]

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        records = self._read(queue, 1)
        if not records:
            raise Empty()
        return self._hold(queue, records[0])

    def _hold(self, queue: str, record: Any) -> dict[str, Any]:
        payload = record.message
        try:
            envelope = as_envelope(payload)
        except ValueError as exc:   # stored, but not an envelope: on_decode_error gets it
            return corrupt_envelope(payload, f'not a message envelope: {exc}')
        props = envelope['properties']
        if queue in self._noack_queues:
            return envelope   # popped: nothing to settle
        tag = uuid.uuid4().hex   # one per read: two reads of a message never share a tag
        props['delivery_tag'] = tag
        if getattr(record, 'read_ct', 1) > 1:   # read before and given back or timed out
            envelope['redelivered'] = True
            props.setdefault('delivery_info', {})['redelivered'] = True
        with self._held_lock:
            self._held[tag] = (self.canonical_queue_name(queue), record.msg_id)
        return envelope

    def _settle(self, delivery_tag: Any, action: str = 'complete') -> None:
        """Delete the message (acknowledged, rejected or expired), or give it back."""
        with self._held_lock:
            held = self._held.pop(delivery_tag, None)
        if held is None:
            return
        name, msg_id = held
        with errors('delete' if action == 'complete' else 'set_vt', name):
            if action == 'complete':
                self.pgmq.delete(name, msg_id)
            else:
                self.pgmq.set_vt(name, msg_id, 0)

    def _restore(self, message: Any) -> None:
        with self._held_lock:
            held = message.delivery_tag in self._held
        if not held:   # not read by this channel: publish it again
            super()._restore(message)
            return
        self._settle(message.delivery_tag, action='give back')   # visible again, in place

    def _size(self, queue: str) -> int:
        with errors('metrics', queue):
            metrics = self.pgmq.metrics(self.canonical_queue_name(queue))
        visible = getattr(metrics, 'queue_visible_length', None)
        return int(metrics.queue_length if visible is None else visible)

    def _purge(self, queue: str) -> int:
        with errors('purge', queue):
            return int(self.pgmq.purge(self.canonical_queue_name(queue)) or 0)

    # -- clients and options -------------------------------------------------

    @property
    def pgmq(self) -> Any:
        return self.connection._get_pgmq_client()

    @property
    def conninfo(self) -> Any:
        return self.connection.client

    @property
    def queue_name_prefix(self) -> str:
        return self.options.queue_name_prefix

    @property
    def visibility_timeout(self) -> int:
        return self.options.visibility_timeout

    @property
    def wait_time_seconds(self) -> int:
        return self.options.wait_time_seconds

    @property
    def init_extension(self) -> bool:
        return self.options.init_extension

    @property
    def pool_size(self) -> int:
        return self.options.pool_size

    @property
    def poll_interval_ms(self) -> int:
        return self.options.poll_interval_ms

    @property
    def fifo_mode(self) -> str | None:
        return self.options.fifo_mode

    @property
    def use_notify(self) -> bool:
        return self.options.use_notify

    @property
    def notify_throttle_interval_ms(self) -> int:
        return self.options.notify_throttle_interval_ms


_PGMQChannel = Channel


class Transport(virtual.Transport):
    """PGMQ transport."""

    Channel = Channel
    options: PGMQOptions

    can_parse_url = False
    default_port = DEFAULT_PORT
    polling_interval: float = 1.0
    driver_type = 'pgmq'
    driver_name = 'pgmq'
    connection_errors = errors.connection_errors
    channel_errors = errors.channel_errors
    implements = virtual.Transport.implements.extend(
        exchange_type=frozenset(['direct', 'topic', 'fanout']))

    def __init__(self, client: Any, **kwargs: Any) -> None:
        if PGMQueue is None:
            raise ImportError('the PGMQ transport needs pgmq (pip install "kombu[pgmq]")')
        super().__init__(client, **kwargs)
        self._pgmq_client: Any = None

    def _get_pgmq_client(self) -> Any:
        if self._pgmq_client is None:
            options = self.options
            common: dict[str, Any] = {'vt': options.visibility_timeout,
                                      'pool_size': options.pool_size,
                                      'init_extension': options.init_extension}
            with errors('connect'):
                if options.conn_string:
                    self._pgmq_client = PGMQueue(conn_string=options.conn_string, **common)
                else:
                    conninfo = self.client
                    database = (conninfo.virtual_host or '').strip('/') or 'postgres'
                    self._pgmq_client = PGMQueue(
                        host=conninfo.hostname or 'localhost',
                        port=str(conninfo.port or DEFAULT_PORT), database=database,
                        username=conninfo.userid or 'postgres',
                        password=conninfo.password or '', **common)
        return self._pgmq_client

    def verify_connection(self, connection: Any) -> bool:
        try:
            with errors('connect'), warnings.catch_warnings():
                warnings.simplefilter('ignore', UserWarning)
                self._get_pgmq_client().list_queues()
        except Exception:
            return False
        return True

    def establish_connection(self) -> Any:
        with errors('connect'), warnings.catch_warnings():
            warnings.simplefilter('ignore', UserWarning)
            self._get_pgmq_client().list_queues()   # fails here, typed, if unreachable
        return super().establish_connection()

    def close_connection(self, connection: Any) -> None:
        try:
            super().close_connection(connection)
        finally:
            client, self._pgmq_client = self._pgmq_client, None
            pool = getattr(client, 'pool', None)
            if pool is not None:
                pool.close()

    def driver_version(self) -> str:
        from importlib import metadata
        try:
            return metadata.version('pgmq')
        except metadata.PackageNotFoundError:  # pragma: no cover
            return 'N/A'

    @classmethod
    def as_uri(cls, uri: str, include_password: bool = False, mask: str = '**') -> str:
        if '://' not in uri:
            return uri
        params = parse_url(uri)
        password = params['password'] if include_password else (mask if params['password']
                                                                 else None)
        return as_url('pgmq', params['hostname'], params['port'] or cls.default_port,
                      params['userid'], password, params['virtual_host'])
