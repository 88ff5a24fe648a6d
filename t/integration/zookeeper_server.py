"""ZooKeeper servers for the tests: the shared one (``ZOOKEEPER_URL``, started by
``.ci/servers.d/zookeeper.sh``) and private ones started from Debian's jar on a
spare loopback port, for tests that kill and restart the server."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
from typing import Iterator

from t.integration.env_servers import PrivateServer, unavailable, url_from_env
from t.servers import unique_name

HOW_TO = ('apt-get install zookeeper, then eval "$(bash .ci/start-servers)" '
          '(exports ZOOKEEPER_URL and ZOOKEEPER_JAR)')
DEFAULT_JAR = '/usr/share/java/zookeeper.jar'


def shared_url() -> str:
    """The shared server's URL (skip/fail when absent)."""
    return url_from_env('ZOOKEEPER_URL', 'kazoo', 2181, HOW_TO)


class PrivateZooKeeper(PrivateServer):
    """A standalone ZooKeeper of our own."""

    name = 'zookeeper'

    def __init__(self) -> None:
        jar = os.environ.get('ZOOKEEPER_JAR') or DEFAULT_JAR
        if not os.path.exists(jar) or shutil.which('java') is None:
            unavailable(f'ZooKeeper jar {jar} or java not found; {HOW_TO}')
        super().__init__()
        self.jar = jar
        os.makedirs(os.path.join(self.dir, 'data'))
        with open(os.path.join(self.dir, 'zoo.cfg'), 'w') as cfg:
            cfg.write(f'tickTime=2000\ndataDir={self.dir}/data\nclientPort={self.port}\n'
                      'clientPortAddress=127.0.0.1\nadmin.enableServer=false\n'
                      '4lw.commands.whitelist=*\nmaxClientCnxns=0\n')

    @property
    def url(self) -> str:
        return f'zookeeper://127.0.0.1:{self.port}'

    def command(self) -> list[str]:
        return ['java', '-Xmx128m', '-Dzookeeper.admin.enableServer=false',
                '-cp', f'{self.dir}:{self.jar}', 'org.apache.zookeeper.server.ZooKeeperServerMain',
                os.path.join(self.dir, 'zoo.cfg')]

    def ready(self) -> bool:
        try:
            with socket.create_connection(('127.0.0.1', self.port), timeout=1) as sock:
                sock.sendall(b'ruok')
                return sock.recv(4) == b'imok'
        except OSError:
            return False


@contextlib.contextmanager
def private_vhost(prefix: str = 'kombu-t') -> Iterator[str]:
    """``zookeeper://.../<vhost>`` on the shared server; the vhost's znodes go afterwards."""
    from kazoo.client import KazooClient
    base = shared_url()
    vhost = unique_name(prefix)
    try:
        yield f'{base}/{vhost}'
    finally:
        zk = KazooClient(base.split('://', 1)[1])
        zk.start(timeout=10)
        try:
            zk.delete(f'/{vhost}', recursive=True)
        except Exception:  # nothing was created
            pass
        finally:
            zk.stop()
            zk.close()
