"""A real Celery 5.7 worker over sqla:// (SQLite file, PostgreSQL), etcd:// and pgmq://
(long polls, and LISTEN/NOTIFY), end to end:
tasks published by a client process run in the worker, results come back (Redis
backend on 127.0.0.1:6379), an ETA task waits for its countdown."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from t.integration.celery.appworker import app_worker
from t.servers import IN_CI, port_open, require_server, unique_name

pytestmark = pytest.mark.integration
pytest.importorskip('celery')
pytest.importorskip('redis')

REDIS_DB = 12

APP = '''
import time
from celery import Celery
app = Celery('storeapp', broker={broker!r}, backend='redis://127.0.0.1:6379/{db}')
app.conf.update(task_default_queue={queue!r}, result_expires=300,
                worker_hijack_root_logger=False, broker_connection_retry_on_startup=True,
                broker_transport_options={options!r})

@app.task
def add(x, y):
    return x + y

@app.task
def when():
    return time.time()
'''

CLIENT = '''
import json, time
from storeapp import add, when
out = {}
out['sum'] = sum(r.get(timeout=60) for r in [add.delay(i, i) for i in range(40)])
sent = time.time()
out['eta_delay'] = when.apply_async(countdown=1.0).get(timeout=60) - sent
print(json.dumps(out))
'''


def _broker(kind: str, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    if kind == 'sqlite':
        return f'sqla+sqlite:///{tmp_path / "broker.db"}', {'polling_interval': 0.1}
    if kind == 'postgres':
        require_server('PostgreSQL', '127.0.0.1', 5432, 'bash .ci/servers.d/sqlalchemy.sh')
        pytest.importorskip('psycopg')
        tables = {f'{t}_tablename': f'kombu_celery_{t}' for t in ('queue', 'message', 'binding')}
        url = os.environ.get('SQLA_POSTGRES_URL',
                             'sqla+postgresql+psycopg://postgres@127.0.0.1:5432/test')
        return url, {'polling_interval': 0.1, **tables}
    if kind.startswith('pgmq'):
        pytest.importorskip('pgmq')
        url = os.environ.get('PGMQ_URL', '')
        if not url or not port_open('127.0.0.1', 5432):
            message = 'no PGMQ: bash .ci/servers.d/pgmq.sh, then set PGMQ_URL'
            if IN_CI:
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        # Long polls, or LISTEN/NOTIFY wake-ups, instead of polling_interval.
        return url, {'init_extension': False, 'use_notify': kind == 'pgmq-notify'}
    pytest.importorskip('etcd')
    url = os.environ.get('ETCD_URL', '')
    host, _, port = url.partition('://')[2].partition(':')
    if not url or not port_open(host, int(port or 2379)):
        message = 'no etcd: bash .ci/servers.d/etcd.sh, then set ETCD_URL'
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return url, {'polling_interval': 0.5, 'prefix': unique_name('kombu-celery')}


@pytest.fixture(params=['sqlite', 'postgres', 'etcd', 'pgmq', 'pgmq-notify'])
def app_dir(request: Any, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    require_server('Redis (results)', '127.0.0.1', 6379, 'redis-server --port 6379')
    broker, options = _broker(request.param, tmp_path)
    queue = unique_name('celery.store')
    (tmp_path / 'storeapp.py').write_text(
        APP.format(broker=broker, db=REDIS_DB, queue=queue, options=options))
    yield tmp_path, queue
    if request.param == 'postgres':
        from kombu.transport.sqlalchemy import engine, models
        eng = engine.get_engine(broker.partition('+')[2], {})
        models.tables(options['queue_tablename'], options['message_tablename'],
                      options['binding_tablename']).metadata.drop_all(eng)
        engine.dispose_all()
    elif request.param == 'etcd':
        import etcd
        host, _, port = broker.partition('://')[2].partition(':')
        try:
            etcd.Client(host=host, port=int(port)).delete(f'/{options["prefix"]}',
                                                           recursive=True)
        except etcd.EtcdKeyNotFound:
            pass


@pytest.mark.parametrize('pool', ['prefork', 'solo'])
def test_worker_runs_tasks(app_dir: tuple[Path, str], pool: str) -> None:
    path, queue = app_dir
    with app_worker(path, 'storeapp', '-P', pool, '-c', '2', '-n', f'{queue}@%h', '-l', 'INFO',
                    '--without-heartbeat') as worker:
        client = worker.client(CLIENT, timeout=120)
        assert client.returncode == 0, client.stderr + worker.log()
        out = json.loads(client.stdout.strip().splitlines()[-1])
        assert out['sum'] == sum(2 * i for i in range(40))
        assert out['eta_delay'] >= 0.9
    assert not worker.hung, worker.log()[-1500:]
