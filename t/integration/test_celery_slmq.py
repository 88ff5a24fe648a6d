"""A Celery 5.7 worker over slmq:// on the local HTTPS fake of the SoftLayer MQ API (the
service is discontinued): tasks run end to end, and the worker answers a ``ping``
broadcast (the pidbox fanout through an SLMQ topic, the reply through a direct exchange
bound in the client process, which the worker reads from the queue's tags)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from t.integration.private_pyro import ROOT
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
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(tmp_path), ROOT]),
           'REQUESTS_CA_BUNDLE': service.certfile}
    worker = subprocess.Popen(
        [sys.executable, '-m', 'celery', '-A', 'slmqapp', 'worker', '--pool=solo',
         '--loglevel=WARNING', '--without-mingle', '--without-gossip', '-n',
         f'{queue}@localhost'], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = textwrap.dedent('''
            import time
            from slmqapp import app, add
            deadline = time.monotonic() + 40
            replies = []
            while not replies and time.monotonic() < deadline:
                replies = app.control.ping(timeout=1)
            print(len(replies))
            print([add.delay(n, n).get(timeout=30) for n in range(3)])
        ''')
        done = subprocess.run([sys.executable, '-c', client], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split('\n')[:2] == ['1', '[0, 2, 4]']
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
