"""PGMQ transport (virtual): queues of the PostgreSQL Message Queue, through the ``pgmq`` client.

Features
========
* Type: Virtual
* Supports Direct: Yes
* Supports Topic: Yes (PGMQ topic routing under ``kombu.topic.<exchange>``; bindings
  or keys PGMQ refuses are routed in the client)
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
dead-lettering on reject; all of it again with ``use_notify``.

Waiting for messages
====================
A consumer that finds its queues empty waits in PostgreSQL, not in a sleep
loop: ``read_with_poll`` (up to ``wait_time_seconds``, checking every
``poll_interval_ms``; a shorter ``drain_events`` timeout is kept by a
``statement_timeout``), one queue at a time, each for at most a second when
several are consumed.  With ``use_notify`` it LISTENs instead
(:mod:`kombu.transport.pgmq.listener`): the queues get PGMQ's insert trigger
(``enable_notify_insert`` with ``notify_throttle_interval_ms``) and the
consumer blocks on the socket of one connection until a notification, reading
again at least every ``wait_time_seconds`` (messages whose visibility timeout
ran out send none).  ``wait_time_seconds`` 0 turns long polls off: an empty
queue is then read every ``polling_interval`` seconds (with ``use_notify``,
besides the notifications).  ``basic_get`` never waits.  With ``use_notify`` the
transport is evented: in a Hub the LISTEN socket is a reader of the loop
(:mod:`kombu.transport.pgmq.eventloop`).

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
(None), ``fifo_mode`` (None, ``'grouped'`` or ``'round_robin'``),
``wait_time_seconds`` (10, alias ``max_poll_seconds``), ``poll_interval_ms`` (100),
``use_notify`` (False), ``notify_throttle_interval_ms`` (250), ``polling_interval``
(1, used with ``wait_time_seconds`` 0).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import logging
import math
import string
import threading
import uuid
import warnings
from collections import deque
from collections.abc import Iterator
from queue import Empty
from typing import Any, ClassVar

from kombu.utils.url import as_url, parse_url

from .. import virtual
from ..virtual.exchange import TopicExchange
from ..virtual.message import as_envelope, corrupt_envelope
from ..virtual.options import TransportOptions
from ..virtual.settle import SettleOnAckMixin
from ..virtual.ttl import EXPIRES_AT
from .errors import errors
from .eventloop import NotifyEventLoopMixin
from .listener import NotifyListener
from .topics import server_key, server_patterns

try:
    import psycopg
    from pgmq import PGMQueue
except ImportError:  # pragma: no cover - the client library is optional
    psycopg = None  # type: ignore[assignment]
    PGMQueue = None  # type: ignore[misc,assignment]

__all__ = ('CHARS_REPLACE_TABLE', 'PUNCTUATIONS_TO_REPLACE', 'PGMQTopicExchange',
           'Channel', 'Transport')

logger = logging.getLogger(__name__)

DEFAULT_PORT = 5432
#: most messages one read takes.
PGMQ_MAX_MESSAGES = 10
#: topic key prefix of fanout exchanges in PGMQ's topic routing.
FANOUT_TOPIC_PREFIX = 'kombu.fanout'
#: PGMQ queue names are letters, digits and underscores.
PUNCTUATIONS_TO_REPLACE = set(string.punctuation) - {'_'}
CHARS_REPLACE_TABLE = {ord(c): ord('_') for c in PUNCTUATIONS_TO_REPLACE}
FIFO_READ_METHODS = {'grouped': 'read_grouped', 'round_robin': 'read_grouped_rr'}
#: the long-polling variants of the reads (PGMQ's ``*_with_poll``).
POLL_READ_METHODS = {None: 'read_with_poll', 'grouped': 'read_grouped_with_poll',
                     'round_robin': 'read_grouped_rr_with_poll'}
#: topic key prefix of topic exchanges in PGMQ's topic routing.
TOPIC_PREFIX = 'kombu.topic'
#: server functions the optional features need (older PGMQ SQL lacks them).
FEATURE_FUNCTIONS = {'topic': 'pgmq.send_topic(text,jsonb)',
                     'notify': 'pgmq.enable_notify_insert(text,integer)'}
#: PGMQ's longest queue name (its table names must fit PostgreSQL's 63).
MAX_QUEUE_NAME = 47
#: seconds a long poll waits on one queue while several are consumed.
MULTI_QUEUE_POLL_SECONDS = 1


class PGMQTopicExchange(TopicExchange):
    """Topic exchange routed by PGMQ (``send_topic``) where it can be.

    Bindings PGMQ can express are bound in the server under the exchange's
    key prefix, so a publisher sees the bindings of every process; the rest
    (see :mod:`kombu.transport.pgmq.topics`), and every binding when the
    routing key itself cannot be sent, are routed from this process's table.
    """

    channel: Channel

    def deliver(self, message: dict[str, Any], exchange: str, routing_key: str,
                **kwargs: Any) -> None:
        channel = self.channel
        if not channel.server_topics:
            return super().deliver(message, exchange, routing_key, **kwargs)
        prefix = channel._topic_prefix(exchange)
        key = server_key(prefix, routing_key)
        matched = [(bkey, queue) for bkey, _, queue in channel.get_table(exchange)
                   if self._match(bkey, routing_key)]
        if key is None:   # PGMQ refuses the key: only the bindings known here
            return channel._put_routed(_unique(q for _, q in matched), message, **kwargs)
        by_server = {q for bkey, q in matched if server_patterns(prefix, bkey) is not None}
        rest = _unique(q for _, q in matched if q not in by_server)
        channel._put_topic(key, _copy_for_server(channel, message))
        if rest:
            channel._put_routed(rest, message, **kwargs)
        return None


@functools.lru_cache(maxsize=1024)
def _shortened(name: str) -> str:
    digest = hashlib.blake2b(name.encode(), digest_size=5).hexdigest()
    return f'{name[:MAX_QUEUE_NAME - len(digest) - 1]}_{digest}'


def _unique(queues: Iterator[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(queues))


def _stamp_queue_ttl(props: dict[str, Any], record: Any, ttl: float) -> None:
    # Messages PGMQ routed were stamped without the queue's x-message-ttl (the
    # publisher may not know the queue): the reader applies it from enqueued_at.
    enqueued = getattr(record, 'enqueued_at', None)
    if enqueued is None:
        return
    deadline = enqueued.timestamp() + ttl
    current = props.get(EXPIRES_AT)
    if current is None or deadline < current:
        props[EXPIRES_AT] = deadline


def _copy_for_server(channel: Channel, message: dict[str, Any]) -> dict[str, Any]:
    # A server-routed message reaches queues this process may not know: only
    # its own ``expiration`` is stamped here; a queue's x-message-ttl is applied
    # by the reader (_stamp_queue_ttl).
    props = message['properties']
    if 'expiration' not in props:
        return message
    copy = dict(message)
    copy['properties'] = dict(props)
    channel._stamp_expiry(copy['properties'], None)
    return copy


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
        # 0 would make read_with_poll spin in the server.
        self.require(self.poll_interval_ms >= 1, 'poll_interval_ms must be >= 1')
        self.require(self.notify_throttle_interval_ms >= 0,
                     'notify_throttle_interval_ms must be >= 0')
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
        #: queue -> records a long poll of the transport read, handed over next.
        self._ready: dict[str, deque[Any]] = {}
        super().__init__(*args, **kwargs)

    # -- names -------------------------------------------------------------

    def entity_name(self, name: str, table: dict[int, int] = CHARS_REPLACE_TABLE) -> str:
        return str(name).translate(table)

    def canonical_queue_name(self, queue_name: str) -> str:
        """The PGMQ queue name of a Kombu queue (prefixed, punctuation replaced).

        PGMQ refuses names over 47 characters (Celery's pidbox queues of long
        host names are longer): those end in a hash of the whole name instead,
        the same in every process.
        """
        name = self.entity_name(self.queue_name_prefix + queue_name)
        return name if len(name) <= MAX_QUEUE_NAME else _shortened(name)

    def _fanout_key(self, exchange: str) -> str:
        return f'{FANOUT_TOPIC_PREFIX}.{self.entity_name(exchange)}'

    def _topic_prefix(self, exchange: str) -> str:
        return f'{TOPIC_PREFIX}.{self.entity_name(exchange)}'

    @property
    def server_topics(self) -> bool:
        """True if PGMQ routes topic exchanges (its SQL has ``send_topic``)."""
        return self.connection.server_has('topic')

    # -- queues ------------------------------------------------------------

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        name = self.canonical_queue_name(queue)
        with errors('create queue', queue):
            self.pgmq.create_queue(name)
            if self.options.fifo_mode:
                self.pgmq.create_fifo_index(name)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        # PGMQ's own catalogue, one row looked up (list_queues reads them all).
        with errors('queue lookup', queue), self.pgmq.pool.connection() as conn:
            return conn.execute('SELECT 1 FROM pgmq.meta WHERE queue_name = %s',
                                (self.canonical_queue_name(queue),)).fetchone() is not None

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        if not self._has_queue(queue):
            return
        name = self.canonical_queue_name(queue)
        with errors('drop queue', queue):
            self.pgmq.drop_queue(name)
        self.connection._notifying.discard(name)   # the trigger went with the table

    def _server_bindings(self, exchange: str, routing_key: str) -> list[str]:
        """The PGMQ topic patterns a binding is stored as ([] if routed in the client)."""
        kind = self.typeof(exchange).type
        if kind == 'fanout':
            return [self._fanout_key(exchange)]
        if kind == 'topic' and self.server_topics:
            return server_patterns(self._topic_prefix(exchange), routing_key) or []
        return []   # direct exchanges, and what PGMQ cannot express, route in the client

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        patterns = self._server_bindings(exchange, routing_key)
        if not patterns:
            return
        self._new_queue(queue)
        name = self.canonical_queue_name(queue)
        with errors('bind', queue):
            for topic in patterns:
                self.pgmq.bind_topic(topic, name)

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        patterns = self._server_bindings(exchange, routing_key)
        # '#' bindings share collapsed patterns ('a.#' and 'a' both bind 'a'):
        # keep those another binding of the queue still needs.
        for rkey, _, bound in self.get_table(exchange):
            if bound == queue and rkey != routing_key:
                kept = self._server_bindings(exchange, rkey)
                patterns = [p for p in patterns if p not in kept]
        name = self.canonical_queue_name(queue)
        with errors('unbind', queue):
            for topic in patterns:
                self.pgmq.unbind_topic(topic, name)

    # -- messages ----------------------------------------------------------

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        with errors('send', queue):
            self.pgmq.send(self.canonical_queue_name(queue), message)

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str,
                    **kwargs: Any) -> None:
        self._put_topic(self._fanout_key(exchange), message)

    def _put_topic(self, key: str, message: dict[str, Any]) -> None:
        # PGMQ copies the message to every queue bound to a matching pattern, in any process.
        with errors('send_topic', key):
            self.pgmq.send_topic(key, message)

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
        ready = self._ready.get(queue)
        if ready:
            return self._hold(queue, ready.popleft())
        records = self._read(queue, 1)
        if not records:
            raise Empty()
        return self._hold(queue, records[0])

    def _long_poll(self, queue: str, seconds: float) -> bool:
        """Wait in the server up to ``seconds`` for a message of ``queue``; true if read.

        ``read_with_poll`` takes whole seconds: a shorter wait is cut by a
        ``statement_timeout``, whose cancel rolls the read back (the message
        stays visible).  The record read is handed over by the next ``_get``.
        """
        name = self.canonical_queue_name(queue)
        read = getattr(self.pgmq, POLL_READ_METHODS[self.options.fifo_mode])
        whole = max(1, math.ceil(seconds))
        with errors('read_with_poll', queue):
            try:
                with self.pgmq.pool.connection() as conn:
                    if whole > seconds:
                        conn.execute("SELECT set_config('statement_timeout', %s, true)",
                                     (str(max(1, int(seconds * 1000))),))
                    records = read(name, vt=self.visibility_timeout, qty=1,
                                   max_poll_seconds=whole,
                                   poll_interval_ms=self.options.poll_interval_ms, conn=conn)
                    if records and queue in self._noack_queues:   # no pop_with_poll
                        for record in records:
                            self.pgmq.delete(name, record.msg_id, conn=conn)
            except psycopg.errors.QueryCanceled:
                return False   # the deadline came first
        if not records:
            return False
        self._ready.setdefault(queue, deque()).extend(records)
        return True

    def _give_back_ready(self, queue: str) -> None:
        records = self._ready.pop(queue, None)
        if not records or queue in self._noack_queues:
            return   # popped ones are gone either way
        name = self.canonical_queue_name(queue)
        try:
            with errors('set_vt', name):
                for record in records:
                    self.pgmq.set_vt(name, record.msg_id, 0)
        except errors.connection_errors as exc:   # cancelling, or closing a lost connection
            logger.warning('pgmq: %d message(s) of %r read ahead come back after the '
                           'visibility timeout: %s', len(records), queue, exc)

    def basic_cancel(self, consumer_tag: str) -> None:
        super().basic_cancel(consumer_tag)
        for queue in [q for q in self._ready if q not in self._active_queues]:
            self._give_back_ready(queue)

    def _hold(self, queue: str, record: Any) -> dict[str, Any]:
        payload = record.message
        try:
            envelope = as_envelope(payload)
        except ValueError as exc:   # stored, but not an envelope: on_decode_error gets it
            return corrupt_envelope(payload, f'not a message envelope: {exc}')
        props = envelope['properties']
        policy = self._queue_policy(queue)
        if policy is not None and policy.message_ttl is not None:
            _stamp_queue_ttl(props, record, policy.message_ttl)
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


class Transport(NotifyEventLoopMixin, virtual.Transport):
    """PGMQ transport (evented, in a :class:`~kombu.asynchronous.Hub`, with ``use_notify``)."""

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
        self._features: dict[str, bool] | None = None
        self._listener: NotifyListener | None = None
        #: PGMQ queues whose insert trigger this transport made sure of.
        self._notifying: set[str] = set()
        self._poll_turn = 0
        if self.options.use_notify:   # the LISTEN socket can drive an event loop
            self.implements = self.implements.extend(asynchronous=True)

    # -- optional server features ---------------------------------------------

    def server_has(self, feature: str) -> bool:
        """True if the PGMQ SQL installed has ``feature`` (``'topic'``, ``'notify'``)."""
        if self._features is None:
            names = list(FEATURE_FUNCTIONS)
            query = 'SELECT ' + ', '.join(
                'to_regprocedure(%s) IS NOT NULL' for _ in names)
            with errors('feature check'), self._get_pgmq_client().pool.connection() as conn:
                row = conn.execute(query, [FEATURE_FUNCTIONS[n] for n in names]).fetchone()
            self._features = dict(zip(names, row))
        return self._features[feature]

    # -- waiting for messages ---------------------------------------------------

    def _waiting_queues(self) -> list[tuple[_PGMQChannel, str]]:
        """(channel, queue) for each queue a channel consumes and may take a message of."""
        found: list[tuple[_PGMQChannel, str]] = []
        for channel in self.channels or ():
            assert isinstance(channel, _PGMQChannel)
            qos = channel._qos or channel.qos
            if channel._consumers and (not qos.prefetch_count or qos.can_consume()):
                found.extend((channel, queue) for queue in channel._active_queues)
        return found

    def _wait_for_messages(self, timeout: float, token: Any) -> None:
        """Block in the server (long poll) or on the LISTEN socket, not in a sleep loop."""
        waiting = self._waiting_queues()
        options = self.options
        period = options.wait_time_seconds
        if not waiting or (period <= 0 and not options.use_notify):
            return super()._wait_for_messages(timeout, token)
        if options.use_notify and self.server_has('notify'):
            # Read again now and then: a message whose visibility timeout ran out
            # comes back without an insert, so without a notification.
            reread = period or self.polling_interval or 1.0
            return self._wait_for_notify(waiting, min(timeout, reread))
        if options.use_notify:
            warnings.warn('pgmq: the installed PGMQ SQL has no enable_notify_insert; '
                          'use_notify falls back to long polling', RuntimeWarning, stacklevel=2)
            self.options = dataclasses.replace(options, use_notify=False)
            if period <= 0:
                return super()._wait_for_messages(timeout, token)
        # One queue at a time: with several, each gets a short turn.
        seconds = min(timeout, period)
        if len(waiting) > 1:
            seconds = min(seconds, MULTI_QUEUE_POLL_SECONDS)
        channel, queue = waiting[self._poll_turn % len(waiting)]
        self._poll_turn += 1
        channel._long_poll(queue, seconds)
        return None

    def _wait_for_notify(self, waiting: list[tuple[_PGMQChannel, str]], seconds: float) -> None:
        if self._listen_to(waiting):
            return   # newly listening: read once more, a message may predate LISTEN
        listener = self._notify_listener()
        with self._listening():
            listener.wait(seconds)

    def _listen_to(self, waiting: list[tuple[_PGMQChannel, str]]) -> bool:
        """LISTEN to the queues of ``waiting`` (triggers made first); true if one is new."""
        names = {channel.canonical_queue_name(queue) for channel, queue in waiting}
        for name in names - self._notifying:
            self._enable_notify(name)
        with self._listening():
            return self._notify_listener().listen(names)

    @contextlib.contextmanager
    def _listening(self) -> Iterator[None]:
        try:
            with errors('listen'):
                yield
        except errors.connection_errors:
            if self._listener is not None:
                self._listener.close()   # the next wait connects and LISTENs again
            raise

    def _consumers_held_back(self) -> bool:
        """True if a channel consumes but its prefetch limit stops it reading."""
        for channel in self.channels or ():
            qos = channel._qos or channel.qos
            if channel._consumers and qos.prefetch_count and not qos.can_consume():
                return True
        return False

    def _enable_notify(self, name: str) -> None:
        throttle = self.options.notify_throttle_interval_ms
        with errors('enable_notify_insert', name), \
                self._get_pgmq_client().pool.connection() as conn:
            row = conn.execute('SELECT throttle_interval_ms FROM pgmq.notify_insert_throttle '
                               'WHERE queue_name = %s', (name,)).fetchone()
            if row is None:
                conn.execute('SELECT pgmq.enable_notify_insert(%s, %s)', (name, throttle))
            elif row[0] != throttle:
                conn.execute('SELECT pgmq.update_notify_insert(%s, %s)', (name, throttle))
        self._notifying.add(name)

    def _notify_listener(self) -> NotifyListener:
        if self._listener is None:
            dsn = self._get_pgmq_client().config.dsn
            self._listener = NotifyListener(
                lambda: psycopg.connect(dsn, autocommit=True),
                self.options.notify_throttle_interval_ms)
        return self._listener

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
        # Called at every Connection.drain_events: a local check, no round trip (a
        # list_queues here cost a read of every queue's row per message).  A server
        # that went away shows as the ConnectionError of the next statement.
        pool = getattr(self._pgmq_client, 'pool', None)
        return pool is not None and not pool.closed

    def establish_connection(self) -> Any:
        with errors('connect'), warnings.catch_warnings():
            warnings.simplefilter('ignore', UserWarning)
            self._get_pgmq_client().list_queues()   # fails here, typed, if unreachable
        return super().establish_connection()

    def close_connection(self, connection: Any) -> None:
        try:
            super().close_connection(connection)
        finally:
            listener, self._listener = self._listener, None
            if listener is not None:
                listener.close()
            self._notifying.clear()
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
