"""``app.control.inspect().ping()`` against a running prefork worker answers well
inside Celery's default 1 s timeout, every time (issue 12), on Redis and AMQP."""
from __future__ import annotations

import time

import pytest

from t.integration.celery.e2eapp import make_app
from t.integration.celery.harness import broker_env, cleanup_redis, make_settings

pytestmark = pytest.mark.integration

PINGS = 20


@pytest.mark.parametrize('broker', ['redis', 'amqp'])
def test_inspect_ping_answers_every_time_well_inside_a_second(broker, start_worker):
    with broker_env(broker) as env:
        settings = make_settings(broker, 'redis', **env)
        app = make_app(settings)
        try:
            worker = start_worker(settings, pool='prefork')
            node = worker.nodename
            replies, latencies = 0, []
            for _ in range(PINGS):
                started = time.monotonic()
                answer = app.control.inspect([node], timeout=1).ping()
                latencies.append(time.monotonic() - started)
                replies += answer == {node: {'ok': 'pong'}}
            print(f'{broker}: {replies}/{PINGS} replies, slowest {max(latencies):.3f}s, '
                  f'median {sorted(latencies)[PINGS // 2]:.3f}s')
            assert replies == PINGS, latencies
            assert max(latencies) < 0.5, latencies
            # and without a destination: whoever answers within the timeout
            assert node in (app.control.inspect(timeout=1).ping() or {})
        finally:
            app.close()
            cleanup_redis(settings)
