"""rediscluster:// under cluster changes on a private cluster: the slot of a busy queue is
migrated to another master (ASK while it moves, MOVED after) while a producer and a
consumer run, and the master owning it is killed in a cluster with replicas (its replica is
promoted, the killed node comes back as its replica); no message the producer saw confirmed
is lost.  Also: broadcasts follow a shard channel whose slot moves, and a consumer (BRPOP) or
fanout subscriber waiting on a master that goes silent (SIGSTOP: no FIN) moves to its
promoted replica.  Counts are printed (-s)."""
from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
import traceback
from typing import Any, Iterator

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from t.integration.rediscluster.cluster import PrivateCluster
from t.servers import unique_name

redis = pytest.importorskip('redis')
from redis.cluster import key_slot  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOTAL = 3000


@pytest.fixture(scope='module')
def cluster() -> Iterator[PrivateCluster]:
    setup = PrivateCluster(masters=3).start()
    yield setup
    setup.stop()


class Load:
    """A producer and an acking consumer of one queue, each in a thread, counting."""

    def __init__(self, url: str, queue: Queue, pace: float = 0.0,
                 transport_options: dict[str, Any] | None = None) -> None:
        self.url, self.queue = url, queue
        #: seconds the consumer spends on each message (a backlog builds up)
        self.pace = pace
        self.transport_options = transport_options or {}
        self.confirmed: list[int] = []
        self.consumed: list[int] = []
        self.errors: dict[str, int] = {}
        self.crashed = ''
        self.producer_done = threading.Event()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def _error(self, exc: BaseException) -> None:
        cause = exc.__cause__ or exc
        name = type(cause).__name__
        self.errors[name] = self.errors.get(name, 0) + 1
        time.sleep(0.02)

    def produce(self) -> None:
        with Connection(self.url, transport_options=self.transport_options) as conn:
            producer = Producer(conn.default_channel)
            for n in range(TOTAL):
                while True:
                    try:
                        producer.publish(n, routing_key=self.queue.name, serializer='json')
                    except conn.connection_errors + conn.channel_errors as exc:
                        self._error(exc)  # unconfirmed: sent again (may duplicate)
                        continue
                    self.confirmed.append(n)
                    break
                if n % 50 == 0:
                    time.sleep(0.005)  # keep the load going through the migration
        self.producer_done.set()

    def consume(self) -> None:
        try:
            self._consume()
        except BaseException:  # reported: a consumer that died is not a lost message
            self.crashed = traceback.format_exc()
            raise

    def _consume(self) -> None:
        def on_message(body: Any, message: Any) -> None:
            self.consumed.append(body)
            message.ack()
            if self.pace:
                time.sleep(self.pace)
        with Connection(self.url, transport_options=self.transport_options) as conn:
            with Consumer(conn.default_channel, [self.queue], callbacks=[on_message],
                          prefetch_count=10):
                while not self.stop.is_set():
                    try:
                        conn.drain_events(timeout=0.5)
                    except socket.timeout:
                        if self.producer_done.is_set() and \
                                set(self.consumed) >= set(self.confirmed):
                            return
                    except conn.connection_errors + conn.channel_errors as exc:
                        self._error(exc)

    def start(self, until: int) -> None:
        """Run both threads; return once ``until`` messages are confirmed."""
        self.threads = [threading.Thread(target=self.produce, daemon=True),
                        threading.Thread(target=self.consume, daemon=True)]
        for thread in self.threads:
            thread.start()
        while len(self.confirmed) < until:
            time.sleep(0.01)

    def finish(self, timeout: float) -> None:
        self.threads[0].join(timeout)
        self.threads[1].join(timeout / 2)
        self.stop.set()

    def report(self, what: str) -> tuple[int, int]:
        confirmed, consumed = set(self.confirmed), set(self.consumed)
        lost = len(confirmed - consumed)
        duplicated = len(self.consumed) - len(consumed)
        print(f'\n{what}: published {TOTAL}, confirmed {len(confirmed)}, consumed '
              f'{len(self.consumed)} ({len(consumed)} distinct), lost {lost}, '
              f'duplicated {duplicated}, client errors retried {self.errors}')
        if lost:
            print(f'lost (first 10): {sorted(confirmed - consumed)[:10]}')
        assert not self.crashed, f'the consumer died:\n{self.crashed}'
        return lost, duplicated


