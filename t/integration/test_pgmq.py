"""pgmq:// waiting and routing against the real PGMQ (``PGMQ_URL``): long polls and
LISTEN/NOTIFY instead of client-side polling, and topic routing done by PGMQ.

Reads are counted by wrapping the client's read methods (:mod:`t.integration.pgmq_reads`:
the calls still reach the server); no assertion is about time.
"""
from __future__ import annotations

import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from kombu import Connection, Exchange, Queue
from t.integration.env_servers import url_from_env
from t.integration.pgmq_reads import count_reads

HOW_TO = ('install PGMQ with `bash .ci/servers.d/pgmq.sh` and set PGMQ_URL to what it prints')


@pytest.fixture(scope='module')
def pgmq_url() -> str:
    return url_from_env('PGMQ_URL', 'pgmq', 5432, HOW_TO)


@pytest.fixture
def connect(pgmq_url: str) -> Iterator[Any]:
    opened: list[Connection] = []

    def make(**options: Any) -> Connection:
        conn = Connection(pgmq_url, transport_options={'init_extension': False, **options})
        conn.connect()
        opened.append(conn)
        return conn

    yield make
    if opened:   # drop the test's queues (dropping a queue drops its bindings too)
        channel = opened[0].channel()
        for queue in NAMED:   # some are exchange names
            if channel._has_queue(queue):
                channel.queue_delete(queue)
        NAMED.clear()
    for conn in opened:
        conn.release()


#: names given out by name() in the running test.
NAMED: list[str] = []


def name(kind: str) -> str:
    NAMED.append(f'pgmq_{kind}_{uuid.uuid4().hex[:10]}')
    return NAMED[-1]


def consume(conn: Connection, queue: Queue, got: list[Any]) -> None:
    conn.Consumer(queue, callbacks=[lambda body, message: (got.append(body), message.ack())],
                  accept=['json']).consume()


def idle_reads(conn: Connection, queue: Queue, seconds: float) -> Counter[str]:
    got: list[Any] = []
    consume(conn, queue, got)
    counts = count_reads(conn)
    with pytest.raises(socket.timeout):
        conn.drain_events(timeout=seconds)
    assert got == []
    return counts


def test_idle_consumer_blocks_in_the_server(connect: Any) -> None:
    queue = Queue(name('idle'))
    polled = connect(wait_time_seconds=0, polling_interval=0.01)   # the old client loop
    queue(polled.default_channel).declare()
    spinning = idle_reads(polled, queue, 1.0)
    waiting = idle_reads(connect(wait_time_seconds=5), queue, 1.0)
    # drain_events reads twice before it waits, then one server-side wait (cut short by
    # the timeout) and a read after it.
    assert waiting['read_with_poll'] == 1
    assert sum(waiting.values()) <= 4
    # The old loop reads every polling_interval (how often depends on the machine's load).
    assert sum(spinning.values()) > 2 * sum(waiting.values())


def test_long_poll_delivers_a_message_published_while_waiting(connect: Any) -> None:
    queue = Queue(name('lp'))
    consumer = connect(wait_time_seconds=20)
    queue(consumer.default_channel).declare()
    got: list[Any] = []
    consume(consumer, queue, got)
    counts = count_reads(consumer)
    client = consumer.transport._get_pgmq_client()
    polling = threading.Event()
    real_poll = client.read_with_poll

    def read_with_poll(*args: Any, **kwargs: Any) -> Any:
        polling.set()
        return real_poll(*args, **kwargs)
    client.read_with_poll = read_with_poll
    publisher = connect()

    def publish() -> None:
        polling.wait(10)
        publisher.Producer().publish({'n': 1}, routing_key=queue.name)
    thread = threading.Thread(target=publish)
    thread.start()
    try:
        consumer.drain_events(timeout=15)
    finally:
        thread.join()
    assert got == [{'n': 1}]
    assert counts['read_with_poll'] == 1   # the server-side wait returned it


