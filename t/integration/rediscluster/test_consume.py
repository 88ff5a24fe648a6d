"""rediscluster:// consumption on the shared cluster (``REDIS_CLUSTER_URL``): one blocking
connection per master that owns consumed queues, polled together, in drain_events and on the
Hub, one message per drain_events call, fair across masters, nothing lost on cancel."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator

import pytest

from kombu import Connection, Consumer, Producer, Queue
from kombu.asynchronous import Hub
from t.integration.test_conformance_rediscluster import cluster_url
from t.servers import unique_name

pytest.importorskip('redis')

pytestmark = pytest.mark.integration


@pytest.fixture
def url() -> str:
    return cluster_url()


@pytest.fixture
def conns(url: str) -> Iterator[Callable[[], Connection]]:
    made: list[Connection] = []

    def make() -> Connection:
        conn = Connection(url)
        made.append(conn)
        return conn
    yield make
    for conn in made:
        conn.release()


def node_of(conn: Connection, queue: Queue) -> str:
    layout = conn.default_channel.layout
    return conn.transport.cluster_client().get_node_from_key(
        layout.queue_key(queue.name, 0)).name


def queues_by_node(conn: Connection, per_node: int = 1) -> dict[str, list[Queue]]:
    """``per_node`` fresh queues on each master."""
    masters = {n.name for n in conn.transport.cluster_client().get_primaries()}
    found: dict[str, list[Queue]] = {m: [] for m in masters}
    while any(len(q) < per_node for q in found.values()):
        queue = Queue(unique_name('rc-consume'))
        group = found[node_of(conn, queue)]
        if len(group) < per_node:
            group.append(queue)
    for group in found.values():
        for queue in group:
            queue.bind(conn.default_channel).declare()
    return found


def publish(conn: Connection, queue: Queue, bodies: list[Any]) -> None:
    producer = Producer(conn.default_channel)
    for body in bodies:
        producer.publish(body, routing_key=queue.name, serializer='json')


def records(conn: Connection, queue: Queue) -> int:
    channel = conn.default_channel
    return int(channel.client.hlen(channel.layout.unacked(queue.name)))


def run_hub_until(hub: Hub, predicate: Callable[[], bool], timeout: float) -> bool:
    """Run ``hub`` until ``predicate()`` holds (or ``timeout`` passes); return it."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        hub.run_once()
    return predicate()


def cleanup(conn: Connection, queues: list[Queue]) -> None:
    for queue in queues:
        queue.bind(conn.default_channel).delete()


def test_one_delivery_per_drain_events_interleaved_across_masters(conns) -> None:
    conn = conns()
    groups = queues_by_node(conn)
    queues = [group[0] for group in groups.values()]
    for queue in queues:
        publish(conn, queue, [f'{queue.name}:{i}' for i in range(30)])
    got: list[str] = []
    with Consumer(conn.default_channel, queues, callbacks=[lambda b, m: (got.append(b),
                                                                         m.ack())]):
        for calls in range(1, 91):
            conn.drain_events(timeout=5)
            assert len(got) == calls  # never two messages in one call
    by_queue = {q.name: [b for b in got if b.startswith(q.name + ':')] for q in queues}
    for name, bodies in by_queue.items():  # each queue in its order
        assert bodies == [f'{name}:{i}' for i in range(30)]
    # fair: in every window of one turn each master's queue comes once
    owners = [b.rsplit(':', 1)[0] for b in got]
    for start in range(0, 90, 3):
        assert len(set(owners[start:start + 3])) == 3
    assert [records(conn, q) for q in queues] == [0, 0, 0]
    cleanup(conn, queues)


def test_an_idle_consumer_wakes_for_a_message_on_any_master(conns) -> None:
    consumer_conn, producer_conn = conns(), conns()
    groups = queues_by_node(consumer_conn)
    queues = [group[0] for group in groups.values()]
    got: list[str] = []
    with Consumer(consumer_conn.default_channel, queues,
                  callbacks=[lambda b, m: (got.append(b), m.ack())]):
        for queue in queues:  # each while the consumer blocks on all masters
            timer = threading.Timer(0.3, publish, (producer_conn, queue, [queue.name]))
            timer.start()
            consumer_conn.drain_events(timeout=10)
            timer.join()
            assert got[-1] == queue.name
        waits = consumer_conn.default_channel._waits
        assert set(waits) == set(groups)  # one blocking connection per master
        assert len({id(w.connection) for w in waits.values()}) == len(groups)
    assert got == [q.name for q in queues]
    cleanup(consumer_conn, queues)


