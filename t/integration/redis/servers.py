"""Private redis-server / sentinel processes on spare loopback ports for fault tests,
and a per-session database number on the shared Redis."""
from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import IO, Any

import redis

from t.servers import free_port

SHARED_HOST, SHARED_PORT = '127.0.0.1', 6379
#: 9 and 13 are used by other test modules (Celery worker, results)
TEST_DBS = (5, 6, 7, 8, 10, 11, 12, 14)


def claim_db() -> tuple[int, IO[Any]]:
    """Lock one of our database numbers of the shared Redis for this process."""
    for db in TEST_DBS:
        handle = open(f'/tmp/kombu-redis-testdb-{db}.lock', 'w')
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return db, handle
    raise RuntimeError(f'no free Redis test database among {TEST_DBS}')


def wait_ping(port: int, timeout: float = 10.0, **tls: Any) -> None:
    client = redis.Redis(host='127.0.0.1', port=port, socket_timeout=1,
                         socket_connect_timeout=1, **tls)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.ping():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f'redis on port {port} did not come up')
        time.sleep(0.05)


class RedisProcess:
    """A redis-server on a spare port (``sentinel=True``: a sentinel)."""

    def __init__(self, port: int | None = None, args: tuple[str, ...] = (),
                 conf: str | None = None, tls: bool = False) -> None:
        self.port = port or free_port()
        self.args = args
        self.conf = conf
        self.tls = tls
        self.password: str | None = None
        self.dir = tempfile.mkdtemp(prefix='kombu-redis-')
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisProcess:
        if self.conf is not None:
            path = os.path.join(self.dir, 'sentinel.conf')
            with open(path, 'w') as f:  # sentinel rewrites its config: writable copy
                f.write(self.conf.format(port=self.port, dir=self.dir))
            cmd = ['redis-server', path, '--sentinel']
        else:
            port_args = ['--port', str(self.port)]
            if self.tls:
                self._make_cert()
                port_args = ['--port', '0', '--tls-port', str(self.port),
                             '--tls-cert-file', self.cert, '--tls-key-file', self.key,
                             '--tls-ca-cert-file', self.cert, '--tls-auth-clients', 'no']
            cmd = ['redis-server', '--bind', '127.0.0.1', *port_args,
                   '--dir', self.dir, '--save', '', '--appendonly', 'no', *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        extra: dict[str, Any] = {'ssl': True, 'ssl_ca_certs': self.cert} if self.tls else {}
        if self.password:
            extra['password'] = self.password
        wait_ping(self.port, **extra)
        return self

    @property
    def cert(self) -> str:
        return os.path.join(self.dir, 'cert.pem')

    @property
    def key(self) -> str:
        return os.path.join(self.dir, 'key.pem')

    def _make_cert(self) -> None:
        """A self-signed certificate for 127.0.0.1 (needs the openssl CLI)."""
        subprocess.run(
            ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', self.key,
             '-out', self.cert, '-days', '1', '-subj', '/CN=127.0.0.1',
             '-addext', 'subjectAltName=IP:127.0.0.1'],
            check=True, capture_output=True, timeout=60)

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self, down_for: float = 0.5) -> None:
        self.kill(signal.SIGKILL)
        time.sleep(down_for)
        self.start()

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f'redis://127.0.0.1:{self.port}/0'


SENTINEL_CONF = (
    'bind 127.0.0.1\nport {port}\ndir {dir}\n'
    'sentinel monitor mymaster 127.0.0.1 %d 1\n'
    'sentinel down-after-milliseconds mymaster 1000\n'
    'sentinel failover-timeout mymaster 3000\n'
)


class SentinelSetup:
    """A master, a replica and a sentinel watching them as ``mymaster``."""

    def __init__(self, sentinel_password: str | None = None) -> None:
        self.sentinel_password = sentinel_password
        fast_sync = ('--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0')
        self.master = RedisProcess(args=fast_sync)
        self.replica = RedisProcess(
            args=('--replicaof', '127.0.0.1', str(self.master.port), *fast_sync))
        conf = SENTINEL_CONF % self.master.port
        if sentinel_password:
            conf += f'requirepass {sentinel_password}\n'
        self.sentinel = RedisProcess(conf=conf)
        self.sentinel.password = sentinel_password

    def start(self) -> SentinelSetup:
        self.master.start()
        self.replica.start()
        self.sentinel.start()
        # wait until the replica is in sync and the sentinel knows it
        client = redis.Redis(port=self.sentinel.port, password=self.sentinel_password)
        replica = redis.Redis(port=self.replica.port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if replica.info('replication').get('master_link_status') == 'up' \
                    and client.sentinel_slaves('mymaster'):
                return self
            time.sleep(0.1)
        raise TimeoutError('sentinel did not discover the replica')

    def master_port(self) -> int:
        client = redis.Redis(port=self.sentinel.port, password=self.sentinel_password)
        return int(client.sentinel_get_master_addr_by_name('mymaster')[1])

    def failover(self, timeout: float = 20) -> int:
        old = self.master_port()
        sentinel = redis.Redis(port=self.sentinel.port, password=self.sentinel_password)
        sentinel.execute_command('SENTINEL FAILOVER', 'mymaster')
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.master_port()
            if port != old and redis.Redis(port=port).info('replication')['role'] == 'master':
                return port
            time.sleep(0.1)
        raise TimeoutError('failover did not happen')

    @property
    def url(self) -> str:
        return f'sentinel://127.0.0.1:{self.sentinel.port}'

    def stop(self) -> None:
        for proc in (self.sentinel, self.replica, self.master):
            proc.stop()
