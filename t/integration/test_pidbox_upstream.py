"""pidbox across implementations on the shared Redis: what ``celery inspect`` does.

Upstream Kombu 5.7 (in its throw-away virtualenv, as a subprocess) calls our
nodes, and our mailbox calls an upstream node, on a fanout mailbox like Celery's.
"""
from __future__ import annotations

import json
import socket
import subprocess
import textwrap
import threading

import pytest

from kombu import Connection, pidbox
from t.upstream import run_upstream, upstream_python

pytestmark = pytest.mark.integration


@pytest.fixture
def namespace(uname):
    return uname('pidbox-wire').replace('.', '-')


class OurNode(threading.Thread):
    def __init__(self, url, namespace, hostname):
        super().__init__(daemon=True)
        self.connection = Connection(url)
        mailbox = pidbox.Mailbox(namespace, type='fanout', accept=['json'])
        self.node = mailbox(self.connection).Node(hostname)
        self.node.handlers['ping'] = lambda state, **kw: {'ok': 'pong'}
        self.node.handlers['echo'] = lambda state, value=None: value
        self.halt = threading.Event()
        self.ready = threading.Event()

    def run(self):
        try:
            self.node.channel = self.connection.channel()
            with self.node.listen():
                while not self.halt.is_set():
                    try:
                        self.connection.drain_events(timeout=0.1)
                    except socket.timeout:
                        pass
                    self.ready.set()  # subscribed once the first poll ran
        finally:
            self.connection.release()


def test_upstream_mailbox_calls_our_nodes(redis_url, namespace):
    nodes = [OurNode(redis_url, namespace, f'w{i}@host') for i in range(2)]
    for node in nodes:
        node.start()
    try:
        for node in nodes:
            assert node.ready.wait(10)
        out = run_upstream(f"""
            import json
            from kombu import Connection, pidbox
            mailbox = pidbox.Mailbox({namespace!r}, type='fanout', accept=['json'])
            with Connection({redis_url!r}) as conn:
                bound = mailbox(conn)
                pings = bound.multi_call('ping', timeout=10, limit=2)
                echo = bound.call(['w1@host'], 'echo', {{'value': [1, 'two']}}, timeout=10)
            print(json.dumps({{'pings': pings, 'echo': echo}}))
        """, timeout=60)
    finally:
        for node in nodes:
            node.halt.set()
            node.join(10)
    result = json.loads(out)
    merged = {k: v for reply in result['pings'] for k, v in reply.items()}
    assert merged == {'w0@host': {'ok': 'pong'}, 'w1@host': {'ok': 'pong'}}
    assert result['echo'] == [{'w1@host': [1, 'two']}]


UPSTREAM_NODE = """
    import socket, time
    from kombu import Connection, pidbox
    mailbox = pidbox.Mailbox({namespace!r}, type='fanout', accept=['json'])
    with Connection({url!r}) as conn:
        node = mailbox(conn).Node('upstream@host', channel=conn.channel())
        node.handlers['ping'] = lambda state, **kw: {{'ok': 'pong'}}
        node.handlers['add'] = lambda state, x, y: x + y
        consumer = node.listen()
        announced = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.1)
            except socket.timeout:
                pass
            if not announced:
                print('ready', flush=True)
                announced = True
"""


def test_our_mailbox_calls_an_upstream_node(redis_url, namespace):
    script = textwrap.dedent(UPSTREAM_NODE.format(namespace=namespace, url=redis_url))
    proc = subprocess.Popen([str(upstream_python()), '-c', script], cwd='/',
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == 'ready', proc.stderr.read() if proc.poll() is not None else line
        mailbox = pidbox.Mailbox(namespace, type='fanout', accept=['json'])
        with Connection(redis_url) as conn:
            bound = mailbox(conn)
            assert bound.multi_call('ping', timeout=10, limit=1) == [
                {'upstream@host': {'ok': 'pong'}}]
            assert bound.call(['upstream@host'], 'add', {'x': 2, 'y': 40}, timeout=10) == [
                {'upstream@host': 42}]
            # Not addressed to it: the upstream node stays silent.
            assert bound.call(['nobody@host'], 'ping', timeout=0.5) == []
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