def test_several_queues_take_turns_in_short_long_polls(connect: Any) -> None:
    one, two = Queue(name('multi')), Queue(name('multi'))
    consumer = connect(wait_time_seconds=10)
    for queue in one, two:
        queue(consumer.default_channel).declare()
    got: list[Any] = []
    consumer.Consumer([one, two], callbacks=[lambda b, m: (got.append(b), m.ack())],
                      accept=['json']).consume()
    counts = count_reads(consumer)
    with pytest.raises(socket.timeout):
        consumer.drain_events(timeout=2.5)
    # A turn is at most a second: about one per second, not one per poll interval.
    assert 1 <= counts['read_with_poll'] <= 4


def test_notify_idle_consumer_issues_no_reads(connect: Any) -> None:
    queue = Queue(name('nidle'))
    conn = connect(use_notify=True, wait_time_seconds=30)
    queue(conn.default_channel).declare()
    counts = idle_reads(conn, queue, 1.0)
    # drain_events reads twice before it waits, once after LISTEN (a message may
    # predate it), once at the timeout.
    assert counts['read_with_poll'] == 0
    assert sum(counts.values()) <= 4
    assert conn.transport._listener.received == 0


def test_notify_wakes_the_consumer_on_publish(connect: Any) -> None:
    queue = Queue(name('nwake'))
    consumer = connect(use_notify=True, wait_time_seconds=30,
                       notify_throttle_interval_ms=0)
    queue(consumer.default_channel).declare()
    got: list[Any] = []
    consume(consumer, queue, got)
    counts = count_reads(consumer)
    listener = consumer.transport._notify_listener()
    waiting = threading.Event()
    real_wait = listener.wait

    def wait(timeout: float) -> bool:
        waiting.set()
        return real_wait(timeout)
    listener.wait = wait   # type: ignore[method-assign]
    publisher = connect()

    def publish() -> None:
        waiting.wait(10)
        publisher.Producer().publish({'n': 1}, routing_key=queue.name)
    thread = threading.Thread(target=publish)
    thread.start()
    try:
        consumer.drain_events(timeout=20)
    finally:
        thread.join()
    assert got == [{'n': 1}]
    assert listener.received >= 1   # woken by the notification, not a deadline
    assert sum(counts.values()) <= 4


def test_notify_throttled_inserts_are_read_after_the_interval(connect: Any) -> None:
    queue = Queue(name('nthrottle'))
    consumer = connect(use_notify=True, wait_time_seconds=30,
                       notify_throttle_interval_ms=200)
    queue(consumer.default_channel).declare()
    got: list[Any] = []
    consume(consumer, queue, got)
    with pytest.raises(socket.timeout):   # enables the trigger and LISTENs
        consumer.drain_events(timeout=0.2)
    publisher = connect()
    producer = publisher.Producer()
    for n in range(3):   # one notification: the others fall in the throttle interval
        producer.publish({'n': n}, routing_key=queue.name)
    while len(got) < 3:
        consumer.drain_events(timeout=10)
    assert sorted(m['n'] for m in got) == [0, 1, 2]


def test_notify_trigger_uses_the_throttle_option(connect: Any, pgmq_url: str) -> None:
    queue = Queue(name('ntrig'))
    conn = connect(use_notify=True, notify_throttle_interval_ms=123)
    queue(conn.default_channel).declare()
    idle_reads(conn, queue, 0.1)
    throttles = {t.queue_name: t.throttle_interval_ms
                 for t in conn.transport._get_pgmq_client().list_notify_throttles()}
    assert throttles[queue.name] == 123


def test_cancel_gives_back_a_long_polled_message(connect: Any) -> None:
    queue = Queue(name('giveback'))
    conn = connect(wait_time_seconds=2)
    channel = conn.default_channel
    queue(channel).declare()
    conn.Producer().publish({'n': 1}, routing_key=queue.name)
    consumer = conn.Consumer(queue, accept=['json'])
    consumer.consume()
    assert channel._long_poll(queue.name, 1)
    assert channel._size(queue.name) == 0   # read: invisible
    consumer.cancel()
    assert channel._size(queue.name) == 1
    message = queue(channel).get(accept=['json'])
    assert message is not None and message.payload == {'n': 1}
    message.ack()


