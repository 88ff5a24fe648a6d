"""The Redis channel: storage hooks of the virtual transport, on Redis lists."""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import weakref
from collections import deque
from contextlib import contextmanager
from queue import Empty
from time import monotonic, time
from typing import Any, Iterator, NoReturn

import redis
from redis import exceptions as rexc

from kombu.exceptions import ConnectionError, LimitExceeded
from kombu.transport import virtual
from kombu.transport.virtual.options import TransportOptions
from kombu.utils.objects import cached_property
from kombu.utils.scheduling import cycle_by_name

from . import keys as K
from .client import PrefixedStrictRedis
from .connparams import build_connparams
from .consume import ConsumeMixin
from .errors import LOST, RedisConnectionError, errors, reraise
from .exchange import EXCHANGE_TYPES
from .exchange_decl import ExchangeDeclMixin
from .options import CONNECTION_KEYS, RedisOptions, own_fields
from .qos import QoS, unconfirmed_acks
from .queue_args import QueueArgsMixin
from .restore import RestoreMixin
from .teardown import cap_connection, cap_pool, teardown_timeout

logger = logging.getLogger('kombu.transport.redis')

_SCRIPTS = {
    'pop': K.POP_BATCH, 'restore': K.RESTORE_ONE,
    'refresh_binding': K.REFRESH_BINDING, 'sweep_bindings': K.SWEEP_BINDINGS,
}
_SHAS = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in _SCRIPTS.items()}

#: what redis-py raises when the connection fails (translated by ``errors``)
_REDIS_LOST = (rexc.ConnectionError, rexc.TimeoutError, OSError)

