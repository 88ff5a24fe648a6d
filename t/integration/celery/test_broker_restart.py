"""The worker survives its broker going away: it reconnects and goes on with new tasks."""
from __future__ import annotations

import pytest

from t.integration.celery.e2eapp import make_app
from t.integration.celery.harness import broker_env, cleanup_redis, make_settings, wait_for
from t.integration.private_redis import PrivateRedis
from t.integration.rabbitmq.broker import rabbitmqctl

pytestmark = pytest.mark.integration


def connected_count(worker) -> int:
    return worker.log().count('Connected to ')


def test_worker_reconnects_after_redis_restart(start_worker):
    with broker_env('redis'), PrivateRedis() as broker:     # started, on a spare port
        settings = make_settings('redis', 'redis', broker_url=broker.url(0))
        app = make_app(settings)
        try:
            worker = start_worker(settings)
            add = app.tasks['e2e.add']
            assert add.delay(1, 1).get(timeout=20) == 2
            broker.stop()               # the broker dies, its data with it
            broker.start()
            # the worker reconnects and declares its queue again
            assert wait_for(lambda: connected_count(worker) >= 2, 30), worker.log()
            assert add.delay(2, 2).get(timeout=30) == 4
        finally:
            app.close()
            cleanup_redis(settings)


def test_worker_reconnects_after_rabbitmq_closes_its_connection(start_worker):
    with broker_env('amqp') as env:
        settings = make_settings('amqp', 'redis', **env)
        app = make_app(settings)
        try:
            worker = start_worker(settings)
            add = app.tasks['e2e.add']
            assert add.delay(1, 1).get(timeout=20) == 2
            vhost = env['vhost']
            pids = [line.split('\t')[0] for line in
                    rabbitmqctl('list_connections', 'pid', 'vhost').splitlines()
                    if line.endswith(f'\t{vhost}')]
            assert pids
            for pid in pids:            # the worker's and ours: RabbitMQ closes them
                rabbitmqctl('close_connection', pid, 'test: broker closes the connection')
            assert wait_for(lambda: connected_count(worker) >= 2, 30), worker.log()
            assert add.delay(2, 2).get(timeout=30) == 4
        finally:
            app.close()
            cleanup_redis(settings)
