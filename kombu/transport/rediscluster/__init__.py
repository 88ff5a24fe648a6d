"""Redis Cluster transport: ``rediscluster://host:port[;rediscluster://host:port...]``.

Built on :class:`redis.cluster.RedisCluster` with the key layout of
:mod:`.keys`: every key of a queue shares the queue's hash slot and the
global tables share one slot of their own, so no command spans slots and
MOVED/ASK redirections (resharding, a replica promoted) are followed by the
client.  The URL lists the startup nodes the way Kombu lists failover
alternates; any one reachable node is enough to discover the others.

Messages wait in one list per priority step (step 0 consumed first, as on
``redis://``).  A consumer pops a batch and records it as unacked in one
script run on the queue's slot, with one blocking connection per master that
owns consumed queues when all are empty (:mod:`.consume`, :mod:`.poller`);
an ack deletes the record (acks of a consumer go in batches), a reject with
requeue or a closed channel gives the message back, and a sweep on every
consuming connection restores messages whose ``visibility_timeout`` passed
without an ack, on whichever node their queue lives.  Fanout goes over
sharded pub/sub on Redis 7 (:mod:`.fanout`), else (and with
``fanout_pubsub=False``) a copy waits in every bound queue, as topic
exchanges' do.  On a cluster with replicas, publishes and acks return once a
replica has them (``replica_wait``, :mod:`.durability`, :mod:`.acks`), so a
master failover keeps every confirmed message.
"""
from __future__ import annotations

import dataclasses
import json
import time
from queue import Empty
from typing import Any, ClassVar, Mapping

from kombu.transport import virtual
from kombu.transport.virtual.claims import SettlesFreshClaims, SettlingQoS
from kombu.transport.virtual.options import TransportOptions
from kombu.transport.virtual.shared_exchanges import SharedExchangesMixin
from kombu.transport.virtual.state import QueuePolicy
from kombu.utils.url import url_to_parts

from . import keys as K
from .acks import ClusterAcks
from .consume import ConsumeMixin
from .durability import ReplicatedWriter, replicas_to_wait_for
from .errors import errors
from .fanout import FanoutMixin
from .poller import ClusterPoller

try:
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.cluster import ClusterNode, RedisCluster
    from redis.retry import Retry
except ImportError:  # pragma: no cover - the transport reports it on use
    redis = None  # type: ignore[assignment]

__all__ = ('Transport', 'Channel', 'RedisClusterOptions')

DEFAULT_PORT = 6379




@dataclasses.dataclass(frozen=True)
class RedisClusterOptions(TransportOptions):
    """Options of the Redis Cluster transport (Kombu's Redis names where they apply)."""

    transport_name: ClassVar[str] = 'rediscluster'
    passthrough: ClassVar[frozenset[str]] = frozenset({
        'max_retries', 'interval_start', 'interval_step', 'interval_max', 'retry_policy',
        'connect_timeout'})
    #: redis://'s names for the same thing, so a configuration moves over as it is.
    aliases: ClassVar[Mapping[str, str]] = {
        'publish_replicas': 'replica_wait', 'publish_replicas_timeout': 'replica_wait_timeout'}

    visibility_timeout: float = 3600
    unacked_restore_interval: float = 10
    unacked_restore_limit: int = 100
    priority_steps: Any = dataclasses.field(default_factory=lambda: list(K.PRIORITY_STEPS))
    global_keyprefix: str = ''
    socket_timeout: float | None = None
    socket_connect_timeout: float | None = None
    socket_keepalive: bool | None = None
    max_connections: int = 50
    #: retries of one command after a connection error or a cluster change
    #: (MOVED/ASK redirections are followed on top of these).
    cluster_error_retry_attempts: int = 3
    #: most messages one pop takes (the prefetch limit bounds it too)
    consume_batch_size: int = 100
    #: acks of a consumer sent together (or sooner: before the poller blocks)
    ack_batch_size: int = 64
    #: seconds a BRPOP waits on a node that owns one consumed queue
    brpop_timeout: float = 1.0
    #: fanout over sharded pub/sub when every master has it (Redis 7), else
    #: a copy in every bound queue
    fanout_pubsub: bool = True
    #: seconds between PINGs of a quiet pub/sub connection (0: never)
    health_check_interval: float = 25.0
    #: replicas a publish, an ack and a restore wait for (``WAIT``) before they
    #: count as done; None: 1 if the cluster has any replica, else 0 (no wait).
    replica_wait: int | None = None
    #: milliseconds to wait for them, then :exc:`~kombu.exceptions.NotReplicated`.
    replica_wait_timeout: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require(self.replica_wait is None or self.replica_wait >= 0,
                     'replica_wait must be >= 0 or None (automatic)')
        # WAIT's timeout 0 blocks forever: a publish would hang on a lost replica
        self.require(self.replica_wait_timeout > 0, 'replica_wait_timeout must be > 0 ms')


