"""Helpers for end-to-end tests with a real Celery worker on this package.

Every worker is a ``celery worker`` subprocess of the project's own Python (so it
imports this Kombu), solo pool, on a queue, pidbox exchange and event exchange
of its own; on RabbitMQ each test module gets a private vhost.  Workers are
always killed in teardown.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from t.integration.rabbitmq.broker import amqp_url, private_vhost
from t.servers import require_server, unique_name

ROOT = Path(__file__).resolve().parents[3]
APP_MODULE = 't.integration.celery.e2eapp'
REDIS_DB = 13          # the Redis DB these tests use (names are unique per test anyway)
HOW_REDIS = 'bash .ci/start-servers (or: redis-server --port 6379)'


def require_redis() -> None:
    require_server('Redis', '127.0.0.1', 6379, HOW_REDIS)


def make_settings(broker: str, backend: str, *, vhost: str | None = None,
                  data_dir: Path | None = None, **extra: Any) -> dict[str, Any]:
    """Settings shared by the worker subprocess and the test (see e2eapp.make_app)."""
    tag = unique_name('e2e')
    redis_url = f'redis://127.0.0.1:6379/{REDIS_DB}'
    transport_options: dict[str, Any] = {}
    if broker == 'redis':
        broker_url = redis_url
    elif broker == 'amqp':
        assert vhost is not None
        broker_url = amqp_url(vhost)
    elif broker == 'filesystem':
        assert data_dir is not None
        broker_url = 'filesystem://'
        for name in ('data_folder_in', 'data_folder_out'):
            transport_options[name] = str(data_dir / 'data')
        transport_options['control_folder'] = str(data_dir / 'control')
    else:
        raise ValueError(broker)
    broker_url = extra.pop('broker_url', broker_url)     # e.g. a private redis-server
    transport_options.update(extra.pop('transport_options', {}))
    return {
        'broker': broker_url,
        'backend': {'redis': redis_url, 'rpc': 'rpc://'}[backend],
        'queue': f'{tag}.q',
        'control': f'{tag}.pidbox',
        'events': f'{tag}.ev',
        'key': tag,
        'db': REDIS_DB,
        'transport_options': transport_options,
        **extra,
    }


class Worker:
    """A ``celery worker`` subprocess; :meth:`kill` is safe to call more than once."""

    def __init__(self, settings: dict[str, Any], log_dir: Path, *args: str,
                 pool: str = 'solo', cluster: bool = False) -> None:
        self.settings = settings
        self.nodename = f'w{uuid.uuid4().hex[:10]}@localhost'
        self.log_path = log_dir / f'{self.nodename}.log'
        self._log = open(self.log_path, 'w')
        # mingle and gossip (cluster=True) cost startup time; most tests run without
        cluster_args = [] if cluster else ['--without-gossip', '--without-mingle']
        cmd = [sys.executable, '-m', 'celery', '-A', APP_MODULE, 'worker', f'--pool={pool}',
               '-l', 'INFO', '-n', self.nodename, *cluster_args, *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=worker_env(settings),
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors='replace')

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if f'{self.nodename} ready.' in self.log():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f'worker did not start:\n{self.log()}')

    def stop(self, timeout: float = 20) -> int:
        """Warm shutdown (SIGTERM); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f'worker ignored SIGTERM for {timeout}s:\n{self.log()}')

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()


def worker_env(settings: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith('CELERY_')}
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(ROOT), env.get('PYTHONPATH')]))
    env['KOMBU_E2E'] = json.dumps(settings)
    return env


@contextlib.contextmanager
def broker_env(broker: str) -> Iterator[dict[str, Any]]:
    """What :func:`make_settings` needs for ``broker``: a vhost or a data folder."""
    require_redis()     # counters and (mostly) results
    if broker == 'amqp':
        with private_vhost('celery-e2e') as vhost:
            yield {'vhost': vhost}
    elif broker == 'filesystem':
        data_dir = Path(tempfile.mkdtemp(prefix='kombu-celery-fs-'))
        try:
            yield {'data_dir': data_dir}
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
    else:
        yield {}


def cleanup_redis(settings: dict[str, Any]) -> None:
    import redis
    client = redis.Redis(db=REDIS_DB)
    prefix = settings['key']
    keys = []
    for pattern in (f'{prefix}*', f'_kombu.binding.{prefix}*', f'_kombu.binding_*.{prefix}*'):
        keys += client.scan_iter(pattern, count=1000)
    if keys:
        client.delete(*keys)


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
