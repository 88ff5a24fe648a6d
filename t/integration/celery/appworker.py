"""A ``celery worker`` subprocess for a test's own app module, and client processes
beside it.

The per-broker Celery tests (pyro, slmq, the SQL/etcd stores, MongoDB/ZooKeeper) each
write an app module into a temporary folder; this runs the worker on it with this
checkout first on ``PYTHONPATH`` (so Celery imports this Kombu), logs to
``worker.log`` in that folder, and stops it with a warm shutdown.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import IO, Iterator, Mapping, Optional

ROOT = Path(__file__).resolve().parents[3]

#: a client that waits for the worker to answer a ``ping`` broadcast (the pidbox fanout),
#: then runs ``count`` ``add`` tasks: prints the number of replies, then the results.
PING_THEN_ADD = '''
import time
from {module} import app, add
deadline = time.monotonic() + {wait}
replies = []
while not replies and time.monotonic() < deadline:
    replies = app.control.ping(timeout=1)
print(len(replies))
print([add.delay(n, n).get(timeout={wait}) for n in range({count})])
'''


class AppWorker:
    """``celery -A <app> worker <args>`` run in ``folder``; :meth:`stop` sets :attr:`hung`."""

    def __init__(self, folder: Path, app: str, *args: str,
                 env: Optional[Mapping[str, str]] = None) -> None:
        self.folder = Path(folder)
        base = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
        self.env = {**base, **(env or {}),
                    'PYTHONPATH': os.pathsep.join([str(ROOT), str(self.folder)])}
        self.log_path = self.folder / 'worker.log'
        self.hung = False
        self._log: IO[str] = open(self.log_path, 'w')
        # its own session: a worker that hangs is killed with its pool children
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'celery', '-A', app, 'worker', '--without-gossip',
             '--without-mingle', *args],
            cwd=self.folder, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def client(self, code: str, *argv: str,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``code`` (dedented) in a fresh Python beside the worker: same folder, env."""
        return subprocess.run([sys.executable, '-c', textwrap.dedent(code), *argv],
                              cwd=self.folder, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self, timeout: float = 30) -> bool:
        """SIGTERM to the main process only (warm shutdown); True if it had to be killed.

        Not to the whole group: on the transports without an event loop Celery uses
        billiard's classic pool, whose exit can deadlock on the lock of a pool process
        that a group-wide signal killed while it held it.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.hung = True
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()
        return self.hung


@contextlib.contextmanager
def app_worker(folder: Path, app: str, *args: str,
               env: Optional[Mapping[str, str]] = None) -> Iterator[AppWorker]:
    """A running :class:`AppWorker`, stopped on exit (check ``.hung`` afterwards)."""
    worker = AppWorker(folder, app, *args, env=env)
    try:
        yield worker
    finally:
        worker.stop()
