"""Private RabbitMQ nodes on spare ports: one with TLS and management, or a cluster.

The shared broker on 5672 has neither TLS nor management and must never be
restarted or killed, so tests of ``amqps://``, ``get_manager()`` and of node
failures start their own nodes, in a temp dir, and stop them by pid afterwards.

Each node is the package's internal ``rabbitmq-server`` script run as the
current user with everything pointed into the temp dir:

* ``RABBITMQ_NODENAME`` ``kombu<amqp port>@localhost``, so names never clash
  with the shared node or another session's (they all register with the one
  epmd on 4369, which outlives the nodes and is left alone);
* ``RABBITMQ_NODE_PORT`` and ``RABBITMQ_DIST_PORT`` spare ports, the
  distribution listener bound to loopback;
* ``RABBITMQ_MNESIA_BASE``/``RABBITMQ_LOG_BASE``/``RABBITMQ_PID_FILE`` per node
  (the pid file holds the Erlang VM's pid: the script is a wrapper, so
  ``kill -9`` of the wrapper would leave the VM running);
* ``HOME`` the temp dir, where the Erlang cookie is written *before* the nodes
  start (nodes of a cluster and ``rabbitmqctl`` must share it, and nodes booting
  at once would race to create it);
* an empty ``RABBITMQ_CONF_ENV_FILE``, so the machine's rabbitmq-env.conf does
  not leak in.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Iterator

import pytest

from t.servers import IN_CI, free_port, port_open

SERVER_SCRIPT = '/usr/lib/rabbitmq/bin/rabbitmq-server'
# the package's own CLI: the one on PATH switches to the rabbitmq user (another HOME,
# so another cookie)
CTL_SCRIPT = '/usr/lib/rabbitmq/bin/rabbitmqctl'
# One scheduler and a small async pool: the machine has two cores for many tests.
ERL_ARGS = '+S 1:1 +A 4 -kernel inet_dist_use_interface {127,0,0,1}'


@dataclass
class Node:
    amqp_port: int
    amqps_port: int
    management_port: int
    ca_certs: str
    directory: str


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(['openssl', *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_certs(d: str) -> None:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost."""
    _openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key',
             '-out', 'ca.pem', '-days', '2', '-subj', '/CN=kombu-test-ca', cwd=d)
    _openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key',
             '-out', 'server.csr', '-subj', '/CN=localhost', cwd=d)
    with open(os.path.join(d, 'ext.cnf'), 'w') as fh:
        fh.write('subjectAltName=DNS:localhost,IP:127.0.0.1\n')
    _openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
             '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf',
             cwd=d)


def _spare_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _write_cookie(home: str) -> None:
    path = os.path.join(home, '.erlang.cookie')
    with open(path, 'w') as fh:
        fh.write(f'KOMBUTEST{os.getpid()}{free_port()}')
    os.chmod(path, 0o400)  # Erlang refuses a cookie others can read


