"""Helpers for tests that talk to real broker processes.

A test that needs a server calls :func:`require_server`. When the server is not
listening the test is skipped locally with a message saying how to start it,
and fails loudly under CI (``CI=true``), where ``.ci/run`` is meant to have
started it.
"""
from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from typing import Iterator

import pytest

IN_CI = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int, how_to_start: str) -> None:
    """Skip (locally) or fail (in CI) unless ``host:port`` accepts connections."""
    if port_open(host, port):
        return
    message = f'{name} is not listening on {host}:{port}; start it with: {how_to_start}'
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def unique_name(prefix: str = 't') -> str:
    """A queue/exchange name no other test run on this machine will use."""
    return f'{prefix}.{os.getpid()}.{uuid.uuid4().hex[:12]}'


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A loopback TCP server that accepts connections and never answers (a hung
    broker); yields its port."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(('127.0.0.1', 0))
    server.listen(64)
    server.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for sock in accepted:
            sock.close()
        server.close()