class QoS(SettlingQoS):
    """Deletes a message's unacked record (in its queue's slot) once acked or rejected."""

    def flush_acks(self) -> None:
        """Send the acks that wait (the poller calls it before it blocks)."""
        self.channel._flush_acks()  # type: ignore[attr-defined]


class Channel(SharedExchangesMixin, FanoutMixin, ConsumeMixin, SettlesFreshClaims,
              virtual.Channel):
    """Redis Cluster channel."""

    Options = RedisClusterOptions
    options: RedisClusterOptions
    QoS = QoS

    supports_fanout = True

    visibility_timeout: float = 3600
    unacked_restore_interval: float = 10
    unacked_restore_limit: int = 100
    priority_steps: list[int] = list(K.PRIORITY_STEPS)
    global_keyprefix: str = ''

    from_transport_options = virtual.Channel.from_transport_options + (
        'visibility_timeout', 'unacked_restore_interval', 'unacked_restore_limit',
        'priority_steps', 'global_keyprefix', 'consume_batch_size', 'ack_batch_size',
        'brpop_timeout', 'fanout_pubsub', 'health_check_interval')

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fresh_claims: list[Any] = []
        #: delivery tag -> queue of each message popped and recorded as unacked.
        self._claimed_in: dict[str, str] = {}
        self.layout = K.Layout(self.global_keyprefix, self.priority_steps)
        self._last_sweep = 0.0
        self._init_consume()
        self._init_fanout()
        if self.connection.polling_interval is not None:
            self.shared_brpop_timeout = self.connection.polling_interval
        client = self.client
        self._pop = client.register_script(K.POP)
        self._restore_one = client.register_script(K.RESTORE_ONE)
        self._writer: ReplicatedWriter | None = None
        self._wait_resolved = False
        self._ack = client.register_script(K.ACK)
        self.acks = ClusterAcks(
            self, ('rediscluster', *sorted(self.connection.startup_nodes()),
                   self.layout.prefix))

    @property
    def client(self) -> Any:
        return self.connection.cluster_client()

    def writer(self) -> ReplicatedWriter | None:
        """What makes writes wait for ``replica_wait`` replicas; None when that is 0."""
        if not self._wait_resolved:
            options = self.options
            with errors('connect'):
                wanted = replicas_to_wait_for(options.replica_wait, self.client)
            if wanted:
                self._writer = ReplicatedWriter(
                    self.client, wanted, options.replica_wait_timeout,
                    attempts=options.cluster_error_retry_attempts)
            self._wait_resolved = True
        return self._writer

    def _write(self, key: str, command: tuple[Any, ...]) -> None:
        writer = self.writer()
        if writer is None:
            self.client.execute_command(*command)
        else:
            writer.run(key, [command])

    # -- exchanges and bindings (the global slot) --------------------------------

    def _stored_exchange_type(self, exchange: str) -> str | None:
        with errors('exchange_declare', exchange):
            value = self.client.hget(self.layout.exchanges, exchange)
        return value.decode() if value is not None else None

    def _store_exchange(self, exchange: str, type: str) -> None:
        with errors('exchange_declare', exchange):
            self.client.hset(self.layout.exchanges, exchange, type)

    def exchange_delete(self, exchange: str, if_unused: bool = False,
                        nowait: bool = False) -> None:
        if if_unused and self.get_table(exchange):
            return
        super().exchange_delete(exchange, if_unused, nowait)
        with errors('exchange_delete', exchange):
            self.client.delete(self.layout.bindings(exchange))
            self.client.hdel(self.layout.exchanges, exchange)

    def get_table(self, exchange: str) -> list[Any]:
        with errors('get_table', exchange):
            members = self.client.smembers(self.layout.bindings(exchange))
        return [K.parse_binding(m) for m in members]

    def get_exchanges(self) -> list[str]:
        with errors('get_exchanges'):
            names = self.client.hkeys(self.layout.exchanges)
        return sorted({n.decode() for n in names} | set(self.state.exchanges))

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        with errors('queue_bind', queue):
            self.client.sadd(self.layout.bindings(exchange),
                             K.binding_member(routing_key, pattern, queue))
        self.state.invalidate_routes(exchange)

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        with errors('queue_unbind', queue):
            self.client.srem(self.layout.bindings(exchange),
                             K.binding_member(routing_key, pattern, queue))
        self.state.invalidate_routes(exchange)
        self._note_unbind(exchange, queue)

    # -- queues (each in its own slot) --------------------------------------------

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        arguments = dict(kwargs.get('arguments') or {})
        with errors('queue_declare', queue):
            self.client.sadd(self.layout.queues, queue)
            self.client.set(self.layout.args(queue), json.dumps(arguments, default=str))

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        with errors('queue_declare', queue):
            if self.client.sismember(self.layout.queues, queue):
                return True
            return self._size(queue) > 0

    def _queue_policy(self, queue: str) -> QueuePolicy | None:
        policy = self.state.policies.get(queue)
        if policy is not None:
            return policy
        cache = self.connection.policies
        cached = cache.get(queue)
        if cached is not None and time.monotonic() - cached[0] < 1.0:
            return cached[1]  # type: ignore[no-any-return]
        with errors('queue_declare', queue):
            raw = self.client.get(self.layout.args(queue))
        arguments = json.loads(raw) if raw else None
        policy = QueuePolicy.from_arguments(arguments) if arguments else None
        cache[queue] = (time.monotonic(), policy)
        return policy

    def _size(self, queue: str) -> int:
        with errors('queue_size', queue):
            pipe = self.client.pipeline()
            for key in self.layout.queue_keys(queue):
                pipe.llen(key)
            return sum(pipe.execute())

    def _purge(self, queue: str) -> int:
        size = self._size(queue)
        with errors('queue_purge', queue):
            for key in self.layout.queue_keys(queue):
                self.client.delete(key)
        return size

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        layout = self.layout
        with errors('queue_delete', queue):
            for key in (*layout.queue_keys(queue), layout.unacked(queue),
                        layout.unacked_index(queue), layout.args(queue)):
                self.client.delete(key)
            self.client.srem(layout.queues, queue)
        if len(args) >= 3:
            exchange, routing_key, pattern = args[:3]
            self._queue_unbind(exchange, routing_key, pattern, queue)
        self.connection.policies.pop(queue, None)

    def queue_delete(self, queue: str, if_unused: bool = False, if_empty: bool = False,
                     **kwargs: Any) -> int | None:
        size = super().queue_delete(queue, if_unused, if_empty, **kwargs)
        if size is None:
            return None
        # Bindings another process made are in the cluster too.
        for exchange in self.get_exchanges():
            for routing_key, pattern, bound in self.get_table(exchange):
                if bound == queue:
                    self._queue_unbind(exchange, routing_key, pattern, queue)
        return size

    # -- messages --------------------------------------------------------------------

    def _list_for(self, queue: str, message: dict[str, Any]) -> str:
        priority = self._get_message_priority(message)
        return self.layout.queue_key(queue, K.priority_step(self.layout.steps, priority))

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        key = self._list_for(queue, message)
        with errors('publish', queue):
            self._write(key, ('LPUSH', key, json.dumps(message)))

    def _put_front(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        key = self._list_for(queue, message)
        props = message.get('properties') if isinstance(message, dict) else None
        tag = props.get('delivery_tag') if isinstance(props, dict) else None
        with errors('restore', queue):
            if isinstance(tag, str) and self._claimed_in.get(tag) == queue:
                # back from its unacked record in one script: a failover keeps the
                # record or the message in the list, never neither
                self._restore_one(keys=[self.layout.unacked(queue),
                                        self.layout.unacked_index(queue), key],
                                  args=[tag, '+inf', json.dumps(message), '0'])
                del self._claimed_in[tag]
            else:
                self._write(key, ('RPUSH', key, json.dumps(message)))

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        keys, args = self._pop_args(queue, 1, [])
        with errors('receive', queue):
            items = self._pop(keys=keys, args=args)
        if not items:
            raise Empty()
        return self._decode(items[0], queue, recorded=args[1] == '1')  # type: ignore[no-any-return]

    def _restore(self, message: Any) -> None:
        if self._dropped_broadcast(message):
            return
        # Back in its queue (the record goes with it, in _put_front); when the
        # base put it elsewhere, the record goes after: a crash between the two
        # redelivers the message twice rather than never.
        super()._restore(message)
        self._settle(message.delivery_tag)

    # -- visibility timeout --------------------------------------------------------

    def drain_events(self, timeout: float | None = None, callback: Any = None) -> Any:
        self._sweep_if_due()
        return super().drain_events(timeout=timeout, callback=callback)

    def _sweep_if_due(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= self.unacked_restore_interval:
            self._last_sweep = now
            self.restore_visible()

    def restore_visible(self, limit: int | None = None) -> int:
        """Give back every message unacked for longer than ``visibility_timeout``.

        Visits every known queue, each on the node that owns its slot; the
        conditional script lets exactly one of several sweeping consumers win.
        """
        limit = limit or self.unacked_restore_limit
        self.acks.resend()  # an ack a failover may have undone must not be restored
        ceiling = time.time() - self.visibility_timeout
        layout = self.layout
        restored = 0
        with errors('restore'):
            queues = [q.decode() for q in self.client.smembers(layout.queues)]
        for queue in queues:
            with errors('restore', queue):
                tags = self.client.zrangebyscore(
                    layout.unacked_index(queue), '-inf', ceiling, start=0, num=limit)
                if not tags:
                    continue
                payloads = self.client.hmget(layout.unacked(queue), tags)
                for tag, payload in zip(tags, payloads):
                    if self.acks.in_doubt(queue, tag.decode()):
                        continue
                    if payload is None:
                        self.client.zrem(layout.unacked_index(queue), tag)
                        continue
                    message = json.loads(payload)
                    message['redelivered'] = True
                    props = message.setdefault('properties', {})
                    props.setdefault('delivery_info', {})['redelivered'] = True
                    restored += self._restore_one(
                        keys=[layout.unacked(queue), layout.unacked_index(queue),
                              self._list_for(queue, message)],
                        args=[tag, ceiling, json.dumps(message)])
        return restored


class Transport(virtual.Transport):
    """Redis Cluster transport."""

    Channel = Channel

    #: seconds between polls of empty queues.
    polling_interval: float | None = 0.1
    default_port = DEFAULT_PORT
    driver_type = 'redis'
    driver_name = 'redis-cluster'

    implements = virtual.Transport.implements.extend(
        asynchronous=True,
        exchange_type=frozenset(['direct', 'topic', 'fanout', 'headers']),
    )

    connection_errors = errors.connection_errors
    channel_errors = errors.channel_errors

    def __init__(self, client: Any, **kwargs: Any) -> None:
        if redis is None:  # pragma: no cover
            raise ImportError('the rediscluster transport needs the redis library')
        super().__init__(client, **kwargs)
        self.cycle = ClusterPoller()
        self._plain_drain = False  # drain_events goes through the poller's get()
        self._cluster: Any = None
        self._sharded: bool | None = None
        #: queue -> (read at, QueuePolicy) read from the cluster.
        self.policies: dict[str, Any] = {}

    def startup_nodes(self) -> list[tuple[str, int]]:
        """Every ``host:port`` of the URL (alternates included)."""
        client = self.client
        nodes: list[tuple[str, int]] = []
        for url in getattr(client, 'alt', None) or ():
            parts = url_to_parts(url)
            if parts.scheme in ('rediscluster', 'redis+cluster'):
                nodes.append((parts.hostname or '127.0.0.1', parts.port or DEFAULT_PORT))
        if not nodes:
            nodes.append((client.hostname or '127.0.0.1', client.port or DEFAULT_PORT))
        return nodes

    def cluster_client(self) -> Any:
        if self._cluster is None:
            options: RedisClusterOptions = self.options  # type: ignore[assignment]
            client = self.client
            kwargs: dict[str, Any] = {
                'socket_timeout': options.socket_timeout,
                'socket_connect_timeout': (options.socket_connect_timeout
                                           or client.connect_timeout),
                'socket_keepalive': options.socket_keepalive,
                'max_connections': options.max_connections,
                # RESP2: redis-py 8's RESP3 handshake misreads HELLO's reply on
                # a reconnect to a promoted replica (AttributeError in on_connect).
                'protocol': 2,
                'retry': Retry(ExponentialBackoff(cap=1.0, base=0.05),
                               options.cluster_error_retry_attempts),
            }
            if client.userid:
                kwargs['username'] = client.userid
            if client.password:
                kwargs['password'] = client.password
            nodes = [ClusterNode(host, port) for host, port in self.startup_nodes()]
            with errors('connect'):
                self._cluster = RedisCluster(startup_nodes=nodes, **kwargs)
        return self._cluster

    def sharded_pubsub(self) -> bool:
        """True if every master has sharded pub/sub (Redis 7 or later; asked once)."""
        if self._sharded is None:
            with errors('connect'):
                infos = self.cluster_client().info('server', target_nodes=RedisCluster.PRIMARIES)
            if isinstance(infos, dict) and 'redis_version' in infos:  # one master
                infos = {'': infos}
            self._sharded = all(int(str(info['redis_version']).split('.')[0]) >= 7
                                for info in infos.values())
        return self._sharded

    def establish_connection(self) -> Transport:
        self.cluster_client()  # fails here, as Kombu's connect() expects, if unreachable
        super().establish_connection()
        return self

    def close_connection(self, connection: Any) -> None:
        try:
            super().close_connection(connection)
        finally:
            cluster, self._cluster = self._cluster, None
            if cluster is not None:
                try:
                    cluster.close()
                except Exception:  # closing a dead cluster connection
                    pass

    def driver_version(self) -> str:
        return str(redis.__version__)

    def create_channel(self, connection: Any) -> Any:
        channel = super().create_channel(connection)
        self.cycle.add(channel)
        return channel

    def close_channel(self, channel: Any) -> None:
        self.cycle.discard(channel)
        super().close_channel(channel)

    def _wait_for_messages(self, timeout: float, token: Any) -> None:
        """No sleep after a poll that waited; a polling interval after a failed BRPOP."""
        if self.cycle.failed and self.polling_interval:
            time.sleep(min(self.polling_interval, timeout))

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        cycle = self.cycle
        cycle.on_poll_init(loop.poller)
        cycle._loop = loop

        def on_poll_start() -> None:
            cycle.on_poll_start()
            for fd in list(cycle.fds):
                loop.add_reader(fd, self.on_readable, fd)
        loop.on_tick.add(on_poll_start)
        interval = self.options.unacked_restore_interval or 10  # type: ignore[attr-defined]
        loop.call_repeatedly(interval, cycle.maybe_restore_messages)
        loop.call_repeatedly(1.0, cycle.maybe_check_brpop_health)
        loop.call_repeatedly(1.0, cycle.maybe_check_subclient_health)

    def on_readable(self, fileno: int) -> Any:  # type: ignore[override]
        """One of the poller's sockets is readable (the Hub calls this)."""
        return self.cycle.on_readable(fileno)
