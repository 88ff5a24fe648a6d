"""A private RabbitMQ node on spare ports, with TLS and the management plugin.

The shared broker on 5672 has neither (and must not be restarted), so tests
of ``amqps://`` and of ``get_manager()`` start their own node, in a temp
dir, and stop it by pid afterwards.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Iterator

import pytest

from t.servers import IN_CI, free_port, port_open

SERVER_SCRIPT = '/usr/lib/rabbitmq/bin/rabbitmq-server'


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


@contextlib.contextmanager
def private_rabbitmq(start_timeout: float = 60) -> Iterator[Node]:
    if not os.path.exists(SERVER_SCRIPT) or shutil.which('openssl') is None:
        _unavailable(f'needs {SERVER_SCRIPT} (apt-get install rabbitmq-server) and openssl')
    d = tempfile.mkdtemp(prefix='kombu-rmq-')
    amqp_port, amqps_port, mgmt_port, dist_port = _spare_ports(4)
    _make_certs(d)
    with open(os.path.join(d, 'rabbitmq.conf'), 'w') as fh:
        fh.write(
            f'listeners.tcp.1 = 127.0.0.1:{amqp_port}\n'
            f'listeners.ssl.1 = 127.0.0.1:{amqps_port}\n'
            f'ssl_options.cacertfile = {d}/ca.pem\n'
            f'ssl_options.certfile = {d}/server.pem\n'
            f'ssl_options.keyfile = {d}/server.key\n'
            'ssl_options.verify = verify_none\n'
            'ssl_options.fail_if_no_peer_cert = false\n'
            'management.tcp.ip = 127.0.0.1\n'
            f'management.tcp.port = {mgmt_port}\n')
    with open(os.path.join(d, 'enabled_plugins'), 'w') as fh:
        fh.write('[rabbitmq_management].\n')
    open(os.path.join(d, 'env.conf'), 'w').close()  # ignore the machine's rabbitmq-env.conf
    env = dict(
        os.environ, HOME=d, RABBITMQ_CONF_ENV_FILE=f'{d}/env.conf',
        RABBITMQ_CONFIG_FILE=f'{d}/rabbitmq.conf',
        RABBITMQ_ENABLED_PLUGINS_FILE=f'{d}/enabled_plugins',
        RABBITMQ_NODENAME=f'kombu{amqp_port}@localhost', RABBITMQ_NODE_IP_ADDRESS='127.0.0.1',
        RABBITMQ_NODE_PORT=str(amqp_port), RABBITMQ_DIST_PORT=str(dist_port),
        RABBITMQ_MNESIA_BASE=f'{d}/mnesia', RABBITMQ_LOG_BASE=f'{d}/log',
        RABBITMQ_PID_FILE=f'{d}/rabbit.pid', ERL_EPMD_ADDRESS='127.0.0.1')
    log = open(os.path.join(d, 'stdout.log'), 'w')
    proc = subprocess.Popen([SERVER_SCRIPT], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + start_timeout
        while not (port_open('127.0.0.1', amqp_port, 0.2)
                   and port_open('127.0.0.1', mgmt_port, 0.2)):
            if proc.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(d, 'stdout.log')) as fh:
                    tail = fh.read()[-2000:]
                _unavailable(f'private RabbitMQ did not start:\n{tail}')
            time.sleep(0.2)
        yield Node(amqp_port, amqps_port, mgmt_port, os.path.join(d, 'ca.pem'), d)
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(d, ignore_errors=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # the wrapper script forwards it to the VM
        try:
            proc.wait(3)  # the node is thrown away: no need for a full clean stop
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # our own session only
            proc.wait(10)
