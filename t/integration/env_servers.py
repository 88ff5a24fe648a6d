"""Shared servers that ``.ci/start-servers`` starts once per run and names in an
environment variable (``ZOOKEEPER_URL``, ``MONGODB_URL``...)."""
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


def unavailable(message: str) -> None:
    """Skip (locally) or fail (under ``CI=true``) with ``message``."""
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def url_from_env(variable: str, client_module: str, default_port: int, how_to: str) -> str:
    """The URL in ``variable`` (without a trailing '/'), once its server answers."""
    pytest.importorskip(client_module)
    url = os.environ.get(variable)
    if not url:
        unavailable(f'{variable} is not set; {how_to}')
    parts = urlsplit(url)
    if not port_open(parts.hostname or '127.0.0.1', parts.port or default_port):
        unavailable(f'nothing listens at {variable}={url}; {how_to}')
    return url.rstrip('/')


class PrivateServer:
    """A broker process of a test's own on a spare port, in a temporary folder.

    Subclasses give :meth:`command` and :meth:`ready`; ``kill()`` then ``start()``
    restarts it on the same port with the same data (a crash and a recovery).
    """

    name = 'server'

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f'kombu-{self.name}-')
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        """The server's environment (None: this process's)."""
        return None

    def ready(self) -> bool:
        return port_open('127.0.0.1', self.port, 0.2)

    def start(self, timeout: float = 60) -> PrivateServer:
        self.proc = subprocess.Popen(self.command(), env=self.environment(),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f'private {self.name} on port {self.port} did not start')
            time.sleep(0.1)
        return self

    def terminate(self) -> None:
        """SIGTERM, a clean shutdown (the data folder stays)."""
        self.kill(signal.SIGTERM)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """SIGKILL, as a crash (the data folder stays)."""
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
            self.proc = None
        while port_open('127.0.0.1', self.port, 0.1):
            time.sleep(0.05)

    def stop(self) -> None:
        self.kill()  # nothing to keep: the data folder goes too
        shutil.rmtree(self.dir, ignore_errors=True)