_live_channels: weakref.WeakSet[Channel] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    unconfirmed_acks.clear()  # the parent's to send, not ours
    for channel in list(_live_channels):
        channel._after_fork()


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Channel(RestoreMixin, ConsumeMixin, QueueArgsMixin, ExchangeDeclMixin, virtual.Channel):
    """Redis channel."""

    QoS = QoS
    exchange_types = dict(EXCHANGE_TYPES)

    _client = None
    _subclient = None
    _closing = False
    #: a command failed while closing: the close talks to Redis no more
    _teardown_failed = False
    supports_fanout = True
    keyprefix_queue = '_kombu.binding.%s'
    keyprefix_binding_deadlines = '_kombu.binding_deadlines'
    keyprefix_binding_permanent = '_kombu.binding_permanent.%s'
    keyprefix_fanout = '/{db}.'
    sep = K.SEP
    ack_emulation = True
    unacked_key = 'unacked'
    unacked_index_key = 'unacked_index'
    unacked_mutex_key = 'unacked_mutex'
    unacked_mutex_expire = 300
    unacked_restore_limit: int | None = None
    unacked_restore_interval = 10
    unacked_restore_throttle = 10
    visibility_timeout: float = 3600
    priority_steps = K.PRIORITY_STEPS
    socket_timeout: float | None = None
    socket_connect_timeout: float | None = None
    socket_keepalive: bool | None = None
    socket_keepalive_options: dict | None = None
    retry_on_timeout: bool | None = None
    max_connections = 10
    health_check_interval = K.DEFAULT_HEALTH_CHECK_INTERVAL
    client_name: str | None = None
    fanout_prefix: bool | str = True
    fanout_patterns = True
    global_keyprefix = ''
    queue_order_strategy = 'round_robin'
    #: Most messages one round trip pops (further capped by prefetch).
    consume_batch_size = 100
    #: Seconds a binding table read from Redis is trusted before re-reading;
    #: local binds invalidate at once, a routing miss re-reads at once.
    binding_cache_ttl = 1.0
    #: With N > 0 a publish returns only once N replicas have it (Redis WAIT),
    #: else it fails as a connection error (and Kombu's retry publishes it
    #: again, reconnecting through Sentinel): no acknowledged publish is lost
    #: with the old master in a failover.  0: plain asynchronous replication.
    publish_replicas = 0
    #: Milliseconds a publish waits for ``publish_replicas``.
    publish_replicas_timeout = 1000

    _async_pool = None
    _pool = None

    #: the typed ``transport_options``; the keys given are copied onto the
    #: channel (the class attributes above are the defaults).
    Options = RedisOptions
    from_transport_options = (tuple(virtual.Channel.from_transport_options)
                              + own_fields(RedisOptions, TransportOptions))

    connection_class: Any = redis.Connection
    connection_class_ssl: Any = redis.SSLConnection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.ack_emulation:
            self.QoS = virtual.QoS  # type: ignore[misc,assignment]
        self._registered = False
        self._expires: dict[str, int] = {}
        self._declared: set[str] = connection_declared(self.connection)
        self._binding_expiry_refreshed_at = float('-inf')
        self._bindings_swept_at = float('-inf')
        self._queue_cycle = cycle_by_name(self.queue_order_strategy)()
        self._held = deque()
        self.Client = self._get_client()
        self.ResponseError = rexc.ResponseError
        self.active_fanout_queues: set[str] = set()
        self.auto_delete_queues: set[str] = set()
        self._fanout_queues: dict[str, tuple[str, str]] = {}
        self._fanout_to_queue: dict[str, str] = {}
        #: subscribed topic -> this channel's queues consuming it
        self._topic_queues: dict[str, list[str]] = {}
        self._no_ack_queues: set[str] = set()
        self._active_list: list[str] = []
        self._get_no_ack = False
        self._tables: dict[str, tuple[int, float, list]] = {}
        #: queue -> (trusted until, policy) of arguments read from Redis
        self._loaded_policies: dict[str, tuple[float, Any]] = {}
        self._routes: dict[tuple[str, str], tuple[int, float, list]] = {}
        self._hot: Any = None
        self._unread = 0
        self._unread_sock: Any = None
        #: tags of the acks whose replies are among the ``_unread``
        self._inflight: list[str] = []
        self._inflight_at = 0.0  # when the newest of them was sent (epoch)
        #: the dedicated connection may be used by other threads too (a
        #: thread pool acking or rejecting late): one command stream at a time
        self._hot_lock = threading.RLock()
        self._key_cache: dict[tuple[str, int], str] = {}
        self._keys_cache: dict[tuple[str, ...], list[str]] = {}
        self.handlers = {'BRPOP': self._brpop_read, 'LISTEN': self._receive}
        self.brpop_timeout = self.connection.brpop_timeout
        if self.fanout_prefix:
            if isinstance(self.fanout_prefix, str):
                self.keyprefix_fanout = self.fanout_prefix
        else:
            self.keyprefix_fanout = ''
        p = self.global_keyprefix
        self._unacked = p + self.unacked_key
        self._unacked_index = p + self.unacked_index_key
        client = self.connection.client
        #: which Redis our acks are for (acks in doubt are kept per target)
        self._ack_target = (str(getattr(client, 'hostname', '')), getattr(client, 'port', None),
                            str(getattr(client, 'virtual_host', '')),
                            self._unacked, self._unacked_index)
        try:
            self._first_ping()
        except Exception:
            self._disconnect_pools()
            raise
        self.connection.cycle.add(self)
        self._registered = True
        self.connection_errors = self.connection.connection_errors
        _live_channels.add(self)

    # -- clients and pools ----------------------------------------------------

    def _get_client(self) -> Any:
        if self.global_keyprefix:
            return functools.partial(PrefixedStrictRedis, global_keyprefix=self.global_keyprefix)
        return redis.Redis

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        params = build_connparams(
            self.connection.client, {k: getattr(self, k) for k in CONNECTION_KEYS},
            self.connection.default_port,
            self.connection_class, self.connection_class_ssl)
        if asynchronous:
            channel = self
            base = params['connection_class']

            class Connection(base):  # type: ignore[valid-type,misc]
                def disconnect(self, *args: Any, **kwargs: Any) -> None:
                    super().disconnect(*args, **kwargs)
                    if channel._registered:
                        channel._on_connection_disconnect(self)

            params['connection_class'] = Connection
        return params

    def _get_pool(self, asynchronous: bool = False) -> redis.ConnectionPool:
        params = self._connparams(asynchronous=asynchronous)
        self.keyprefix_fanout = self.keyprefix_fanout.format(db=params['db'])
        return redis.ConnectionPool(**params)

    @property
    def pool(self) -> redis.ConnectionPool:
        if self._pool is None:
            self._pool = self._get_pool()
        return self._pool

    @property
    def async_pool(self) -> redis.ConnectionPool:
        if self._async_pool is None:
            self._async_pool = self._get_pool(asynchronous=True)
        return self._async_pool

    def _create_client(self, asynchronous: bool = False) -> Any:
        return self.Client(connection_pool=self.async_pool if asynchronous else self.pool)

    @cached_property
    def _sync(self) -> redis.Redis:
        """Plain client on the pool, thread-safe; keys are prefixed by us."""
        return redis.Redis(connection_pool=self.pool)

    @cached_property
    def _api_client(self) -> Any:
        return self._create_client()

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """Yield ``client``, or the channel's reusable client (never a new one)."""
        yield client if client is not None else self._api_client

    @cached_property
    def client(self) -> Any:
        """Client whose pinned connection carries BRPOP."""
        return self._create_client(asynchronous=True)

    @cached_property
    def subclient(self) -> Any:
        """Pub/Sub connection used to consume fanout queues."""
        return self._create_client(asynchronous=True).pubsub()

    def _after_fork(self) -> None:
        self._hot = None  # the parent owns that socket (and its acks in flight)
        self._unread, self._inflight = 0, []
        self._disconnect_pools()

    def _disconnect_pools(self) -> None:
        pool, async_pool = self._pool, self._async_pool
        self._pool = self._async_pool = None
        self.__dict__.pop('_sync', None)
        self.__dict__.pop('_api_client', None)
        self._hot = None
        for p in (pool, async_pool):
            if p is not None:
                p.disconnect()

    def _on_connection_disconnect(self, connection: Any) -> None:
        if self._in_poll is connection:
            self._in_poll = None
        if self._in_listen is connection:
            self._in_listen = None
        if self.connection and self.connection.cycle:
            self.connection.cycle._on_connection_disconnect(connection)

    # -- raw command execution on one dedicated connection ---------------------

    def _hot_conn(self) -> Any:
        if self._teardown_failed and self._closing:
            # one bounded attempt failed while closing: the rest would too
            raise RedisConnectionError('redis: connection lost while closing the channel')
        conn = self._hot
        if conn is None:
            conn = self._hot = self.pool.make_connection()
        if conn._sock is None:
            # connect() explicitly: send_command's implicit connect bypasses
            # the master lookup of Sentinel-managed connections
            conn.connect()
        if self._unread and conn._sock is not self._unread_sock:
            # replies of a previous socket are gone with it: so may its acks be
            self._unread = 0
            self._acks_unconfirmed(self._inflight, self._inflight_at)
            self._inflight = []
        if unconfirmed_acks.by_target:
            self._resend_acks(conn)
        return conn

    def _read_unread(self, conn: Any) -> None:
        """Consume the replies of commands sent without waiting (acks)."""
        while self._unread:
            try:
                conn.read_response()
            except rexc.ResponseError as exc:
                logger.warning('Redis refused an ack: %r', exc)
            self._unread -= 1  # only once read: a lost reply leaves it counted
        if self._inflight:
            self._inflight = []

    def _acks_unconfirmed(self, tags: list[str], sent_at: float | None = None) -> None:
        """Keep ``tags`` to send again: their acks may not have reached Redis."""
        if tags:
            unconfirmed_acks.add(self._ack_target, tags, time() if sent_at is None else sent_at)

    def _ack_in_doubt(self, tag: str) -> bool:
        return tag in self._inflight or unconfirmed_acks.holds(self._ack_target, tag)

    def _resend_acks(self, conn: Any) -> None:
        """Send again, and confirm, the acks in doubt for our Redis (first thing)."""
        waiting = unconfirmed_acks.get(self._ack_target)
        if not waiting:
            return
        args = [a for tag, acked_at in waiting for a in (tag, repr(acked_at))]
        try:
            if self._unread:
                self._read_unread(conn)
            # EVAL, not EVALSHA: rare, and no script cache to reload here
            conn.send_packed_command([K.pack_command(
                'EVAL', K.ACK_IF_OURS, 2, self._unacked, self._unacked_index, *args)])
            try:
                conn.read_response()
            except rexc.ResponseError as exc:
                logger.warning('Redis refused an ack: %r', exc)
        except (rexc.ConnectionError, rexc.TimeoutError, OSError):
            conn.disconnect()
            raise
        unconfirmed_acks.confirm(self._ack_target, [tag for tag, _ in waiting])

    def _send_deferred(self, commands: list[tuple], tags: list[str] | None = None) -> None:
        """Send ``commands`` now; read their replies before the next command.

        Used for acks (``tags``): they leave the process at once (a crash
        right after cannot bring the message back) without costing a round
        trip.  If the connection fails they are kept, not raised: they are
        sent again first thing on the next connection to this Redis.
        """
        with self._hot_lock:
            try:
                self._send_deferred_locked(commands, tags)
            except LOST as exc:
                if not tags:
                    raise
                logger.debug('acks kept to send again on reconnect: %r', exc)
                self._acks_unconfirmed(tags)

    def _send_deferred_locked(self, commands: list[tuple], tags: list[str] | None) -> None:
        conn = None
        try:
            conn = self._hot_conn()
            # no health check here: its PING reply would interleave with ours
            conn.send_packed_command([b''.join(K.pack_command(*c) for c in commands)],
                                     check_health=False)
        except _REDIS_LOST as exc:
            self._lost(conn, exc, commands[0][0])
        self._unread += len(commands)
        self._unread_sock = conn._sock
        if tags:
            self._inflight_at = time()  # not before any lease renewal of these tags
            self._inflight += tags

    def _execute(self, *args: Any) -> Any:
        with self._hot_lock:
            return self._execute_locked(*args)

    def _execute_locked(self, *args: Any) -> Any:
        conn = None
        try:
            conn = self._hot_conn()
            if self._unread:
                self._read_unread(conn)
            conn.send_packed_command([K.pack_command(*args)])
            return conn.read_response()
        except _REDIS_LOST as exc:
            self._lost(conn, exc, args[0])
        except rexc.ResponseError as exc:
            self._refused(exc, args[0])

    def _lost(self, conn: Any, exc: BaseException, operation: Any) -> NoReturn:
        """The connection failed under ``operation``: drop it, raise kombu's kind."""
        if conn is not None:
            conn.disconnect()
        if self._closing:
            self._teardown_failed = True
        reraise(exc, str(operation))

    def _refused(self, exc: rexc.ResponseError, operation: Any) -> NoReturn:
        """Redis refused ``operation``: kombu's kind if it has one (READONLY reconnects)."""
        translated = errors.translate(exc, str(operation))
        if translated is None:
            raise exc
        if isinstance(translated, ConnectionError) and self._hot is not None:
            self._hot.disconnect()  # e.g. a demoted master: ask Sentinel again
        raise translated from exc

    def _first_ping(self) -> None:
        # Verifies the connection. Bounded by Connection.connect_timeout (which
        # ensure_connection(timeout=...) lowers to the time left), so a server
        # that accepts but never answers cannot hang connecting.
        timeout = getattr(self.connection.client, 'connect_timeout', None)
        conn = self._hot
        if conn is None:
            conn = self._hot = self.pool.make_connection()
        if not timeout or conn._sock is not None:
            self._execute('PING')
            return
        saved = conn.socket_timeout, conn.socket_connect_timeout
        conn.socket_timeout = timeout
        conn.socket_connect_timeout = min(saved[1] or timeout, timeout)
        try:
            self._execute('PING')
        finally:
            conn.socket_timeout, conn.socket_connect_timeout = saved
            if conn._sock is not None:
                conn._sock.settimeout(saved[0])

    def _execute_many(self, commands: list[tuple]) -> list[Any]:
        """Pipeline ``commands`` in one round trip; error replies are returned."""
        with self._hot_lock:
            return self._execute_many_locked(commands)

    def _execute_many_locked(self, commands: list[tuple]) -> list[Any]:
        conn = None
        try:
            conn = self._hot_conn()
            if self._unread:
                self._read_unread(conn)
            conn.send_packed_command([b''.join(K.pack_command(*c) for c in commands)])
            replies = []
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except rexc.ResponseError as exc:
                    replies.append(exc)
            return replies
        except _REDIS_LOST as exc:
            self._lost(conn, exc, commands[0][0] if commands else 'pipeline')

    def _script_cmd(self, name: str, keys: list[str], args: list[Any]) -> tuple:
        return ('EVALSHA', _SHAS[name], len(keys), *keys, *args)

    def _load_scripts(self) -> None:
        for src in _SCRIPTS.values():
            self._execute('SCRIPT', 'LOAD', src)

    def _run(self, commands: list[tuple]) -> list[Any]:
        """Run a pipeline of idempotent-on-retry commands and scripts."""
        replies = self._execute_many(commands)
        if any(isinstance(r, rexc.NoScriptError) for r in replies):
            self._load_scripts()  # e.g. Redis restarted: script cache empty
            replies = self._execute_many(commands)
        for r in replies:
            if isinstance(r, rexc.ResponseError):
                self._refused(r, 'pipeline')
            if isinstance(r, Exception):
                raise r
        return replies

    def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return self._run([self._script_cmd(name, keys, args)])[0]

    # -- keys -----------------------------------------------------------------

    def _q_for_pri(self, queue: str, pri: int) -> str:
        return K.queue_key(queue, self.priority(pri), self.sep)

    def _qkey(self, queue: str, pri: int) -> str:
        """Full (prefixed) list key for ``queue`` at priority ``pri``."""
        try:
            return self._key_cache[queue, pri]
        except KeyError:
            if len(self._key_cache) > 10000:
                self._key_cache.clear()
            key = self._key_cache[queue, pri] = (
                self.global_keyprefix + K.queue_key(queue, self.priority(pri), self.sep))
            return key

    def _consume_keys(self, queues: list[str]) -> list[str]:
        """List keys to pop from: by priority step, then queue (cycle order)."""
        ident = tuple(queues)
        try:
            return self._keys_cache[ident]
        except KeyError:
            if len(self._keys_cache) > 1000:
                self._keys_cache.clear()
            keys = self._keys_cache[ident] = [
                self._qkey(q, step) for step in self.priority_steps for q in queues]
            return keys

    def _all_qkeys(self, queue: str) -> list[str]:
        return [self._qkey(queue, step) for step in self.priority_steps]

    def priority(self, n: int) -> int:
        return K.priority_step(self.priority_steps, n)

    # -- storage hooks ----------------------------------------------------------

    def _put(self, queue: str, message: dict, **kwargs: Any) -> None:
        """Deliver ``message`` to ``queue`` (LPUSH; consumers pop the right end)."""
        key = self._qkey(queue, self._get_message_priority(message, reverse=False))
        body = K.dumps(message)
        expires = self._expires.get(queue) if self._expires else None
        batch = kwargs.get('_publish_batch')
        if expires is None and batch is None and not self.publish_replicas:
            self._execute('LPUSH', key, body)  # the common case: no command list
            return
        commands: list[tuple] = [('LPUSH', key, body)]
        if expires is not None:
            commands += [('PEXPIRE', k, expires) for k in self._all_qkeys(queue)]
        if batch is not None:
            for command in commands:
                batch.add(*command)
        elif self.publish_replicas:
            self._replicated(commands)
        else:
            self._run(commands)

    def _replicated(self, commands: list[tuple]) -> list[Any]:
        """Run ``commands`` and WAIT for ``publish_replicas`` replicas in one trip."""
        wanted = int(self.publish_replicas)
        replies = self._run([*commands, ('WAIT', wanted, int(self.publish_replicas_timeout))])
        if replies[-1] < wanted:
            # e.g. a demoted master cut off from its replicas: go ask Sentinel
            if self._hot is not None:
                self._hot.disconnect()
            raise rexc.ConnectionError(
                f'publish reached {replies[-1]} of {wanted} replica(s) in time')
        return replies[:-1]

    def _put_fanout(self, exchange: str, message: dict, routing_key: str,
                    **kwargs: Any) -> None:
        prefix = self.global_keyprefix
        body = K.dumps(message)
        batch = kwargs.get('_publish_batch')
        # one topic, or more (Sentinel's sentinel_fanout_compat adds the legacy one)
        commands = [('PUBLISH', prefix + topic, body)
                    for topic in self._get_publish_topics(exchange, routing_key)]
        if batch is not None:
            for command in commands:
                batch.add(*command)
        elif self.publish_replicas:
            self._replicated(commands)
        elif len(commands) == 1:
            self._execute(*commands[0])
        else:
            self._run(commands)

    def _get(self, queue: str, timeout: float | None = None) -> dict:
        record = self.ack_emulation and not self._get_no_ack
        items = self._pop([queue], 1, [record])
        if queue not in self._expires:
            self._queue_policy(queue)  # x-expires declared elsewhere (cached): a get is a use
        self._touch_expires([queue])
        if not items:
            raise Empty()
        _, payload = items[0]
        if record:
            self._mark_recorded(payload)
        return payload

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        self._get_no_ack = no_ack
        try:
            message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        finally:
            self._get_no_ack = False
        self._drop_unclaimed()
        return message

    def _size(self, queue: str) -> int:
        return sum(r for r in self._run([('LLEN', k) for k in self._all_qkeys(queue)])
                   if isinstance(r, int))

    def _purge(self, queue: str) -> int:
        commands: list[tuple] = []
        for key in self._all_qkeys(queue):
            commands += [('LLEN', key), ('DEL', key)]
        counted = len(commands)
        # popped in a batch but not handed over yet: still waiting, so purged too
        held = [item for item in self._held if item[0] == queue]
        if held:
            kept = [item for item in self._held if item[0] != queue]
            self._held.clear()
            self._held.extend(kept)
            tags = [(payload.get('properties') or {}).get('delivery_tag') for _, payload in held]
            tags = [tag for tag in tags if tag is not None]
            if tags and self.ack_emulation:
                commands += [('HDEL', self._unacked, *tags),
                             ('ZREM', self._unacked_index, *tags)]
        replies = self._run(commands)
        return len(held) + sum(replies[:counted:2])

    def _new_queue(self, queue: str, auto_delete: bool = False, **kwargs: Any) -> None:
        if auto_delete:
            self.auto_delete_queues.add(queue)
        self._declared.add(queue)
        expire = self._get_queue_expire(kwargs)
        if expire is not None:
            self._expires[queue] = expire
        else:
            self._expires.pop(queue, None)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        # Redis drops empty lists: an empty queue "exists" if declared here
        if queue in self._declared or self.state.queue_index.get(queue):
            return True
        return any(self._run([('EXISTS', k) for k in self._all_qkeys(queue)]))

    def _delete(self, queue: str, exchange: str | None = None, routing_key: str | None = None,
                pattern: str | None = None, *args: Any, **kwargs: Any) -> None:
        self.auto_delete_queues.discard(queue)
        self._declared.discard(queue)
        p = self.global_keyprefix
        commands: list[tuple] = []
        if exchange is not None:
            member = K.binding_member(routing_key, pattern, queue, self.sep)
            commands += [('SREM', p + self.keyprefix_queue % (exchange,), member),
                         ('SREM', p + self.keyprefix_binding_permanent % (exchange,), member)]
        commands += [('DEL', k) for k in self._all_qkeys(queue)]
        self._run(commands + self._forget_queue_args(queue))
        K.bump_binding_epoch()

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        if self.typeof(exchange).type == 'fanout':
            self._fanout_queues[queue] = (exchange, (routing_key or '').replace('#', '*'))
        p = self.global_keyprefix
        table = p + self.keyprefix_queue % (exchange,)
        member = K.binding_member(routing_key, pattern, queue, self.sep)
        if queue in self._expires:
            self._script('refresh_binding', [table, p + self.keyprefix_binding_deadlines],
                         [member, exchange, self._binding_ttl(queue)])
        else:
            # the sweep keeps a table while its permanent set has members
            self._run([('SADD', table, member),
                       ('SADD', p + self.keyprefix_binding_permanent % (exchange,), member)])
        K.bump_binding_epoch()

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        p = self.global_keyprefix
        member = K.binding_member(routing_key, pattern, queue, self.sep)
        self._run([('SREM', p + self.keyprefix_queue % (exchange,), member),
                   ('SREM', p + self.keyprefix_binding_permanent % (exchange,), member)])
        if self._fanout_queues.get(queue, (None,))[0] == exchange:
            del self._fanout_queues[queue]
        K.bump_binding_epoch()

    def _put_front(self, queue: str, message: dict, **kwargs: Any) -> None:
        """Put ``message`` where it is consumed next (the right end)."""
        key = self._qkey(queue, self._get_message_priority(message, reverse=False))
        self._execute('RPUSH', key, K.dumps(message))

    def get_table(self, exchange: str) -> list[tuple[str, ...]]:
        epoch, now = K.binding_epoch[0], monotonic()
        cached = self._tables.get(exchange)
        if cached is not None and cached[0] == epoch and now < cached[1]:
            return cached[2]
        return self._read_table(exchange, epoch, now)

    def _read_table(self, exchange: str, epoch: int, now: float) -> list[tuple[str, ...]]:
        values = self._execute('SMEMBERS', self.global_keyprefix + self.keyprefix_queue % exchange)
        table = [K.parse_binding(v, self.sep) for v in values or ()]
        self._tables[exchange] = (epoch, now + self.binding_cache_ttl, table)
        return table

    def _lookup(self, exchange: str, routing_key: str, default: Any = None) -> list[str]:
        if not exchange:
            return list(super()._lookup(exchange, routing_key, default))
        epoch, now = K.binding_epoch[0], monotonic()
        route_key = (exchange, routing_key)
        cached = self._routes.get(route_key)
        if cached is not None and cached[0] == epoch and now < cached[1]:
            return cached[2]
        queues = self._match_route(exchange, routing_key)
        if not queues and self._tables.get(exchange) is not None:
            # a miss may be a binding made elsewhere since the table was read
            self._read_table(exchange, epoch, now)
            queues = self._match_route(exchange, routing_key)
        if not queues:
            return list(self._lookup_default(exchange, routing_key, default))
        if len(self._routes) > 4096:
            self._routes.clear()
        self._routes[route_key] = (epoch, now + self.binding_cache_ttl, queues)
        return queues

    def _match_route(self, exchange: str, routing_key: str) -> list[str]:
        try:
            return list(self.typeof(exchange).lookup(
                self.get_table(exchange), exchange, routing_key, None) or ())
        except KeyError:
            return []

    def _get_queue_expire(self, args: Any) -> int | None:
        try:
            return int(args['arguments']['x-expires'])
        except (KeyError, TypeError, ValueError):
            return None

    def _touch_expires(self, queues: list[str]) -> None:
        if not self._expires:
            return
        commands = [('PEXPIRE', k, self._expires[q])
                    for q in queues if q in self._expires for k in self._all_qkeys(q)]
        if commands:
            self._run(commands)

    # -- binding tables of expiring queues -------------------------------------

    def _binding_ttl(self, queue: str) -> int:
        return max(self._expires[queue] * K.BINDING_EXPIRES_FACTOR, K.MIN_BINDING_TTL)

    def sweep_bindings(self, limit: int = 100) -> int:
        """Delete binding tables that no consumer refreshed in time."""
        p = self.global_keyprefix
        prefixes = [p + kp % ('',) for kp in
                    (self.keyprefix_queue, self.keyprefix_binding_permanent)]
        return self._script('sweep_bindings', [p + self.keyprefix_binding_deadlines],
                            [*prefixes, limit])

    def maybe_refresh_binding_expiry(self) -> None:
        """Keep the binding tables of consumed expiring queues alive."""
        queues = [q for q in self._active_queues if q in self._expires]
        if not queues:
            return
        now = monotonic()
        every = min(self._binding_ttl(q) for q in queues) / 1000 / 3
        if now - self._binding_expiry_refreshed_at >= every:
            self._refresh_bindings(queues)
            self._binding_expiry_refreshed_at = now
        if now - self._bindings_swept_at >= K.BINDING_SWEEP_INTERVAL:
            self.sweep_bindings()
            self._bindings_swept_at = now

    def _refresh_bindings(self, queues: list[str]) -> None:
        p = self.global_keyprefix
        commands = []
        for queue in queues:
            for exchange, routing_key, args in self.state.queue_bindings(queue):
                _, pattern, _ = self.typeof(exchange).prepare_bind(
                    queue, exchange, routing_key, args)
                commands.append(self._script_cmd(
                    'refresh_binding',
                    [p + self.keyprefix_queue % (exchange,), p + self.keyprefix_binding_deadlines],
                    [K.binding_member(routing_key, pattern, queue, self.sep), exchange,
                     self._binding_ttl(queue)]))
        if commands:
            self._run(commands)

    def maybe_reauth(self) -> None:
        """Streaming re-authentication hook (redis-py re-auths pooled connections)."""

    # -- batches ----------------------------------------------------------------

    @property
    def supports_batch_publish(self) -> bool:
        return not self.retry_on_timeout

    def create_publish_batch(self, max_size: int) -> Any:
        from .batch import PublishBatch
        return PublishBatch(self, max_size)

    # -- lifecycle ----------------------------------------------------------------

    def close(self) -> None:
        self._closing = True
        self._bound_teardown()
        if self._in_poll:
            try:
                self._abort_brpop()  # a message it popped must not be lost
            except self.connection_errors:
                pass
        try:
            self._give_back_held()  # neither must one popped but not handed over
        except (*self.connection_errors, LimitExceeded):  # kept unacked: restored later
            logger.warning('could not give back held messages at close', exc_info=True)
        if not self.closed:
            self.connection.cycle.discard(self)
            for queue in list(self._fanout_queues):
                if queue in self.auto_delete_queues:
                    try:
                        self.queue_delete(queue)
                    except self.connection_errors:
                        pass
            try:
                if isinstance(self._qos, QoS):
                    self._qos.flush_acks()
            except self.connection_errors:
                logger.warning('could not flush acks at close', exc_info=True)
        super().close()
        _live_channels.discard(self)
        self._close_clients()
        self._disconnect_pools()

    def _bound_teardown(self) -> None:
        """Cap every socket's timeout: a silent peer must not hold the close forever."""
        limit = teardown_timeout()
        cap_connection(self._hot, limit)
        for attr in ('client', 'subclient'):
            client = self.__dict__.get(attr)
            if client is not None:
                cap_connection(getattr(client, 'connection', None), limit)
        cap_pool(self._pool, limit)
        cap_pool(self._async_pool, limit)

    def _close_clients(self) -> None:
        for attr in ('client', 'subclient'):
            client = self.__dict__.get(attr)
            if client is None:
                continue
            connection, client.connection = getattr(client, 'connection', None), None
            if connection is not None:
                try:
                    connection.disconnect()
                except Exception:
                    pass
        with self._hot_lock:
            if self._hot is not None:
                if self._unread and self._teardown_failed:  # the peer is gone
                    self._acks_unconfirmed(self._inflight, self._inflight_at)
                    self._unread, self._inflight = 0, []
                if self._unread:  # acks in flight: closed means applied
                    try:
                        self._read_unread(self._hot)
                    except Exception:
                        logger.warning('could not confirm acks at close; they are sent '
                                       'again on the next connection', exc_info=True)
                        self._acks_unconfirmed(self._inflight, self._inflight_at)
                        self._unread, self._inflight = 0, []
                self._hot.disconnect()
                self._hot = None

    def _prepare_virtual_host(self, vhost: Any) -> int:
        from .connparams import prepare_virtual_host
        return prepare_virtual_host(vhost)

    @property
    def active_queues(self) -> list[str]:
        """Queues consumed from with BRPOP (fanout queues excluded)."""
        return self._active_list  # recomputed on every consume/cancel

    def _update_queue_cycle(self) -> None:
        self._active_list = list(dict.fromkeys(
            q for q in self._active_queues if q not in self.active_fanout_queues))
        self._queue_cycle.update(self._active_list)


def connection_declared(transport: Any) -> set[str]:
    """Queues declared through ``transport`` (shared by its channels)."""
    declared = getattr(transport, '_redis_declared', None)
    if declared is None:
        declared = transport._redis_declared = set()
    return declared