def test_queues_sharing_a_master_all_get_consumed_while_idle(conns) -> None:
    consumer_conn, producer_conn = conns(), conns()
    groups = queues_by_node(consumer_conn, per_node=2)
    node, shared = next(iter(groups.items()))
    got: list[str] = []
    with Consumer(consumer_conn.default_channel, shared,
                  callbacks=[lambda b, m: (got.append(b), m.ack())]):
        with pytest.raises(TimeoutError):
            consumer_conn.drain_events(timeout=0.3)  # idle: BRPOP waits on one of them
        for queue in reversed(shared):  # the one BRPOP may not be waiting on, too
            publish(producer_conn, queue, [queue.name])
        while len(got) < 2:
            consumer_conn.drain_events(timeout=5)
    assert sorted(got) == sorted(q.name for q in shared)
    cleanup(consumer_conn, [q for g in groups.values() for q in g])


def test_a_message_taken_by_a_blocking_pop_survives_a_cancel(conns) -> None:
    consumer_conn, producer_conn = conns(), conns()
    queue = next(iter(queues_by_node(consumer_conn).values()))[0]
    channel = consumer_conn.default_channel
    consumer = Consumer(channel, [queue], callbacks=[lambda b, m: m.ack()])
    consumer.consume()
    with pytest.raises(TimeoutError):
        consumer_conn.drain_events(timeout=0.2)  # leaves the BRPOP in flight
    assert channel._in_poll
    publish(producer_conn, queue, ['in flight'])
    deadline = time.monotonic() + 5
    while producer_conn.default_channel._size(queue.name) and time.monotonic() < deadline:
        time.sleep(0.01)  # the waiting BRPOP took it: only its reply holds it now
    consumer.cancel()  # unblocked, its reply read and given back
    assert not channel._in_poll
    message = queue.bind(producer_conn.default_channel).get(no_ack=True)
    assert message is not None and message.payload == 'in flight'
    cleanup(producer_conn, [queue])


def test_acks_of_a_consumer_are_sent_before_it_waits_and_on_close(conns) -> None:
    conn = conns()
    queue = next(iter(queues_by_node(conn).values()))[0]
    publish(conn, queue, list(range(10)))
    other = conns()
    got: list[int] = []
    with Consumer(conn.default_channel, [queue], callbacks=[lambda b, m: (got.append(b),
                                                                        m.ack())]):
        while len(got) < 10:
            conn.drain_events(timeout=5)
        with pytest.raises(TimeoutError):
            conn.drain_events(timeout=0.2)  # nothing left: the acks went before the wait
        assert records(other, queue) == 0
        publish(conn, queue, [10, 11])
        while len(got) < 12:
            conn.drain_events(timeout=5)
    conn.release()  # the last acks go with the cancel / close
    assert records(other, queue) == 0
    assert got == list(range(12))
    cleanup(other, [queue])


def test_hub_consumes_from_every_master_and_idles_on_their_sockets(conns) -> None:
    conn, producer_conn = conns(), conns()
    groups = queues_by_node(conn)
    queues = [group[0] for group in groups.values()]
    hub = Hub()
    got: list[str] = []
    try:
        conn.register_with_event_loop(hub)
        consumer = Consumer(conn.channel(), queues, prefetch_count=10,
                            callbacks=[lambda b, m: (got.append(b), m.ack())])
        consumer.consume()
        for queue in queues:
            publish(producer_conn, queue, [f'{queue.name}:{i}' for i in range(20)])
        assert run_hub_until(hub, lambda: len(got) == 60, 10)
        for queue in queues:
            assert [b for b in got if b.startswith(queue.name + ':')] == \
                [f'{queue.name}:{i}' for i in range(20)]
        assert len(conn.transport.cycle.fds) == len(groups)  # a socket per master
        for queue in reversed(queues):  # while the hub sleeps on those sockets
            publish(producer_conn, queue, [f'late {queue.name}'])
        assert run_hub_until(hub, lambda: len(got) == 63, 10)
        consumer.cancel()
    finally:
        hub.close()
    assert [records(producer_conn, q) for q in queues] == [0, 0, 0]
    cleanup(producer_conn, queues)


def test_prefetch_one_takes_one_message_of_queues_on_three_masters(conns) -> None:
    conn = conns()
    queues = [group[0] for group in queues_by_node(conn).values()]
    for queue in queues:
        publish(conn, queue, [f'{queue.name}:{i}' for i in range(3)])
    got: list[Any] = []
    channel = conn.default_channel
    with Consumer(channel, queues, prefetch_count=1, callbacks=[lambda b, m: got.append(m)]):
        for turn in range(6):
            conn.drain_events(timeout=5)
            # one delivered and unacked, nothing held, one record in the cluster
            assert len(got) == turn + 1 and not channel._prefetched
            assert sum(records(conn, q) for q in queues) == 1
            got[-1].ack()
    # the turns went round the queues (on three masters)
    assert len({m.payload.rsplit(':', 1)[0] for m in got[:3]}) == 3
    cleanup(conn, queues)
