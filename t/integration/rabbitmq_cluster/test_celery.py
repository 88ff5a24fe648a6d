"""Celery's quorum-queue setup on the three-node cluster: a real worker, given the
members as failover alternates, runs a countdown task through native delayed
delivery (the delay waits in the cluster's ``celery_delayed_N`` quorum queues)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from kombu import Connection

pytestmark = [pytest.mark.integration, pytest.mark.slow]

celery = pytest.importorskip('celery', reason='Celery is in the test extra')

from t.integration.celery.e2eapp import make_app  # noqa: E402 (needs celery)
from t.integration.celery.harness import (  # noqa: E402
    Worker,
    cleanup_redis,
    make_settings,
    require_redis,
)


def test_countdown_task_over_quorum_queues_on_the_cluster(full_cluster, tmp_path: Path):
    require_redis()  # results
    settings = make_settings(
        'amqp', 'redis', vhost='/', broker_url=full_cluster.failover_url,
        prefetch_multiplier=1, transport_options={'confirm_publish': True},
        conf={'task_default_queue_type': 'quorum', 'task_default_exchange_type': 'topic'})
    app = make_app(settings)
    worker = Worker(settings, tmp_path)
    try:
        worker.wait_ready(60)
        members = sorted(node.name for node in full_cluster.nodes)
        task_queue = full_cluster.queue_info(settings['queue'], 'type', 'members')
        assert task_queue['type'] == 'quorum' and sorted(task_queue['members']) == members
        levels = {row['name']: row for row in full_cluster.ctl_json(
            'list_queues', 'name', 'type', 'members') if row['name'].startswith('celery_delayed_')}
        assert len(levels) == 28, sorted(levels)
        assert {row['type'] for row in levels.values()} == {'quorum'}
        assert all(sorted(row['members']) == members for row in levels.values())
        sent = time.time()
        result = app.tasks['e2e.now'].apply_async(countdown=3)
        time.sleep(1)   # while the delay runs, the message is in the broker, not the worker
        scheduled = app.control.inspect([worker.nodename], timeout=5).scheduled()
        assert scheduled == {worker.nodename: []}, scheduled
        assert not result.ready()
        assert result.get(timeout=30) - sent >= 2.9
        assert app.tasks['e2e.add'].delay(2, 3).get(timeout=30) == 5
        assert 'Traceback' not in worker.log(), worker.log()
    finally:
        worker.kill()
        app.close()
        cleanup_redis(settings)
        with Connection(full_cluster.failover_url) as conn:
            conn.default_channel.queue_delete(settings['queue'])
