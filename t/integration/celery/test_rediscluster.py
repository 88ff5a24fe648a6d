"""A Celery worker on ``rediscluster://`` (the cluster of ``.ci/servers.d/redis_cluster.sh``):
tasks run end to end, results on the single-node Redis, and a broadcast ping is answered."""
from __future__ import annotations

import pytest

from kombu import Connection
from t.integration.celery.e2eapp import make_app
from t.integration.celery.harness import broker_env, make_settings
from t.integration.test_conformance_rediscluster import cluster_url

pytestmark = pytest.mark.integration


# solo drains with drain_events; prefork runs the consumer on Kombu's Hub
@pytest.mark.parametrize('pool', ['solo', 'prefork'])
def test_worker_runs_tasks_over_a_redis_cluster(start_worker, pool):
    url = cluster_url()
    with broker_env('redis'):
        settings = make_settings('redis', 'redis', broker_url=url)
        app = make_app(settings)
        try:
            worker = start_worker(settings, pool=pool)
            add = app.tasks['e2e.add']
            results = [add.delay(i, i) for i in range(20)]
            assert [r.get(timeout=30) for r in results] == [2 * i for i in range(20)]
            # broadcast control: the pidbox fanout (sharded pub/sub on Redis 7), the
            # reply on a direct queue
            node = worker.nodename
            assert app.control.ping([node], timeout=5) == [{node: {'ok': 'pong'}}]
            assert 'Traceback' not in worker.log(), worker.log()
            with Connection(url) as conn:  # the task queue really is on the cluster
                channel = conn.default_channel
                assert channel.client.sismember(channel.layout.queues, settings['queue'])
        finally:
            app.close()
            with Connection(url) as conn:
                conn.default_channel.queue_delete(settings['queue'])
