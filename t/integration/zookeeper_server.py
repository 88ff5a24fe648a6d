"""ZooKeeper servers for the tests: the shared one (``ZOOKEEPER_URL``, started by
``.ci/servers.d/zookeeper.sh``) and private ones started from Debian's jar on a
spare loopback port, for tests that kill and restart the server."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from urllib.parse import urlsplit

import pytest

from t.servers import IN_CI, free_port, port_open

HOW_TO = ('apt-get install zookeeper, then eval "$(bash .ci/start-servers)" '
          '(exports ZOOKEEPER_URL and ZOOKEEPER_JAR)')
DEFAULT_JAR = '/usr/share/java/zookeeper.jar'


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def shared_url() -> str:
    """``zookeeper://host:port/`` of the shared server (skip/fail when absent)."""
    pytest.importorskip('kazoo')
    url = os.environ.get('ZOOKEEPER_URL')
    if not url:
        _unavailable(f'ZOOKEEPER_URL is not set; {HOW_TO}')
    parts = urlsplit(url)
    if not port_open(parts.hostname or '127.0.0.1', parts.port or 2181):
        _unavailable(f'no ZooKeeper listening at {url}; {HOW_TO}')
    return url.rstrip('/')


def _ruok(port: int) -> bool:
    import socket
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=1) as sock:
            sock.sendall(b'ruok')
            return sock.recv(4) == b'imok'
    except OSError:
        return False


class PrivateZooKeeper:
    """A standalone ZooKeeper of our own; ``kill()`` and ``start()`` keep its data."""

    def __init__(self) -> None:
        jar = os.environ.get('ZOOKEEPER_JAR') or DEFAULT_JAR
        if not os.path.exists(jar) or shutil.which('java') is None:
            _unavailable(f'ZooKeeper jar {jar} or java not found; {HOW_TO}')
        self.jar = jar
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix='kombu-zk-')
        os.makedirs(os.path.join(self.dir, 'data'))
        with open(os.path.join(self.dir, 'zoo.cfg'), 'w') as cfg:
            cfg.write(f'tickTime=2000\ndataDir={self.dir}/data\nclientPort={self.port}\n'
                      'clientPortAddress=127.0.0.1\nadmin.enableServer=false\n'
                      '4lw.commands.whitelist=*\nmaxClientCnxns=0\n')
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f'zookeeper://127.0.0.1:{self.port}'

    def start(self, timeout: float = 60) -> PrivateZooKeeper:
        self.proc = subprocess.Popen(
            ['java', '-Xmx128m', '-Dzookeeper.admin.enableServer=false',
             '-cp', f'{self.dir}:{self.jar}', 'org.apache.zookeeper.server.ZooKeeperServerMain',
             os.path.join(self.dir, 'zoo.cfg')],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _ruok(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f'private ZooKeeper on {self.port} did not start')
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash (the data directory stays)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None
        while port_open('127.0.0.1', self.port, 0.1):
            time.sleep(0.05)

    def stop(self) -> None:
        self.kill()  # nothing to save: the data directory goes too
        shutil.rmtree(self.dir, ignore_errors=True)
