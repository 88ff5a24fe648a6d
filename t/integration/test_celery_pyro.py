"""A Celery 5.7 worker over pyro:// (a private name server and broker): tasks run end to
end, and the worker answers a broadcast (``ping``: the pidbox fanout exchange, declared by
the worker and published to by the client process)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from t.integration.celery.appworker import PING_THEN_ADD, app_worker
from t.integration.private_pyro import PrivatePyro
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

CLIENT = PING_THEN_ADD.format(module='pyroapp', wait=30, count=5)


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
    with app_worker(tmp_path, 'pyroapp', '--pool=solo', '--loglevel=WARNING',
                    '-n', f'{queue}@localhost') as worker:
        done = worker.client(CLIENT, timeout=90)
        assert done.returncode == 0, done.stderr + worker.log()
        assert done.stdout.split('\n')[:2] == ['1', '[0, 2, 4, 6, 8]']
