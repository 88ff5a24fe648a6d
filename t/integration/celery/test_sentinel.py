"""A worker on ``sentinel://``: tasks before and after a Sentinel failover."""
from __future__ import annotations

import pytest

from t.integration.celery.e2eapp import make_app
from t.integration.celery.harness import broker_env, cleanup_redis, make_settings
from t.integration.redis.servers import SentinelSetup

pytestmark = pytest.mark.integration


@pytest.fixture
def sentinel():
    setup = SentinelSetup().start()
    try:
        yield setup
    finally:
        setup.stop()


def test_worker_follows_a_sentinel_failover(sentinel, start_worker):
    with broker_env('redis'):
        settings = make_settings('redis', 'redis', broker_url=sentinel.url,
                                 transport_options={'master_name': 'mymaster'})
        app = make_app(settings)
        try:
            worker = start_worker(settings)
            add = app.tasks['e2e.add']
            assert add.delay(1, 1).get(timeout=20) == 2
            new_port = sentinel.failover()
            # the old master is a replica now (it refuses the worker's pops): the task runs
            # only if the worker found the new master through the sentinel
            assert add.delay(2, 2).get(timeout=30) == 4
            assert add.delay(3, 3).get(timeout=30) == 6
            assert new_port == sentinel.master_port()
            assert 'Traceback' not in worker.log(), worker.log()
        finally:
            app.close()
            cleanup_redis(settings)
