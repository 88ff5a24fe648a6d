"""A private Pyro name server and Kombu Pyro broker on spare ports, started by the tests
(``python -m Pyro5.nameserver`` and ``python -m kombu.transport.pyro``)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from t.servers import IN_CI, free_port, port_open

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def require_pyro() -> str:
    """The Pyro package the name server is run from (Pyro5 first)."""
    for name in ('Pyro5', 'Pyro4'):
        try:
            __import__(name)
        except ImportError:
            continue
        return name
    message = 'neither Pyro5 nor Pyro4 is installed (pip install Pyro5)'
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
    raise AssertionError  # pragma: no cover


def _wait_port(proc: subprocess.Popen[bytes], port: int, what: str) -> None:
    deadline = time.monotonic() + 20
    while not port_open('127.0.0.1', port, 0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f'{what} did not start')
        time.sleep(0.05)


class PrivatePyro:
    """Name server + broker; ``restart_broker`` kills the broker and starts a new one."""

    def __init__(self) -> None:
        package = require_pyro()
        self.ns_port = free_port()
        module = 'Pyro5.nameserver' if package == 'Pyro5' else 'Pyro4.naming'
        self.env = {**os.environ, 'PYTHONPATH': ROOT + os.pathsep + os.environ.get(
            'PYTHONPATH', '')}
        self.nameserver = subprocess.Popen(
            [sys.executable, '-m', module, '-n', '127.0.0.1', '-p', str(self.ns_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env)
        _wait_port(self.nameserver, self.ns_port, 'the Pyro name server')
        self.broker: subprocess.Popen[bytes] | None = None
        self.start_broker()

    @property
    def url(self) -> str:
        return f'pyro://127.0.0.1:{self.ns_port}/kombu.broker'

    def start_broker(self) -> None:
        self.broker_port = free_port()
        self.broker = subprocess.Popen(
            [sys.executable, '-m', 'kombu.transport.pyro', '--host', '127.0.0.1',
             '--port', str(self.broker_port), '--ns-host', '127.0.0.1',
             '--ns-port', str(self.ns_port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env)
        assert self.broker.stdout is not None
        line = self.broker.stdout.readline()   # printed once registered
        if b'registered' not in line:
            raise RuntimeError(f'the Pyro broker did not start: {line!r}')

    def kill_broker(self) -> None:
        if self.broker is not None:
            self.broker.kill()
            self.broker.wait(10)
            self.broker = None

    def restart_broker(self) -> None:
        self.kill_broker()
        self.start_broker()

    def stop(self) -> None:
        self.kill_broker()
        self.nameserver.terminate()
        self.nameserver.wait(10)
