"""A private ``redis-server`` on a spare port, for tests that kill and restart the broker.

Nothing is persisted (``--save '' --appendonly no``): a restart starts empty.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any

import pytest

from t.servers import IN_CI, free_port


def redis_server_binary() -> str:
    binary = shutil.which('redis-server')
    if binary is None:
        message = 'redis-server is not on PATH (apt-get install redis-server)'
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return binary


def ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b'PING\r\n')
            return sock.recv(16).startswith(b'+PONG')
    except OSError:
        return False


class PrivateRedis:
    """Start, kill and restart one ``redis-server`` process on one port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.mkdtemp(prefix='kombu-private-redis-')

    def url(self, db: int = 0) -> str:
        return f'redis://127.0.0.1:{self.port}/{db}'

    def start(self, timeout: float = 10.0) -> PrivateRedis:
        assert self.proc is None, 'already running'
        self.proc = subprocess.Popen(
            [redis_server_binary(), '--bind', '127.0.0.1', '--port', str(self.port),
             '--save', '', '--appendonly', 'no', '--dir', self._dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f'private redis-server did not start on port {self.port}')
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Kill the server (SIGKILL: a crash, not a clean shutdown)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.kill()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass

    def restart_later(self, delay: float) -> Any:
        """Start the (stopped) server again after ``delay`` seconds, in a thread."""
        import threading
        t = threading.Thread(target=lambda: (time.sleep(delay), self.start()), daemon=True)
        t.start()
        return t

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
