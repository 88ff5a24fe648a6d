"""A Celery 5.7 worker over slmq:// on the local HTTPS fake of the SoftLayer MQ API (the
service is discontinued): tasks run end to end, and the worker answers a ``ping``
broadcast (the pidbox fanout through an SLMQ topic, the reply through a direct exchange
bound in the client process, which the worker reads from the queue's tags)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from t.integration.celery.appworker import PING_THEN_ADD, app_worker
from t.servers import require_server, unique_name

pytest.importorskip('celery')
pytest.importorskip('softlayer_messaging')

from t.fakes.slmq import FakeSLMQ

APP = '''
from celery import Celery
app = Celery('slmqapp', broker={broker!r}, backend='redis://127.0.0.1:6379/9')
app.conf.update(task_default_queue={queue!r}, worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True, result_expires=120,
                broker_transport_options={{'polling_interval': 0.1}})

@app.task
def add(x, y):
    return x + y
'''

CLIENT = PING_THEN_ADD.format(module='slmqapp', wait=40, count=3)


@pytest.fixture
def service() -> Iterator[FakeSLMQ]:
    if shutil.which('openssl') is None:
        pytest.skip('openssl is needed for the fake service certificate')
    fake = FakeSLMQ().start()
    try:
        yield fake
    finally:
        fake.stop()


def test_celery_worker_over_slmq(service, tmp_path: Path):
    require_server('redis', '127.0.0.1', 6379, 'the result backend: redis-server')
    queue = unique_name('celery_slmq').replace('.', '_').replace('-', '_')
    (tmp_path / 'slmqapp.py').write_text(APP.format(broker=service.url, queue=queue))
    with app_worker(tmp_path, 'slmqapp', '--pool=solo', '--loglevel=WARNING',
                    '-n', f'{queue}@localhost',
                    env={'REQUESTS_CA_BUNDLE': service.certfile}) as worker:
        done = worker.client(CLIENT, timeout=120)
        assert done.returncode == 0, done.stderr + worker.log()
        assert done.stdout.split('\n')[:2] == ['1', '[0, 2, 4]']