def migrate_slot(cluster: PrivateCluster, slot: int, src: int, dst: int,
                 pause: float = 0.3) -> int:
    """Move ``slot`` from master ``src`` to master ``dst`` key by key; return keys moved."""
    ids = cluster.node_ids()
    cluster.cli(dst, 'cluster', 'setslot', str(slot), 'importing', ids[src]['id'])
    cluster.cli(src, 'cluster', 'setslot', str(slot), 'migrating', ids[dst]['id'])
    moved = 0
    while True:
        keys = cluster.cli(src, 'cluster', 'getkeysinslot', str(slot), '1').split()
        if not keys:
            break
        for key in keys:
            cluster.cli(src, 'migrate', '127.0.0.1', str(dst), key, '0', '5000')
            moved += 1
        time.sleep(pause)  # consumers and producers meet ASK and TRYAGAIN meanwhile
    for port in cluster.ports:
        cluster.cli(port, 'cluster', 'setslot', str(slot), 'node', ids[dst]['id'])
    return moved


def test_slot_migration_under_load_loses_nothing(cluster: PrivateCluster) -> None:
    queue = Queue(unique_name('rc-reshard'))
    with Connection(cluster.url) as conn:
        queue.bind(conn.default_channel).declare()
        layout = conn.default_channel.layout
        client = conn.transport.cluster_client()
        slot = key_slot(layout.queue_key(queue.name, 0).encode())
        src = client.get_node_from_key(layout.queue_key(queue.name, 0)).port
    dst = next(p for p, n in cluster.node_ids().items() if n['master'] and p != src)
    # a slow consumer: messages wait in the list and unacked records exist while
    # the slot moves (a consumer that keeps up would leave next to nothing to move)
    load = Load(cluster.url, queue, pace=0.002)
    load.start(until=TOTAL // 4)
    moved = migrate_slot(cluster, slot, src, dst)
    load.finish(60)
    lost, duplicated = load.report(f'slot {slot} moved {src}->{dst} ({moved} keys)')
    assert moved >= 2  # the queue's list and its unacked records really moved
    assert load.producer_done.is_set()
    assert lost == 0
    with Connection(cluster.url) as conn:
        channel = conn.default_channel
        owner = channel.client.get_node_from_key(layout.queue_key(queue.name, 0)).port
        assert owner == dst
        assert channel._size(queue.name) == 0
        assert channel.client.hlen(layout.unacked(queue.name)) == 0  # every ack landed
        queue.bind(channel).delete()


@pytest.fixture(scope='module')
def replicated() -> Iterator[PrivateCluster]:
    setup = PrivateCluster(masters=3, replicas=1).start()
    yield setup
    setup.stop()


def test_master_failover_under_load_loses_nothing_confirmed(replicated: PrivateCluster) -> None:
    # A publish returns once the queue's master and one replica have it (replica_wait
    # resolves to 1 on a cluster with replicas), so the promoted replica holds every
    # confirmed message.  Until the killed node is back as the new master's replica,
    # publishes to that slot raise NotReplicated (unconfirmed: sent again).  A message
    # popped as the master died, whose reply was lost, waits in its unacked record
    # until visibility_timeout: short here, so the run sees it come back.
    cluster = replicated
    queue = Queue(unique_name('rc-failover'))
    options = {'visibility_timeout': 5, 'unacked_restore_interval': 1}
    with Connection(cluster.url, transport_options=options) as conn:
        queue.bind(conn.default_channel).declare()
        layout = conn.default_channel.layout
        assert conn.default_channel.writer() is not None  # publishes WAIT for a replica
        key = layout.queue_key(queue.name, 0)
        master = conn.transport.cluster_client().get_node_from_key(key).port
    load = Load(cluster.url, queue, transport_options=options)
    load.start(until=TOTAL // 4)
    killed_at = time.monotonic()
    cluster.kill(master)  # its replica is promoted after cluster-node-timeout (2 s)
    cluster.wait_failed_over(master)
    promoted = time.monotonic() - killed_at
    cluster.restart(master)  # back as the promoted node's replica: WAIT can succeed again
    cluster.wait_replicas()
    load.finish(60)
    took = time.monotonic() - killed_at
    lost, duplicated = load.report(
        f'master {master} killed, replica promoted {promoted:.1f} s later, '
        f'run over {took:.1f} s later')
    with Connection(cluster.url) as conn:
        channel = conn.default_channel
        owner = channel.client.get_node_from_key(key).port
        print(f'left: {channel._size(queue.name)} ready, '
              f'{channel.client.hlen(layout.unacked(queue.name))} unacked')
    assert load.producer_done.is_set()
    assert lost == 0
    assert owner != master  # the replica serves the slot now
    with Connection(cluster.url) as conn:
        queue.bind(conn.default_channel).delete()


def broadcast_until(conn: Connection, producer: Producer, done: Any, timeout: float) -> int:
    """Publish 1, 2, ... and drain ``conn`` until ``done()``; return how many were sent.

    Pub/sub drops what is published while a subscription is being made again, so the
    test keeps broadcasting; connection errors (a silent master timing out) are retried.
    """
    deadline = time.monotonic() + timeout
    n = 0
    while not done() and time.monotonic() < deadline:
        n += 1
        producer.publish(n, serializer='json')
        try:
            conn.drain_events(timeout=0.3)
        except socket.timeout:
            pass
        except conn.connection_errors:
            pass
    return n


def test_broadcasts_follow_a_shard_channel_whose_slot_moves(cluster: PrivateCluster) -> None:
    exchange = Exchange(unique_name('rc-fan-move'), 'fanout')
    queue = Queue(unique_name('rc-fan-move-q'), exchange)
    got: list[int] = []
    with Connection(cluster.url) as conn, Connection(cluster.url) as producer_conn:
        if not conn.transport.sharded_pubsub():
            pytest.skip('no sharded pub/sub (Redis < 7)')
        channel = conn.default_channel
        name = channel.layout.fanout_channel(exchange.name)
        src = conn.transport.cluster_client().get_node_from_key(name).port
        dst = next(p for p, n in cluster.node_ids().items() if n['master'] and p != src)
        producer = Producer(producer_conn.default_channel, exchange)
        with Consumer(channel, [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.2)  # subscribed on src
            producer.publish(0, serializer='json')
            conn.drain_events(timeout=5)
            migrate_slot(cluster, key_slot(name.encode()), src, dst, pause=0)
            # Redis unsubscribes the moved slot's subscribers (sunsubscribe): the
            # consumer subscribes again on dst; what is published meanwhile is lost,
            # as on any pub/sub, so keep publishing until one arrives.
            n = broadcast_until(conn, producer, lambda: len(got) >= 2, 15)
            print(f'\nshard channel slot moved {src}->{dst}: {n} broadcasts sent after the '
                  f'move until one arrived; received {got}')
            assert len(got) >= 2 and got[0] == 0
            subs = {int(node.rsplit(':', 1)[1]) for node in channel._subs}
            assert dst in subs


def cluster_nodes(cluster: PrivateCluster, ask: int) -> dict[int, dict[str, str]]:
    """port -> {'id', 'flags', 'master_id'} as node ``ask`` sees the cluster."""
    nodes = {}
    for line in cluster.cli(ask, 'cluster', 'nodes').splitlines():
        fields = line.split()
        port = int(fields[1].split('@')[0].rsplit(':', 1)[1])
        nodes[port] = {'id': fields[0], 'flags': fields[2], 'master_id': fields[3]}
    return nodes


def masters_with_a_replica(cluster: PrivateCluster) -> dict[int, int]:
    """master port -> the port of a live replica of it (an earlier test may have killed one)."""
    nodes = cluster_nodes(cluster, next(p for p in cluster.ports if cluster.alive(p)))
    by_id = {n['id']: p for p, n in nodes.items()}
    return {by_id[n['master_id']]: p for p, n in nodes.items()
            if 'slave' in n['flags'] and 'fail' not in n['flags'] and cluster.alive(p)}


@contextlib.contextmanager
def stopped_until_promoted(cluster: PrivateCluster, master: int,
                           replica: int) -> Iterator[float]:
    """SIGSTOP ``master`` until ``replica`` is promoted; yield when; SIGCONT at the end."""
    cluster.procs[master].send_signal(signal.SIGSTOP)
    try:
        other = next(p for p in cluster.ports if p not in (master, replica)
                     and cluster.alive(p))
        deadline = time.monotonic() + 30
        while 'master' not in cluster_nodes(cluster, other)[replica]['flags']:
            assert time.monotonic() < deadline, 'the replica was not promoted'
            time.sleep(0.2)
        yield time.monotonic()
    finally:
        cluster.procs[master].send_signal(signal.SIGCONT)


def test_a_consumer_waiting_on_a_silent_master_moves_to_its_promoted_replica(
        replicated: PrivateCluster) -> None:
    """SIGSTOP, not SIGKILL: the master's sockets stay open and answer nothing (as in a
    partition), so only the BRPOP's overdue reply tells the consumer to look elsewhere."""
    cluster = replicated
    options = {'socket_timeout': 2, 'socket_connect_timeout': 2}
    pairs = masters_with_a_replica(cluster)
    got: list[str] = []
    errors: dict[str, int] = {}
    with Connection(cluster.url, transport_options=options) as conn:
        client = conn.transport.cluster_client()
        layout = conn.default_channel.layout
        while True:
            queue = Queue(unique_name('rc-silent'))
            master = client.get_node_from_key(layout.queue_key(queue.name, 0)).port
            if master in pairs:
                break
        replica = pairs[master]
        queue.bind(conn.default_channel).declare()
        with Consumer(conn.default_channel, [queue],
                      callbacks=[lambda b, m: (got.append(b), m.ack())]):
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.3)
            assert conn.default_channel._in_poll  # its BRPOP waits on the master
            with stopped_until_promoted(cluster, master, replica) as stopped_at:
                # the promoted master has no replica while the old one is stopped: a
                # publish waiting for one would raise NotReplicated (tested above)
                unreplicated = {**options, 'replica_wait': 0}
                with Connection(cluster.url, transport_options=unreplicated) as producer_conn:
                    Producer(producer_conn.default_channel).publish(
                        'after the failover', routing_key=queue.name, serializer='json')
                while not got and time.monotonic() < stopped_at + 60:
                    try:
                        conn.drain_events(timeout=1)
                    except socket.timeout:
                        pass
                    except conn.connection_errors as exc:  # the silent master, timing out
                        name = type(exc.__cause__ or exc).__name__
                        errors[name] = errors.get(name, 0) + 1
                print(f'\nmaster {master} stopped, replica {replica} promoted; consumed '
                      f'{got} {time.monotonic() - stopped_at:.1f} s after the promotion, '
                      f'client errors retried {errors}')
                assert got == ['after the failover']
                serving = {int(n.rsplit(':', 1)[1]) for n in conn.default_channel._waits}
                assert master not in serving


def test_a_subscription_on_a_silent_master_moves_to_its_promoted_replica(
        replicated: PrivateCluster) -> None:
    """As above for a fanout consumer: its pub/sub connection answers no PING, so it is
    made again on the replica promoted meanwhile, and broadcasts arrive again."""
    cluster = replicated
    options = {'socket_timeout': 2, 'socket_connect_timeout': 2, 'health_check_interval': 1}
    pairs = masters_with_a_replica(cluster)
    got: list[int] = []
    with Connection(cluster.url, transport_options=options) as conn:
        if not conn.transport.sharded_pubsub():
            pytest.skip('no sharded pub/sub (Redis < 7)')
        client = conn.transport.cluster_client()
        layout = conn.default_channel.layout
        while True:
            exchange = Exchange(unique_name('rc-silent-fan'), 'fanout')
            master = client.get_node_from_key(layout.fanout_channel(exchange.name)).port
            if master in pairs:
                break
        replica = pairs[master]
        queue = Queue(unique_name('rc-silent-fanq'), exchange)
        with Consumer(conn.default_channel, [queue],
                      callbacks=[lambda b, m: (got.append(b), m.ack())]):
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.3)  # subscribed on the master
            with stopped_until_promoted(cluster, master, replica) as promoted_at:
                with Connection(cluster.url, transport_options=options) as producer_conn:
                    producer = Producer(producer_conn.default_channel, exchange)
                    n = broadcast_until(conn, producer, lambda: bool(got), 60)
                print(f'\nmaster {master} stopped, replica {replica} promoted: broadcast '
                      f'{got} arrived {time.monotonic() - promoted_at:.1f} s after the '
                      f'promotion ({n} sent)')
                assert got
                subs = {int(node.rsplit(':', 1)[1]) for node in conn.default_channel._subs}
                assert master not in subs and replica in subs
