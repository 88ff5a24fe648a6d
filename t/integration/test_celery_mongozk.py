"""A real Celery 5.7 worker running tasks over mongodb:// and zookeeper:// (the shared
SecantusDB and ZooKeeper of ``.ci/start-servers``); results go to Redis."""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from t.integration import mongodb_server, zookeeper_server
from t.integration.celery.appworker import app_worker
from t.integration.test_celery_worker import (
    APP,
    CLIENT,
    REDIS_DB,
    celery_python,
)
from t.servers import require_server, unique_name

pytestmark = pytest.mark.integration


@pytest.fixture(params=['mongodb', 'zookeeper'])
def broker_app(request: Any, tmp_path: Any) -> Iterator[tuple[Any, str]]:
    require_server('Redis (results)', '127.0.0.1', 6379, 'redis-server --port 6379')
    source = (mongodb_server.private_database('kombu_celery') if request.param == 'mongodb'
              else zookeeper_server.private_vhost('kombu-celery'))
    with source as broker:
        queue = unique_name('mz.celery')
        app = APP.format(db=REDIS_DB, queue=queue, broker=broker)
        # Virtual transports poll: keep the idle wait short for the test's timings.
        app += "\napp.conf.broker_transport_options = {'polling_interval': 0.1}\n"
        (tmp_path / 'h5app.py').write_text(app)
        yield tmp_path, queue


def test_worker_runs_tasks(broker_app: tuple[Any, str]) -> None:
    path, queue = broker_app
    celery_python()  # skips without Celery
    with app_worker(path, 'h5app', '-P', 'prefork', '-c', '2', '-n', f'{queue}@%h',
                    '-l', 'INFO', '--without-heartbeat') as worker:
        client = worker.client(CLIENT, 'prefork', timeout=120)
        assert client.returncode == 0, client.stderr + worker.log()
        out = json.loads(client.stdout.strip().splitlines()[-1])
        assert out['sum'] == sum(2 * i for i in range(60))
        assert out['limited'] == sum(range(30))
        assert out['sleepy'] == 'soft-limit'
        assert out['eta_delay'] >= 0.9
        # A broadcast command (pidbox fanout) reaches the worker and it answers.
        ping = worker.client('from h5app import app; import json; '
                             'print(json.dumps(app.control.ping(timeout=3)))', timeout=60)
        assert ping.returncode == 0, ping.stderr
        assert any(f'{queue}@' in name for reply in json.loads(ping.stdout.strip())
                   for name in reply), ping.stdout
    text = worker.log()
    assert not worker.hung, 'worker did not shut down on SIGTERM'
    assert 'Traceback' not in text, text
