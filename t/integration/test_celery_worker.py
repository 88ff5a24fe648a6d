"""A real Celery 5.7 worker (event loop; prefork, threads, solo pools) on this Kombu.

Celery is installed by the test extra next to this package, which satisfies its
kombu requirement, so the worker's event loop is our Hub, its timers our Timer,
its rate limits our TokenBucket and its broker our Redis or AMQP transport.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from t.servers import require_server, unique_name

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 9

APP = '''
import os, time
from celery import Celery
backend = 'redis://127.0.0.1:6379/{db}'
app = Celery('h5app', broker={broker!r}, backend=backend)
app.conf.update(task_default_queue={queue!r}, result_expires=120,
                worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)

@app.task
def add(x, y):
    return x + y

@app.task(rate_limit='100/s')
def limited(x):
    return x

@app.task(soft_time_limit=0.3)
def sleepy(t):
    from celery.exceptions import SoftTimeLimitExceeded
    try:
        time.sleep(t)
    except SoftTimeLimitExceeded:
        return 'soft-limit'
    return 'slept'

@app.task
def when():
    return time.time()
'''

CLIENT = '''
import json, sys, time
from h5app import add, limited, sleepy, when
out = {}
out['sum'] = sum(r.get(timeout=30) for r in [add.delay(i, i) for i in range(60)])
out['limited'] = sum(r.get(timeout=30) for r in [limited.delay(i) for i in range(30)])
if sys.argv[1] == 'prefork':  # the only pool with time limits
    out['sleepy'] = sleepy.delay(5).get(timeout=30)
sent = time.time()
out['eta_delay'] = when.apply_async(countdown=1.0).get(timeout=30) - sent
print(json.dumps(out))
'''


def celery_python() -> Path:
    """The Python that runs Celery: the project's own, where the test extra installed
    Celery next to this package (Celery's kombu requirement is met by this package, so
    upstream Kombu is never pulled in)."""
    pytest.importorskip('celery', reason='Celery is in the test extra: pip install -e ".[test]"')
    return Path(sys.executable)


BROKERS = {
    'redis': ('redis://127.0.0.1:6379/9', 6379, 'redis-server --port 6379'),
    'amqp': ('amqp://guest:guest@127.0.0.1:5672//', 5672, 'rabbitmq-server'),
}


@pytest.fixture(params=sorted(BROKERS))
def app_dir(request, tmp_path):
    broker, port, how = BROKERS[request.param]
    require_server(request.param, '127.0.0.1', port, how)
    require_server('Redis (results)', '127.0.0.1', 6379, 'redis-server --port 6379')
    queue = unique_name('h5.celery')
    (tmp_path / 'h5app.py').write_text(APP.format(db=REDIS_DB, queue=queue, broker=broker))
    yield tmp_path, queue
    import redis
    client = redis.Redis(db=REDIS_DB)
    client.delete(queue, f'_kombu.binding.{queue}', *client.keys(f'{queue}*'))
    if request.param == 'amqp':
        from kombu import Connection
        with Connection(broker, connect_timeout=5) as conn:
            conn.default_channel.queue_delete(queue)


@pytest.mark.parametrize('pool', ['prefork', 'threads', 'solo'])
def test_worker_runs_tasks_on_our_hub(app_dir, pool):
    # threads: results come back through call_soon from pool threads (waker).
    path, queue = app_dir
    python = celery_python()
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['PYTHONPATH'] = f'{ROOT}{os.pathsep}{path}'
    log = open(path / 'worker.log', 'w')
    worker = subprocess.Popen(
        [str(python), '-m', 'celery', '-A', 'h5app', 'worker', '-P', pool, '-c', '2',
         '-n', f'{queue}@%h',  # pidbox queues are exclusive: unique node name
         '-l', 'INFO', '--without-gossip', '--without-mingle', '--without-heartbeat'],
        cwd=path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        check = subprocess.run([str(python), '-c', 'import kombu; print(kombu.__file__)'],
                               cwd=path, env=env, capture_output=True, text=True, timeout=60)
        assert check.stdout.strip().startswith(str(ROOT))
        client = subprocess.run([str(python), '-c', textwrap.dedent(CLIENT), pool], cwd=path,
                                env=env, capture_output=True, text=True, timeout=90)
        assert client.returncode == 0, client.stderr + (path / 'worker.log').read_text()
        out = json.loads(client.stdout.strip().splitlines()[-1])
        assert out['sum'] == sum(2 * i for i in range(60))
        assert out['limited'] == sum(range(30))
        if pool == 'prefork':
            assert out['sleepy'] == 'soft-limit'  # pool time limits run on hub timers
        assert out['eta_delay'] >= 0.9  # countdown held by the hub's timer
    finally:
        hung = stop_worker(worker)
        log.close()
    text = (path / 'worker.log').read_text()
    assert not hung, 'worker did not shut down on SIGTERM (warm shutdown hangs)'
    assert 'Traceback' not in text, text
    assert 'succeeded' in text


def stop_worker(worker: subprocess.Popen) -> bool:
    """SIGTERM (warm shutdown); True if it had to be killed."""
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=20)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        return True
