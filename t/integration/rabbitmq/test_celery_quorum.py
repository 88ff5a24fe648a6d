"""Celery 5.7 on this package with quorum queues: native delayed delivery end to end.

The worker (in the Celery virtualenv of t/integration/test_celery_worker.py,
with this package first on its path) declares the delay topology and binds its
queue; a countdown task sent by the client waits in the broker's
``celery_delayed_N`` queues, not in the worker, and runs no earlier than asked.
"""
from __future__ import annotations

import json
import os
import subprocess
import textwrap
import time

import pytest

from kombu import Connection
from t.integration.rabbitmq.broker import amqp_url, private_vhost, rabbitmqctl_json
from t.integration.test_celery_worker import ROOT, celery_python, stop_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

APP = '''
import time
from celery import Celery
app = Celery('h7app', broker={broker!r})
app.conf.update(task_default_queue={queue!r}, task_default_queue_type='quorum',
                task_default_exchange_type='topic', worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True)

@app.task
def stamp(path):
    with open(path, 'a') as fh:
        fh.write(repr(time.time()) + '\\n')
'''

CLIENT = '''
import json, sys, time
from h7app import stamp
sent = time.time()
stamp.apply_async(args=[sys.argv[1]], countdown=4)
print(json.dumps({'sent': sent}))
'''


def _delayed_depths(vhost: str) -> dict:
    rows = rabbitmqctl_json('list_queues', '-p', vhost, 'name', 'messages')
    return {r['name']: r['messages'] for r in rows if r['name'].startswith('celery_delayed_')}


def test_countdown_waits_in_the_broker_then_runs(tmp_path, uname):
    python = celery_python()
    with private_vhost('celery') as vhost:
        queue = uname('h7.celery')
        (tmp_path / 'h7app.py').write_text(APP.format(broker=amqp_url(vhost), queue=queue))
        env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
        env['PYTHONPATH'] = f'{ROOT}{os.pathsep}{tmp_path}'
        log = open(tmp_path / 'worker.log', 'w')
        worker = subprocess.Popen(
            [str(python), '-m', 'celery', '-A', 'h7app', 'worker', '-P', 'solo', '-l', 'INFO',
             '--without-gossip', '--without-mingle', '--without-heartbeat'],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        stamps = tmp_path / 'stamps'
        try:
            deadline = time.monotonic() + 60
            while len(_delayed_depths(vhost)) < 28 or 'ready.' not in (
                    tmp_path / 'worker.log').read_text():
                assert worker.poll() is None, (tmp_path / 'worker.log').read_text()
                assert time.monotonic() < deadline, 'worker did not set up delayed delivery'
                time.sleep(0.3)
            client = subprocess.run(
                [str(python), '-c', textwrap.dedent(CLIENT), str(stamps)], cwd=tmp_path,
                env=env, capture_output=True, text=True, timeout=60)
            assert client.returncode == 0, client.stderr
            sent = json.loads(client.stdout.strip().splitlines()[-1])['sent']
            # 4 s = binary 100: the message waits in the level-2 queue
            seen = []
            with Connection(amqp_url(vhost)) as conn:
                chan = conn.default_channel
                while time.time() < sent + 3.5 and 1 not in seen:
                    seen.append(chan.queue_declare('celery_delayed_2', passive=True)
                                .message_count)
                    time.sleep(0.05)
            assert 1 in seen, seen
            deadline = time.monotonic() + 20
            while not stamps.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert stamps.exists(), (tmp_path / 'worker.log').read_text()
            ran = float(stamps.read_text().split()[0])
            assert 4.0 - 0.05 <= ran - sent < 12, ran - sent
        finally:
            stop_worker(worker)
            log.close()
    text = (tmp_path / 'worker.log').read_text()
    assert 'Traceback' not in text, text
    assert 'succeeded' in text