def test_topic_routing_reaches_queues_another_connection_bound(connect: Any) -> None:
    exchange = Exchange(name('topic'), 'topic')
    stock = Queue(name('stock'), exchange, '*.stock.#')
    everything = Queue(name('all'), exchange, '#')
    empty = Queue(name('empty'), exchange, '')
    consumer = connect()
    for queue in stock, everything, empty:
        queue(consumer.default_channel).declare()
    publisher = connect()   # never declares the queues: PGMQ knows the bindings
    exchange(publisher.default_channel).declare()
    producer = publisher.Producer(exchange=exchange)
    keys = ['usd.stock', 'eur.stock.db', 'stock.nasdaq', '']
    for key in keys:
        producer.publish(key, routing_key=key, serializer='json')
    channel = consumer.default_channel

    def drain(queue: Queue) -> list[Any]:
        got = []
        while (message := queue(channel).get(accept=['json'])) is not None:
            got.append(message.payload)
            message.ack()
        return got
    assert drain(stock) == ['usd.stock', 'eur.stock.db']
    assert drain(everything) == keys
    assert drain(empty) == ['']


def test_topic_keys_pgmq_refuses_route_in_the_client(connect: Any) -> None:
    exchange = Exchange(name('topicx'), 'topic')
    odd = Queue(name('odd'), exchange, 'a:b.*')     # no server pattern for this binding
    both = Queue(name('both'), exchange, '#')
    conn = connect()
    for queue in odd, both:
        queue(conn.default_channel).declare()
    producer = conn.Producer(exchange=exchange)
    # PGMQ refuses this key too
    producer.publish('odd key', routing_key='a:b.c', serializer='json')
    producer.publish('plain', routing_key='x.y', serializer='json')
    channel = conn.default_channel
    got = {}
    for queue in odd, both:
        got[queue.name] = []
        while (message := queue(channel).get(accept=['json'])) is not None:
            got[queue.name].append(message.payload)
            message.ack()
    assert got[odd.name] == ['odd key']
    assert got[both.name] == ['odd key', 'plain']


def test_topic_unbind_keeps_patterns_another_binding_needs(connect: Any) -> None:
    exchange = Exchange(name('topicu'), 'topic')
    queue = Queue(name('unbind'), exchange, 'a.#')
    conn = connect()
    channel = conn.default_channel
    bound = queue(channel)
    bound.declare()
    bound.bind_to(exchange, 'a')   # 'a.#' is also bound as 'a' in PGMQ
    bound.unbind_from(exchange, 'a.#')
    publisher = connect()   # routes by PGMQ's bindings only
    exchange(publisher.default_channel).declare()
    producer = publisher.Producer(exchange=exchange)
    for key in ('a', 'a.b'):
        producer.publish(key, routing_key=key, serializer='json')
    got = []
    while (message := bound.get(accept=['json'])) is not None:
        got.append(message.payload)
        message.ack()
    assert got == ['a']


def test_queue_ttl_applies_to_messages_pgmq_routed(connect: Any) -> None:
    exchange = Exchange(name('topicttl'), 'topic')
    short = Queue(name('ttl'), exchange, 'k', message_ttl=0.3)
    plain = Queue(name('nottl'), exchange, 'k')
    consumer = connect()
    for queue in short, plain:
        queue(consumer.default_channel).declare()
    publisher = connect()   # does not know the queues' x-message-ttl
    exchange(publisher.default_channel).declare()
    publisher.Producer(exchange=exchange).publish('m', routing_key='k', serializer='json')
    channel = consumer.default_channel
    time.sleep(0.6)   # past the TTL (send_topic committed before publish returned)
    assert short(channel).get(accept=['json']) is None
    message = plain(channel).get(accept=['json'])
    assert message is not None and message.payload == 'm'
    message.ack()


def test_notify_trigger_is_made_again_for_a_redeclared_queue(connect: Any) -> None:
    queue = Queue(name('nredecl'))
    conn = connect(use_notify=True, notify_throttle_interval_ms=0)
    channel = conn.default_channel
    queue(channel).declare()
    idle_reads(conn, queue, 0.1)
    queue(channel).delete()
    queue(channel).declare()
    idle_reads(conn, queue, 0.1)
    throttles = {t.queue_name for t in conn.transport._get_pgmq_client().list_notify_throttles()}
    assert queue.name in throttles


