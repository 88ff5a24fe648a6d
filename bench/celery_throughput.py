"""How fast a real Celery 5.7 worker runs 5,000 no-op tasks: this Kombu vs upstream Kombu.

Usage::

    python bench/celery_throughput.py                      # redis:// and amqp://, 5000 tasks
    python bench/celery_throughput.py --tasks 20000 --brokers redis --repeat 3

Both sides run in throw-away virtualenvs under ``--workdir`` (built once, like
t/upstream.py): one with this checkout (editable) plus ``celery==5.7.0``, one with
upstream ``kombu==5.7.0`` plus the same Celery.  For each broker and side the script
publishes the tasks to a fresh queue (timed: ``publish/s``), then starts
``celery worker --pool=solo`` and times, inside the worker, from the first task to
the last (``worker/s``), and checks with ``celery inspect stats`` that the worker ran
every task.  Results are ignored (``ignore_result``), so the numbers are
the broker round trip through Kombu and Celery's consumer.  Needs Redis on
127.0.0.1:6379 and RabbitMQ on 127.0.0.1:5672 (guest/guest); a broker that is not
there is reported as skipped.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# DB 15: the test suites lock 5-14 for themselves (t/integration/redis/servers.py, e2e tests).
BROKERS = {
    'redis': ('redis://127.0.0.1:6379/15', 6379),
    'amqp': ('amqp://guest:guest@127.0.0.1:5672//', 5672),
}
MARKS = 'redis://127.0.0.1:6379/15'   # where the worker writes its start/end times

APP = '''
import os, time
import redis
from celery import Celery

app = Celery('bench', broker=os.environ['BENCH_BROKER'])
app.conf.update(task_default_queue=os.environ['BENCH_QUEUE'], task_ignore_result=True,
                worker_prefetch_multiplier=int(os.environ.get('BENCH_PREFETCH', '64')),
                broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)
marks = redis.Redis.from_url(os.environ['BENCH_MARKS'])
key = os.environ['BENCH_QUEUE']

@app.task(name='bench.noop')
def noop():
    pass

@app.task(name='bench.mark')
def mark(which):
    marks.set(f'{key}.{which}', repr(time.time()))
'''

PUBLISH = '''
import json, time
from benchapp import app, mark, noop
n = int(__import__('os').environ['BENCH_TASKS'])
with app.producer_or_acquire() as producer:
    mark.apply_async(('start',), producer=producer)
    start = time.perf_counter()
    for _ in range(n):
        noop.apply_async(producer=producer)
    elapsed = time.perf_counter() - start
    mark.apply_async(('end',), producer=producer)
import kombu
print(json.dumps({'publish': elapsed, 'kombu': kombu.__file__}))
'''


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=1):
            return True
    except OSError:
        return False


def build_venv(workdir: Path, side: str, celery: str, upstream: str) -> Path:
    venv = workdir / f'venv-{side}'
    python = venv / 'bin' / 'python'
    if not (venv / '.ready').exists():
        subprocess.run([sys.executable, '-m', 'venv', '--clear', str(venv)], check=True)
        pip = [str(python), '-m', 'pip', 'install', '-q']
        # Kombu first, so that Celery's ``kombu>=`` requirement is already met by it.
        first = ['-e', str(ROOT)] if side == 'ours' else [f'kombu=={upstream}']
        subprocess.run([*pip, *first], check=True)
        subprocess.run([*pip, f'celery=={celery}', 'redis', 'packaging'], check=True)
        (venv / '.ready').touch()
    return python


def side_env(side: str, appdir: Path, broker: str, queue: str, tasks: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    path = [str(ROOT)] if side == 'ours' else []
    env.update(PYTHONPATH=os.pathsep.join([*path, str(appdir)]), BENCH_BROKER=broker,
               BENCH_QUEUE=queue, BENCH_MARKS=MARKS, BENCH_TASKS=str(tasks))
    return env


def run_once(python: Path, side: str, broker: str, tasks: int, appdir: Path) -> dict:
    import redis
    marks = redis.Redis.from_url(MARKS)
    queue = f'bench.celery.{uuid.uuid4().hex[:10]}'
    env = side_env(side, appdir, broker, queue, tasks)
    pub = subprocess.run([str(python), '-c', PUBLISH], env=env, cwd=appdir,
                         capture_output=True, text=True, timeout=600)
    if pub.returncode != 0:
        raise RuntimeError(f'{side}: publishing failed:\n{pub.stderr}')
    published = json.loads(pub.stdout.strip().splitlines()[-1])
    expect_ours = published['kombu'].startswith(str(ROOT))
    if expect_ours != (side == 'ours'):
        raise RuntimeError(f'{side}: imported kombu from {published["kombu"]}')
    log = open(appdir / f'worker-{side}.log', 'w')
    worker = subprocess.Popen(
        [str(python), '-m', 'celery', '-A', 'benchapp', 'worker', '--pool=solo', '-l', 'WARNING',
         '--without-gossip', '--without-mingle', '--without-heartbeat', '-n', f'{queue}@bench'],
        env=env, cwd=appdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while marks.get(f'{queue}.end') is None:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f'{side}: worker stopped early, see {log.name}')
            time.sleep(0.05)
        start, end = (float(marks.get(f'{queue}.{w}')) for w in ('start', 'end'))
        executed = executed_count(python, env, appdir, f'{queue}@bench')
        if executed != tasks:
            raise RuntimeError(f'{side}: the worker ran {executed} of {tasks} tasks')
    finally:
        stop(worker)
        log.close()
        marks.delete(f'{queue}.start', f'{queue}.end')
        cleanup(broker, queue)
    return {'publish': tasks / published['publish'], 'worker': tasks / (end - start),
            'seconds': end - start}


def executed_count(python: Path, env: dict[str, str], appdir: Path, node: str) -> int:
    """How many no-op tasks the worker says it ran (``celery inspect stats``)."""
    proc = subprocess.run(
        [str(python), '-m', 'celery', '-A', 'benchapp', 'inspect', 'stats', '-d', node,
         '--json', '--timeout', '10'],
        env=env, cwd=appdir, capture_output=True, text=True, timeout=120)
    stats = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
    return stats.get(node, {}).get('total', {}).get('bench.noop', 0)


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)


def cleanup(broker: str, queue: str) -> None:
    sys.path.insert(0, str(ROOT))
    from kombu import Connection
    with Connection(broker, connect_timeout=5) as conn:
        channel = conn.default_channel
        try:
            channel.queue_delete(queue)
        except Exception as exc:  # a leftover queue is not a benchmark error
            print(f'  (could not delete {queue}: {exc})')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', type=int, default=5000)
    parser.add_argument('--brokers', nargs='+', default=list(BROKERS), choices=list(BROKERS))
    parser.add_argument('--repeat', type=int, default=1, help='runs per cell (best is shown)')
    parser.add_argument('--celery-version', default='5.7.0')
    parser.add_argument('--upstream-version', default='5.7.0')
    parser.add_argument('--workdir', type=Path, default=Path('/tmp/kombu-celery-bench'))
    opts = parser.parse_args()
    opts.workdir.mkdir(parents=True, exist_ok=True)
    pythons = {side: build_venv(opts.workdir, side, opts.celery_version, opts.upstream_version)
               for side in ('ours', 'upstream')}
    appdir = Path(tempfile.mkdtemp(prefix='celery-bench-'))
    (appdir / 'benchapp.py').write_text(textwrap.dedent(APP))
    print(f'Celery {opts.celery_version}, {opts.tasks} no-op tasks, solo pool, '
          f'best of {opts.repeat} (tasks per second)')
    print(f'{"broker":<8}{"side":<10}{"publish/s":>12}{"worker/s":>12}{"worker s":>10}')
    for name in opts.brokers:
        url, port = BROKERS[name]
        if not port_open(port) or not port_open(6379):
            print(f'{name:<8}skipped: broker (or Redis for the timing marks) not listening')
            continue
        rows = {}
        for side in ('ours', 'upstream'):   # interleaved, so load drift hits both
            runs = [run_once(pythons[side], side, url, opts.tasks, appdir)
                    for _ in range(opts.repeat)]
            rows[side] = max(runs, key=lambda r: r['worker'])
            best = rows[side]
            print(f'{name:<8}{side:<10}{best["publish"]:>12.0f}{best["worker"]:>12.0f}'
                  f'{best["seconds"]:>10.2f}', flush=True)
        ratio = rows['ours']['worker'] / rows['upstream']['worker']
        print(f'{name:<8}{"ours/up":<10}{"":>12}{ratio:>11.2f}x')
    return 0


if __name__ == '__main__':
    sys.exit(main())
