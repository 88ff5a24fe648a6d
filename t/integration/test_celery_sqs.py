"""A real Celery 5.7 worker over sqs:// on moto_server, end to end (its event loop: the
transport's hub path).  Results and task bookkeeping go to Redis on 127.0.0.1:6379."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from t.integration.test_conformance_sqs import HOST, PORT, ensure_moto
from t.servers import require_server, unique_name

pytestmark = pytest.mark.integration
pytest.importorskip('celery')
pytest.importorskip('redis')

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 11

APP = '''
import os, time
import redis
from celery import Celery
R = redis.Redis(db={db})
app = Celery('sqsapp', broker='sqs://testing:testing@{host}:{port}',
             backend='redis://127.0.0.1:6379/{db}')
app.conf.update(
    task_default_queue={queue!r}, result_expires=300, worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    broker_transport_options={{'is_secure': False, 'region': 'us-east-1',
                              'polling_interval': 0.1, 'wait_time_seconds': 1,
                              'visibility_timeout': 4}})
TAG = {queue!r}

@app.task
def add(x, y):
    return x + y

@app.task
def when():
    return time.time()

@app.task(bind=True, max_retries=3)
def flaky(self, key):
    if R.incr(f'{{TAG}}:{{key}}') < 3:
        raise self.retry(countdown=0.2)
    return 'done after retries'

@app.task(acks_late=True)
def slow(key, seconds):
    R.incr(f'{{TAG}}:runs:{{key}}')
    time.sleep(seconds)
    R.sadd(f'{{TAG}}:finished', key)
    return key
'''


@pytest.fixture
def app_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    ensure_moto()
    require_server('Redis (results)', '127.0.0.1', 6379, 'redis-server --port 6379')
    queue = unique_name('cel-sqs').replace('.', '-')
    (tmp_path / 'sqsapp.py').write_text(APP.format(db=REDIS_DB, queue=queue, host=HOST,
                                                   port=PORT))
    yield tmp_path, queue
    import redis
    client = redis.Redis(db=REDIS_DB)
    keys = client.keys(f'{queue}*')
    if keys:
        client.delete(*keys)
    from kombu import Connection, Queue
    with Connection(f'sqs://testing:testing@{HOST}:{PORT}',
                    transport_options={'is_secure': False, 'region': 'us-east-1'}) as conn:
        Queue(queue).bind(conn.default_channel).delete()


def env_for(path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['PYTHONPATH'] = f'{ROOT}{os.pathsep}{path}'
    return env


def start_worker(path: Path, queue: str, name: str, pool: str = 'prefork',
                 concurrency: int = 2) -> subprocess.Popen:
    log = open(path / f'{name}.log', 'w')
    return subprocess.Popen(
        [sys.executable, '-m', 'celery', '-A', 'sqsapp', 'worker', '-P', pool,
         '-c', str(concurrency), '-n', f'{name}-{queue}@%h', '-l', 'INFO',
         '--without-gossip', '--without-mingle', '--without-heartbeat'],
        cwd=path, env=env_for(path), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)


def stop(worker: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> bool:
    """SIGTERM the worker (warm shutdown; its pool children are its to stop) or SIGKILL
    its whole process group (a lost machine); True if it had to be killed."""
    try:
        if sig == signal.SIGKILL:
            os.killpg(worker.pid, sig)
        else:
            os.kill(worker.pid, sig)
        worker.wait(timeout)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        return True
    except ProcessLookupError:
        return False


def run_client(path: Path, code: str, timeout: float = 120) -> Any:
    done = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], cwd=path,
                          env=env_for(path), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def redis_client() -> Any:
    import redis
    return redis.Redis(db=REDIS_DB)


def test_delay_countdown_retry_chain_group(app_dir: tuple[Path, str]) -> None:
    path, queue = app_dir
    worker = start_worker(path, queue, 'w1')
    try:
        out = run_client(path, '''
            import json, time
            from celery import chain, group
            from sqsapp import add, when, flaky
            out = {'sum': sum(r.get(timeout=60) for r in [add.delay(i, i) for i in range(40)])}
            sent = time.time()
            out['countdown'] = when.apply_async(countdown=1.5).get(timeout=30) - sent
            out['retry'] = flaky.delay('k').get(timeout=30)
            out['chain'] = chain(add.s(1, 2), add.s(3), add.s(4)).delay().get(timeout=30)
            out['group'] = group(add.s(i, 1) for i in range(6)).delay().get(timeout=30)
            print(json.dumps(out))
        ''')
    finally:
        hung = stop(worker)
    assert out['sum'] == sum(2 * i for i in range(40))
    assert out['countdown'] >= 1.4
    assert out['retry'] == 'done after retries'
    assert out['chain'] == 10
    assert out['group'] == [1, 2, 3, 4, 5, 6]
    log = (path / 'w1.log').read_text()
    assert not hung, 'warm shutdown hung'
    assert 'Traceback' not in log, log


def test_acks_late_task_redelivered_after_sigkill(app_dir: tuple[Path, str]) -> None:
    path, queue = app_dir
    r = redis_client()
    first = start_worker(path, queue, 'w1', concurrency=1)
    try:
        run_client(path, '''
            import json
            from sqsapp import slow
            print(json.dumps(slow.delay('job', 3).id))
        ''')
        deadline = time.monotonic() + 30
        while not r.get(f'{queue}:runs:job') and time.monotonic() < deadline:
            time.sleep(0.1)
        assert r.get(f'{queue}:runs:job') == b'1', (path / 'w1.log').read_text()
    finally:
        stop(first, signal.SIGKILL)     # mid-task: no ack was sent
    assert not r.sismember(f'{queue}:finished', 'job')
    second = start_worker(path, queue, 'w2', concurrency=1)
    try:
        deadline = time.monotonic() + 40
        while not r.sismember(f'{queue}:finished', 'job') and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        hung = stop(second)
    assert r.sismember(f'{queue}:finished', 'job'), (path / 'w2.log').read_text()
    assert r.get(f'{queue}:runs:job') == b'2'
    assert not hung


def test_warm_shutdown_loses_no_task(app_dir: tuple[Path, str]) -> None:
    path, queue = app_dir
    r = redis_client()
    first = start_worker(path, queue, 'w1', concurrency=2)
    try:
        run_client(path, '''
            import json
            from sqsapp import slow
            print(json.dumps([slow.delay(f'j{n}', 0.5).id for n in range(12)]))
        ''')
        deadline = time.monotonic() + 30
        while r.scard(f'{queue}:finished') < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        hung = stop(first)          # warm shutdown: running tasks finish, the rest go back
    assert not hung, 'warm shutdown hung'
    done_first = r.scard(f'{queue}:finished')
    assert done_first < 12
    second = start_worker(path, queue, 'w2', concurrency=2)
    try:
        deadline = time.monotonic() + 60
        while r.scard(f'{queue}:finished') < 12 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop(second)
    finished = {m.decode() for m in r.smembers(f'{queue}:finished')}
    assert finished == {f'j{n}' for n in range(12)}, (path / 'w1.log').read_text()
    runs = [int(r.get(f'{queue}:runs:j{n}') or 0) for n in range(12)]
    assert all(count >= 1 for count in runs)
    for name in ('w1', 'w2'):
        assert 'Traceback' not in (path / f'{name}.log').read_text()
