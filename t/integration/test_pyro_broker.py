"""pyro:// beyond the conformance suite, against a private name server and broker:
state shared between client *processes*, the URL's port, and a broker restart."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from typing import Any, Iterator

import pytest

from kombu import Connection, Consumer, Producer, Queue
from t.integration.private_pyro import ROOT, PrivatePyro
from t.servers import unique_name


@pytest.fixture
def servers() -> Iterator[PrivatePyro]:
    private = PrivatePyro()
    try:
        yield private
    finally:
        private.stop()


def run_client(url: str, code: str) -> str:
    """Run ``code`` in another Python process with ``conn`` connected to ``url``."""
    script = f'from kombu import *\nconn = Connection({url!r})\n' + textwrap.dedent(code)
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=60, env={'PYTHONPATH': ROOT}, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_exchange_bound_in_one_process_routes_for_another(servers):
    name, queue_name = unique_name('fan'), unique_name('q')
    run_client(servers.url, f'''
        exchange = Exchange({name!r}, 'fanout')
        Queue({queue_name!r}, exchange)(conn.default_channel).declare()
        Queue({queue_name!r} + '-prio', exchange, max_priority=9)(conn.default_channel).declare()
    ''')
    # This process never declared the exchange or the queues.
    with Connection(servers.url) as conn:
        producer = Producer(conn.default_channel)
        for priority in (1, 8):
            producer.publish(f'p{priority}', exchange=name, routing_key='', priority=priority,
                             serializer='json')
    out = run_client(servers.url, f'''
        for name in ({queue_name!r}, {queue_name!r} + '-prio'):
            q = Queue(name)(conn.default_channel)
            print([q.get(no_ack=True).payload for _ in range(2)])
    ''')
    assert out.splitlines() == ["['p1', 'p8']", "['p8', 'p1']"]


def test_the_url_port_is_honoured(servers):
    with Connection(f'pyro://127.0.0.1:{servers.ns_port}/kombu.broker') as conn:
        conn.connect()
    other = Connection(f'pyro://127.0.0.1:{servers.ns_port + 1}/kombu.broker')
    with pytest.raises(other.connection_errors, match=f'port {servers.ns_port + 1}'):
        other.transport.establish_connection()


def test_unknown_broker_name_is_a_connection_error(servers):
    conn = Connection(f'pyro://127.0.0.1:{servers.ns_port}/no.such.broker')
    with pytest.raises(conn.connection_errors, match='Unable to lookup'):
        conn.transport.establish_connection()


def test_broker_restart_under_a_consumer_and_a_publisher(servers):
    queue = Queue(unique_name('restart'))
    got: list[Any] = []
    with Connection(servers.url) as consumer_conn, Connection(servers.url) as publisher_conn:
        queue(consumer_conn.default_channel).declare()
        producer = Producer(publisher_conn)

        def publish(body: str) -> None:
            producer.publish(body, routing_key=queue.name, serializer='json', retry=True,
                             retry_policy={'max_retries': 20, 'interval_start': 0.2,
                                           'interval_step': 0.2})
        with Consumer(consumer_conn, [queue], callbacks=[lambda b, m: (got.append(b),
                                                                        m.ack())]):
            publish('before')
            _drain_until(consumer_conn, lambda: got == ['before'])
            servers.kill_broker()
            with pytest.raises(consumer_conn.connection_errors):
                consumer_conn.drain_events(timeout=1)
            servers.start_broker()
        # The broker keeps nothing across a restart: consumers redeclare, publishers retry.
        consumer_conn.ensure_connection(max_retries=20, interval_start=0.2)
        queue(consumer_conn.default_channel).declare()
        publish('after')
        with Consumer(consumer_conn, [queue], callbacks=[lambda b, m: (got.append(b),
                                                                        m.ack())]):
            _drain_until(consumer_conn, lambda: got == ['before', 'after'])


def _drain_until(conn: Connection, done: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, 'messages did not arrive'
        try:
            conn.drain_events(timeout=0.5)
        except TimeoutError:
            pass