def test_notify_without_long_polls_rereads_every_polling_interval(connect: Any) -> None:
    queue = Queue(name('nperiod'))
    conn = connect(use_notify=True, wait_time_seconds=0, polling_interval=0.25)
    queue(conn.default_channel).declare()
    counts = idle_reads(conn, queue, 1.0)
    # Reads at LISTEN and each quarter second: bounded by the period, not spinning.
    assert counts['read_with_poll'] == 0
    assert 4 <= sum(counts.values()) <= 8


def test_notify_listener_reconnects_after_its_connection_is_killed(
        connect: Any, pgmq_url: str) -> None:
    from kombu.exceptions import ConnectionError as KombuConnectionError
    queue = Queue(name('nkill'))
    consumer = connect(use_notify=True, notify_throttle_interval_ms=0)
    queue(consumer.default_channel).declare()
    got: list[Any] = []
    consume(consumer, queue, got)
    with pytest.raises(socket.timeout):   # LISTENing after this
        consumer.drain_events(timeout=0.1)
    listener = consumer.transport._listener
    pid = listener._conn.info.backend_pid
    admin = connect()
    with admin.transport._get_pgmq_client().pool.connection() as conn:
        conn.execute('SELECT pg_terminate_backend(%s)', (pid,))
    with pytest.raises(KombuConnectionError):
        consumer.drain_events(timeout=1)
    assert listener._conn is None
    admin.Producer().publish({'n': 1}, routing_key=queue.name)
    consumer.drain_events(timeout=5)
    assert got == [{'n': 1}]


def test_event_loop_consumer_is_woken_by_notify(connect: Any) -> None:
    from kombu.asynchronous import Hub
    queue = Queue(name('hub'))
    consumer = connect(use_notify=True, wait_time_seconds=30, notify_throttle_interval_ms=0)
    assert consumer.transport.implements.asynchronous
    assert not connect().transport.implements.asynchronous   # without use_notify
    queue(consumer.default_channel).declare()
    got: list[Any] = []
    consume(consumer, queue, got)
    hub = Hub()
    try:
        consumer.transport.register_with_event_loop(consumer.connection, hub)
        loop = hub.create_loop()
        next(loop)   # LISTENs and registers the socket as a reader
        listener = consumer.transport._listener
        assert listener.listening == {queue.name}
        counts = count_reads(consumer)
        publisher = connect()
        for n in range(3):
            publisher.Producer().publish({'n': n}, routing_key=queue.name)
        for _ in range(100):
            if len(got) == 3:
                break
            next(loop)   # blocks until a reader or the 30 s timer
        assert [m['n'] for m in got] == [0, 1, 2]
        assert listener.received >= 1
        assert sum(counts.values()) <= 10   # reads follow notifications, no polling
    finally:
        hub.close()


def test_queue_names_longer_than_pgmq_allows_work(connect: Any) -> None:
    queue = Queue(name('long') + '.celery.pidbox@ip-10-0-0-1.eu-west-1.compute.internal')
    conn = connect()
    channel = conn.default_channel
    queue(channel).declare()
    conn.Producer().publish({'n': 1}, routing_key=queue.name)
    assert len(channel.canonical_queue_name(queue.name)) == 47
    message = queue(channel).get(accept=['json'])
    assert message is not None and message.payload == {'n': 1}
    message.ack()
    queue(channel).delete()
    assert not channel._has_queue(queue.name)


def test_consuming_costs_a_read_and_a_delete_per_message(connect: Any) -> None:
    queue = Queue(name('cost'))
    conn = connect()
    queue(conn.default_channel).declare()
    producer = conn.Producer()
    for n in range(20):
        producer.publish({'n': n}, routing_key=queue.name)
    got: list[Any] = []
    consume(conn, queue, got)
    calls = count_reads(conn, ('read', 'delete', 'list_queues', 'metrics'))
    while len(got) < 20:
        conn.drain_events(timeout=5)
    assert [m['n'] for m in got] == list(range(20))
    # Connection.drain_events verifies the connection each time: locally, not by a query.
    assert calls == Counter(read=20, delete=20)
