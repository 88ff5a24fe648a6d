"""On the Hub, a lost Redis connection moves the readers: the old socket's goes, the new
one's comes (BRPOP and LISTEN), and a closed connection leaves nothing in the Hub."""
from __future__ import annotations

import time

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.asynchronous import Hub
from t.integration.redis.helpers import publish, report
from t.integration.redis.servers import RedisProcess
from t.servers import unique_name

pytestmark = pytest.mark.integration


def run_hub(hub: Hub, conn: Connection, until, timeout: float = 10.0) -> list:
    """Run the hub as a worker does: a connection error is noted and the loop goes on."""
    errors: list = []
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        try:
            hub.run_once()
        except conn.connection_errors as exc:
            errors.append(exc)
            time.sleep(0.1)
    return errors


def our_fds(conn: Connection) -> set[int]:
    return set(conn.transport.cycle.fds)


def test_hub_moves_readers_across_a_redis_restart_and_leaves_none_at_close():
    server = RedisProcess().start()
    name = unique_name('hub-restart')
    queue = Queue(name, Exchange(name), name)
    fan = Exchange(name + '.fan', 'fanout')
    got: list = []
    hub = Hub()
    try:
        conn = Connection(server.url)
        conn.register_with_event_loop(hub)
        consumer = Consumer(conn.channel(), [queue, Queue(name + '.fq', fan)],
                            callbacks=[lambda b, m: (got.append(b), m.ack())])
        consumer.consume()
        publish(server.url, queue, ['before'])
        run_hub(hub, conn, lambda: got == ['before'])
        old = our_fds(conn)
        assert len(old) == 2 and old <= set(hub.readers)  # BRPOP and LISTEN

        server.restart(down_for=0.5)
        run_hub(hub, conn, lambda: len(our_fds(conn)) == 2 and our_fds(conn) != old,
                timeout=10)
        new = our_fds(conn)
        assert len(new) == 2 and new <= set(hub.readers)
        # every reader the hub has for us is a live socket of ours
        assert not (old - new) & set(hub.readers)

        publish(server.url, queue, ['after'])
        run_hub(hub, conn, lambda: 'after' in got)
        with Connection(server.url) as pub:
            deadline = time.monotonic() + 5
            while 'broadcast' not in got and time.monotonic() < deadline:
                Producer(pub.channel(), fan).publish('broadcast')  # LISTEN resubscribed
                run_hub(hub, conn, lambda: 'broadcast' in got, timeout=0.5)
        assert report('hub restart', ['before', 'after'], [b for b in got
                                                             if b != 'broadcast']) == (0, 0)
        assert 'broadcast' in got

        live = our_fds(conn)
        consumer.cancel()
        conn.close()
        assert not live & set(hub.readers), 'a closed connection left readers in the hub'
        cycle = conn.transport.cycle if conn._transport is not None else None
        assert cycle is None or not (cycle._fd_to_chan or cycle._chan_to_sock)
    finally:
        hub.close()
        server.stop()