@dataclass
class RabbitNode:
    """One node: its ports, files and process; start, kill and restart it."""

    home: str              # shared by a cluster's nodes: holds the cookie
    amqp_port: int
    dist_port: int
    config: str = ''       # rabbitmq.conf lines after the AMQP listener
    plugins: tuple[str, ...] = ()
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f'kombu{self.amqp_port}@localhost'

    @property
    def directory(self) -> str:
        return os.path.join(self.home, self.name.split('@')[0])

    @property
    def url(self) -> str:
        return f'amqp://guest:guest@127.0.0.1:{self.amqp_port}//'

    def env(self) -> dict[str, str]:
        d = self.directory
        return dict(
            os.environ, HOME=self.home, RABBITMQ_CONF_ENV_FILE=f'{d}/env.conf',
            RABBITMQ_CONFIG_FILE=f'{d}/rabbitmq.conf',
            RABBITMQ_ENABLED_PLUGINS_FILE=f'{d}/enabled_plugins',
            RABBITMQ_NODENAME=self.name, RABBITMQ_NODE_IP_ADDRESS='127.0.0.1',
            RABBITMQ_NODE_PORT=str(self.amqp_port), RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=f'{d}/mnesia', RABBITMQ_LOG_BASE=f'{d}/log',
            RABBITMQ_PID_FILE=f'{d}/rabbit.pid', ERL_EPMD_ADDRESS='127.0.0.1',
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=ERL_ARGS)

    def start(self) -> None:
        """Launch the node (again, keeping its data: a restarted member rejoins)."""
        d = self.directory
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'rabbitmq.conf'), 'w') as fh:
            fh.write(f'listeners.tcp.1 = 127.0.0.1:{self.amqp_port}\n{self.config}')
        with open(os.path.join(d, 'enabled_plugins'), 'w') as fh:
            fh.write(f'[{",".join(self.plugins)}].\n')
        open(os.path.join(d, 'env.conf'), 'w').close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(d, 'rabbit.pid'))
        with open(os.path.join(d, 'stdout.log'), 'a') as log:
            self.proc = subprocess.Popen([SERVER_SCRIPT], env=self.env(), stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self) -> str:
        with open(os.path.join(self.directory, 'stdout.log'), errors='replace') as fh:
            return fh.read()[-2000:]

    def wait_ready(self, timeout: float = 60, *ports: int) -> None:
        deadline = time.monotonic() + timeout
        for port in (self.amqp_port, *ports):
            while not port_open('127.0.0.1', port, 0.2):
                assert self.proc is not None
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    _unavailable(f'private RabbitMQ {self.name} did not start:\n'
                                 f'{self.log_tail()}')
                time.sleep(0.2)

    def beam_pid(self) -> int:
        with open(os.path.join(self.directory, 'rabbit.pid')) as fh:
            return int(fh.read().strip())

    def kill(self) -> None:
        """``kill -9`` the Erlang VM: no goodbye to clients or peers."""
        os.kill(self.beam_pid(), signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(10)  # the wrapper exits with its VM

    def ctl(self, *args: str, timeout: float = 60) -> str:
        """``rabbitmqctl -n <this node>`` (same cookie, through the shared epmd)."""
        proc = subprocess.run([CTL_SCRIPT, '-q', '-n', self.name, *args], env=self.env(),
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f'rabbitmqctl -n {self.name} {" ".join(args)}: '
                                 f'{proc.stdout}{proc.stderr}')
        return proc.stdout

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # the wrapper script forwards it to the VM
        try:
            proc.wait(3)  # the node is thrown away: no need for a full clean stop
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError, ValueError):
                os.kill(self.beam_pid(), signal.SIGKILL)
            os.killpg(proc.pid, signal.SIGKILL)  # our own session only
            proc.wait(10)


def _require_server(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not (os.path.exists(SERVER_SCRIPT) and os.path.exists(CTL_SCRIPT)) or missing:
        _unavailable(f'needs {SERVER_SCRIPT} (apt-get install rabbitmq-server) '
                     f'{" ".join(tools)}')


@contextlib.contextmanager
def private_rabbitmq(start_timeout: float = 60) -> Iterator[Node]:
    """One node with an ``amqps://`` listener (a throw-away CA) and management."""
    _require_server('openssl')
    d = tempfile.mkdtemp(prefix='kombu-rmq-')
    amqp_port, amqps_port, mgmt_port, dist_port = _spare_ports(4)
    _make_certs(d)
    _write_cookie(d)
    node = RabbitNode(d, amqp_port, dist_port, plugins=('rabbitmq_management',), config=(
        f'listeners.ssl.1 = 127.0.0.1:{amqps_port}\n'
        f'ssl_options.cacertfile = {d}/ca.pem\n'
        f'ssl_options.certfile = {d}/server.pem\n'
        f'ssl_options.keyfile = {d}/server.key\n'
        'ssl_options.verify = verify_none\n'
        'ssl_options.fail_if_no_peer_cert = false\n'
        'management.tcp.ip = 127.0.0.1\n'
        f'management.tcp.port = {mgmt_port}\n'))
    try:
        node.start()
        node.wait_ready(start_timeout, mgmt_port)
        yield Node(amqp_port, amqps_port, mgmt_port, os.path.join(d, 'ca.pem'), d)
    finally:
        node.stop()
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def private_cluster(size: int = 3, start_timeout: float = 90) -> Iterator[list[RabbitNode]]:
    """``size`` nodes booted at once, the others joined to the first with
    ``rabbitmqctl join_cluster``; all stopped and deleted afterwards."""
    _require_server()
    home = tempfile.mkdtemp(prefix='kombu-rmqc-')
    _write_cookie(home)
    ports = _spare_ports(2 * size)
    # a kill leaves no time for a clean stop: members are never paused on
    # losing sight of the others (default), and small disk limits do not trip
    config = 'disk_free_limit.absolute = 50MB\n'
    nodes = [RabbitNode(home, ports[2 * i], ports[2 * i + 1], config=config)
             for i in range(size)]
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_ready(start_timeout)
        seed = nodes[0]
        for node in nodes[1:]:
            node.ctl('stop_app')
            node.ctl('join_cluster', seed.name)
            node.ctl('start_app')
            node.wait_ready(start_timeout)
        yield nodes
    finally:
        for node in nodes:
            node.stop()
        shutil.rmtree(home, ignore_errors=True)
