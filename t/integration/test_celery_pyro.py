"""A Celery 5.7 worker over pyro:// (a private name server and broker): tasks run end to
end, and the worker answers a broadcast (``ping``: the pidbox fanout exchange, declared by
the worker and published to by the client process)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from t.integration.private_pyro import ROOT, PrivatePyro
from t.servers import require_server, unique_name

pytest.importorskip('celery')

APP = '''
from celery import Celery
app = Celery('pyroapp', broker={broker!r}, backend='redis://127.0.0.1:6379/9')
app.conf.update(task_default_queue={queue!r}, worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True, result_expires=120)

@app.task
def add(x, y):
    return x + y
'''


@pytest.fixture
def servers() -> Iterator[PrivatePyro]:
    private = PrivatePyro()
    try:
        yield private
    finally:
        private.stop()


def test_celery_worker_over_pyro(servers, tmp_path: Path):
    require_server('redis', '127.0.0.1', 6379, 'the result backend: redis-server')
    queue = unique_name('celery-pyro')
    (tmp_path / 'pyroapp.py').write_text(APP.format(broker=servers.url, queue=queue))
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(tmp_path), ROOT])}
    worker = subprocess.Popen(
        [sys.executable, '-m', 'celery', '-A', 'pyroapp', 'worker', '--pool=solo',
         '--loglevel=WARNING', '--without-mingle', '--without-gossip', '-n',
         f'{queue}@localhost'], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        client = textwrap.dedent('''
            import time
            from pyroapp import app, add
            deadline = time.monotonic() + 30
            replies = []
            while not replies and time.monotonic() < deadline:
                replies = app.control.ping(timeout=1)
            print(len(replies))
            print([add.delay(n, n).get(timeout=20) for n in range(5)])
        ''')
        done = subprocess.run([sys.executable, '-c', client], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split('\n')[:2] == ['1', '[0, 2, 4, 6, 8]']
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
