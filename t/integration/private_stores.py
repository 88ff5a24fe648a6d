"""Private PostgreSQL and etcd servers on free loopback ports, for tests that restart them.

Each keeps its data in a temporary folder, so a restart finds the messages it
had: what a test checks is that the consumer rides over the outage.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any, Callable

from t.servers import free_port, port_open


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f'{what} did not come up in {timeout}s')
        time.sleep(0.05)


def postgres_bin() -> str | None:
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'))
    return os.path.dirname(found[-1]) if found else None


class PrivatePostgres:
    """``initdb`` + ``pg_ctl`` on a free port (as the postgres user when run as root)."""

    def __init__(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError('no PostgreSQL server binaries (apt-get install postgresql)')
        self.bindir = bindir
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix='kombu-pg-')
        os.chmod(self.dir, 0o755)  # the server (not root) must traverse it
        self.data = os.path.join(self.dir, 'data')
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, 'postgres')
            self._run_as = ['runuser', '-u', 'postgres', '--']
        self._pg('initdb', '-D', self.data, '-U', 'postgres', '--auth=trust', '--no-sync',
                 '-E', 'UTF8')

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run([*self._run_as, os.path.join(self.bindir, tool), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def url(self, driver: str = 'psycopg') -> str:
        return f'sqla+postgresql+{driver}://postgres@127.0.0.1:{self.port}/postgres'

    def start(self) -> None:
        self._pg('pg_ctl', '-D', self.data, '-l', os.path.join(self.dir, 'log'), '-w',
                 '-o', f'-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data} '
                       '-c fsync=off', 'start')
        _wait(lambda: port_open('127.0.0.1', self.port, 0.2), 30, 'PostgreSQL')

    def stop(self) -> None:
        self._pg('pg_ctl', '-D', self.data, '-m', 'fast', '-w', 'stop')

    def close(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateEtcd:
    """An etcd (v2 API on) on two free ports; its data folder survives restarts."""

    def __init__(self) -> None:
        exe = shutil.which('etcd')
        if exe is None:
            raise RuntimeError('no etcd binary (apt-get install etcd-server)')
        self.exe = exe
        self.port, self.peer_port = free_port(), free_port()
        self.dir = tempfile.mkdtemp(prefix='kombu-etcd-')
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f'etcd://127.0.0.1:{self.port}'

    def start(self) -> None:
        client = f'http://127.0.0.1:{self.port}'
        peer = f'http://127.0.0.1:{self.peer_port}'
        self.proc = subprocess.Popen(
            [self.exe, '--name', 'private', '--data-dir', os.path.join(self.dir, 'data'),
             '--enable-v2=true', '--listen-client-urls', client,
             '--advertise-client-urls', client, '--listen-peer-urls', peer,
             '--initial-advertise-peer-urls', peer, '--initial-cluster', f'private={peer}'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self._healthy, 30, 'etcd')

    def _healthy(self) -> bool:
        try:
            with socket.create_connection(('127.0.0.1', self.port), 0.2) as sock:
                sock.sendall(b'GET /health HTTP/1.0\r\n\r\n')
                return b'"true"' in sock.recv(4096)
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def consume_across_restart(url: str, options: dict[str, Any], queue_name: str, total: int,
                           server: Any, after: int = 50, down: float = 1.0,
                           timeout: float = 60.0) -> tuple[list[Any], int]:
    """Consume ``total`` messages of ``queue_name`` (acking each); after ``after`` of
    them ``server`` stops, and starts again ``down`` seconds later (meanwhile the
    consumer keeps polling); reconnect on connection errors.
    Return the bodies in the order received (duplicates included) and how many
    connections it took."""
    from kombu import Connection, Consumer, Queue

    received: list[Any] = []
    restarted = False
    connections = 0
    restarter: threading.Timer | None = None
    deadline = time.monotonic() + timeout
    queue = Queue(queue_name, routing_key=queue_name)

    def on_message(body: Any, message: Any) -> None:
        received.append(body)
        message.ack()

    while len(set(received)) < total and time.monotonic() < deadline:
        conn = Connection(url, transport_options=dict(options))
        connections += 1
        try:
            with Consumer(conn, [queue], callbacks=[on_message], prefetch_count=10):
                while len(set(received)) < total and time.monotonic() < deadline:
                    if not restarted and len(received) >= after:
                        restarted = True
                        server.stop()
                        restarter = threading.Timer(down, server.start)
                        restarter.start()
                    try:
                        conn.drain_events(timeout=0.5)
                    except socket.timeout:
                        pass
        except conn.connection_errors:
            time.sleep(0.2)  # the server is away: reconnect
        finally:
            try:
                conn.release()
            except Exception:  # closing a connection to a dead server
                pass
    if restarter is not None:
        restarter.join(30)
    return received, connections
