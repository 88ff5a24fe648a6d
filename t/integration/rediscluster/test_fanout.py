"""rediscluster:// fanout on the shared cluster: sharded pub/sub (Redis 7 SPUBLISH/SSUBSCRIBE),
one subscription connection per master, polled with the BRPOP ones; copies in every bound
queue when ``fanout_pubsub`` is off."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.asynchronous import Hub
from t.integration.rediscluster.test_consume import run_hub_until
from t.integration.test_conformance_rediscluster import cluster_url
from t.servers import unique_name

pytest.importorskip('redis')

pytestmark = pytest.mark.integration


@pytest.fixture
def conns() -> Iterator[Callable[..., Connection]]:
    url = cluster_url()
    made: list[Connection] = []

    def make(**options: Any) -> Connection:
        conn = Connection(url, transport_options=options)
        made.append(conn)
        return conn
    yield make
    for conn in made:
        conn.release()


@pytest.fixture(autouse=True)
def needs_sharded_pubsub(conns) -> None:
    if not conns().transport.sharded_pubsub():
        pytest.skip('the cluster has no sharded pub/sub (Redis < 7)')


def exchanges_on_every_master(conn: Connection) -> list[Exchange]:
    client = conn.transport.cluster_client()
    layout = conn.default_channel.layout
    masters = {n.name for n in client.get_primaries()}
    found: dict[str, Exchange] = {}
    while len(found) < len(masters):
        name = unique_name('rc-fan')
        node = client.get_node_from_key(layout.fanout_channel(name)).name
        found.setdefault(node, Exchange(name, 'fanout'))
    return list(found.values())


def bound_queue(conn: Connection, exchange: Exchange) -> Queue:
    queue = Queue(unique_name('rc-fanq'), exchange)
    queue.bind(conn.default_channel).declare()
    return queue


def stored(conn: Connection, queue: Queue) -> int:
    return int(conn.default_channel._size(queue.name))


def test_broadcast_on_every_master_reaches_every_consumer_one_per_call(conns) -> None:
    producer_conn = conns()
    exchanges = exchanges_on_every_master(producer_conn)
    consumers = [conns(), conns()]
    got: list[list[str]] = [[], []]
    queues: list[list[Queue]] = []
    entered = []
    for i, conn in enumerate(consumers):
        mine = [bound_queue(conn, ex) for ex in exchanges]
        queues.append(mine)
        consumer = Consumer(conn.default_channel, mine,
                            callbacks=[lambda b, m, i=i: (got[i].append(b), m.ack())])
        consumer.consume()
        entered.append(consumer)
        with pytest.raises(TimeoutError):
            conn.drain_events(timeout=0.2)  # subscribes (pub/sub needs a first poll)
        assert set(conn.default_channel._subs) == \
            {producer_conn.transport.cluster_client().get_node_from_key(
                conn.default_channel.layout.fanout_channel(ex.name)).name
             for ex in exchanges}  # one subscription connection per master
    for ex in exchanges:
        Producer(producer_conn.default_channel, ex).publish(f'to {ex.name}', serializer='json')
    for i, conn in enumerate(consumers):
        for calls in range(1, 4):
            conn.drain_events(timeout=5)
            assert len(got[i]) == calls
        assert sorted(got[i]) == sorted(f'to {ex.name}' for ex in exchanges)
    # broadcast, not stored: nothing waits in the queues' lists
    assert [stored(producer_conn, q) for mine in queues for q in mine] == [0] * 6
    for consumer in entered:
        consumer.cancel()
    assert [c.default_channel._subs for c in consumers] == [{}, {}]  # unsubscribed


def test_two_consumed_queues_of_one_exchange_get_a_copy_each(conns) -> None:
    conn, producer_conn = conns(), conns()
    exchange = exchanges_on_every_master(conn)[0]
    queues = [bound_queue(conn, exchange) for _ in range(2)]
    got: list[tuple[str, str]] = []
    with Consumer(conn.default_channel, queues, callbacks=[
            lambda b, m: (got.append((m.delivery_info['routing_key'] or '', b)), m.ack())]):
        with pytest.raises(TimeoutError):
            conn.drain_events(timeout=0.2)
        Producer(producer_conn.default_channel, exchange).publish('both', serializer='json')
        conn.drain_events(timeout=5)
        assert len(got) == 1  # one per call, the other copy held
        conn.drain_events(timeout=5)
    assert [b for _, b in got] == ['both', 'both']


def test_a_bound_queue_without_consumer_gets_no_copy(conns) -> None:
    conn = conns()
    exchange = exchanges_on_every_master(conn)[0]
    idle = bound_queue(conn, exchange)
    Producer(conn.default_channel, exchange).publish('nobody listens', serializer='json')
    assert stored(conn, idle) == 0


def test_direct_and_fanout_queues_on_one_master_both_delivered(conns) -> None:
    conn, producer_conn = conns(), conns()
    exchange = exchanges_on_every_master(conn)[0]
    client = conn.transport.cluster_client()
    node = client.get_node_from_key(conn.default_channel.layout.fanout_channel(exchange.name))
    while True:  # a direct queue on the same master as the exchange's shard channel
        direct = Queue(unique_name('rc-direct'))
        if client.get_node_from_key(
                conn.default_channel.layout.queue_key(direct.name, 0)).name == node.name:
            break
    direct.bind(conn.default_channel).declare()
    fan = bound_queue(conn, exchange)
    got: list[str] = []
    with Consumer(conn.default_channel, [direct, fan],
                  callbacks=[lambda b, m: (got.append(b), m.ack())]):
        with pytest.raises(TimeoutError):
            conn.drain_events(timeout=0.2)
        Producer(producer_conn.default_channel, exchange).publish('fan', serializer='json')
        Producer(producer_conn.default_channel).publish('direct', routing_key=direct.name,
                                                       serializer='json')
        while len(got) < 2:
            conn.drain_events(timeout=5)
    assert sorted(got) == ['direct', 'fan']
    direct.bind(producer_conn.default_channel).delete()


def test_hub_consumer_gets_broadcasts(conns) -> None:
    conn, producer_conn = conns(), conns()
    exchanges = exchanges_on_every_master(conn)
    queues = [bound_queue(conn, ex) for ex in exchanges]
    hub = Hub()
    got: list[str] = []
    try:
        conn.register_with_event_loop(hub)
        consumer = Consumer(conn.channel(), queues,
                            callbacks=[lambda b, m: (got.append(b), m.ack())])
        consumer.consume()
        run_hub_until(hub, lambda: False, 0.3)  # subscribed on the first ticks
        for ex in exchanges:
            Producer(producer_conn.default_channel, ex).publish(ex.name, serializer='json')
        assert run_hub_until(hub, lambda: len(got) == 3, 10)
        assert sorted(got) == sorted(ex.name for ex in exchanges)
        consumer.cancel()
    finally:
        hub.close()


def test_copies_in_every_bound_queue_when_pubsub_is_off(conns) -> None:
    conn = conns(fanout_pubsub=False)
    assert not conn.default_channel._sharded_fanout
    exchange = exchanges_on_every_master(conn)[0]
    queues = [bound_queue(conn, exchange) for _ in range(2)]
    Producer(conn.default_channel, exchange).publish('kept', serializer='json')
    for queue in queues:  # waiting, consumer or not
        message = queue.bind(conn.default_channel).get(no_ack=True)
        assert message is not None and message.payload == 'kept'
        queue.bind(conn.default_channel).delete()


def test_broadcasts_left_unacked_or_held_at_close_are_not_stored(conns) -> None:
    conn, producer_conn = conns(), conns()
    exchange = exchanges_on_every_master(conn)[0]
    queues = [bound_queue(conn, exchange) for _ in range(2)]
    got: list[Any] = []
    channel = conn.channel()
    consumer = Consumer(channel, queues, callbacks=[lambda b, m: got.append(m)])
    consumer.consume()
    with pytest.raises(TimeoutError):
        conn.drain_events(timeout=0.2)
    Producer(producer_conn.default_channel, exchange).publish('once', serializer='json')
    conn.drain_events(timeout=5)  # one copy delivered (not acked), the other held
    assert len(got) == 1 and channel._prefetched
    got[0].reject(requeue=True)  # a requeued broadcast is dropped too
    channel.close()
    assert [stored(producer_conn, q) for q in queues] == [0, 0]
    assert not channel._broadcasts
