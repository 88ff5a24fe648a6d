"""Worker lifecycles on this Kombu: SIGKILL with acks_late, warm shutdown, priorities,
quorum queues with native delayed delivery.  Each test starts its own workers.
"""
from __future__ import annotations

import random
import time
from urllib.parse import unquote

import pytest

from t.integration.celery.e2eapp import make_app, redis_client
from t.integration.celery.harness import broker_env, cleanup_redis, make_settings, wait_for
from t.integration.rabbitmq.broker import rabbitmqctl

pytestmark = pytest.mark.integration


@pytest.fixture
def env_for():
    """``env_for(broker, backend, **extra)`` -> (settings, app), cleaned up afterwards."""
    stack = []

    def make(broker, backend='redis', **extra):
        ctx = broker_env(broker)
        env = ctx.__enter__()
        settings = make_settings(broker, backend, **env, **extra)
        app = make_app(settings)
        stack.append((ctx, settings, app))
        return settings, app

    yield make
    for ctx, settings, app in reversed(stack):
        app.close()
        cleanup_redis(settings)
        ctx.__exit__(None, None, None)


def ints(client, key):
    return [int(v) for v in client.lrange(key, 0, -1)]


@pytest.mark.parametrize('broker', ['redis', 'amqp'])
def test_acks_late_task_redelivered_after_sigkill(broker, env_for, start_worker):
    # Redis hands an unacked message back after the visibility timeout.
    settings, app = env_for(broker, prefetch_multiplier=1,
                            transport_options={'visibility_timeout': 2})
    redis = redis_client(settings)
    key = settings['key']
    first = start_worker(settings)
    result = app.tasks['e2e.stall_once'].delay(1)
    assert wait_for(lambda: redis.llen(f'{key}.started') == 1, 20), first.log()
    first.kill()            # SIGKILL mid-task: the message was never acknowledged
    start_worker(settings)
    assert result.get(timeout=30) == 2
    time.sleep(1.5)     # a second copy would run now
    assert ints(redis, f'{key}.started') == [1, 1]
    assert int(redis.get(f'{key}.runs.1')) == 2


@pytest.mark.parametrize('broker', ['redis', 'amqp', 'filesystem'])
def test_warm_shutdown_loses_no_task(broker, env_for, start_worker):
    settings, app = env_for(broker, prefetch_multiplier=4)
    redis = redis_client(settings)
    key = settings['key']
    first = start_worker(settings)
    count = 12
    for n in range(count):
        app.tasks['e2e.record'].delay(n, 0.3)
    assert wait_for(lambda: redis.llen(f'{key}.started') >= 2, 20), first.log()
    assert first.stop() == 0        # SIGTERM: finish the running task, give back the rest
    started = ints(redis, f'{key}.started')
    assert ints(redis, f'{key}.done') == started   # nothing cut short
    assert len(started) < count
    start_worker(settings)
    assert wait_for(lambda: redis.llen(f'{key}.done') >= count, 30)
    time.sleep(0.5)     # a duplicate would show up now
    done = ints(redis, f'{key}.done')
    assert sorted(done) == list(range(count)), done


@pytest.mark.parametrize('broker', ['redis', 'amqp'])
def test_priorities(broker, env_for, start_worker):
    if broker == 'amqp':
        settings, app = env_for(broker, prefetch_multiplier=1,
                                conf={'task_queue_max_priority': 9})
    else:
        settings, app = env_for(broker, prefetch_multiplier=1, transport_options={
            'priority_steps': list(range(10)), 'sep': ':', 'queue_order_strategy': 'priority'})
    with app.connection_for_write() as conn:   # the queue exists before any worker
        app.amqp.queues[settings['queue']](conn.default_channel).declare()
    priorities = list(range(10))
    random.Random(7).shuffle(priorities)
    for p in priorities:
        app.tasks['e2e.record'].apply_async((p,), priority=p)
    start_worker(settings)
    redis = redis_client(settings)
    assert wait_for(lambda: redis.llen(f"{settings['key']}.done") == 10, 20)
    order = ints(redis, f"{settings['key']}.done")
    # RabbitMQ: the higher the number the sooner; Kombu's Redis transport: 0 first.
    assert order == (sorted(priorities, reverse=True) if broker == 'amqp' else
                     sorted(priorities))


def test_quorum_queue_eta_uses_native_delayed_delivery(env_for, start_worker):
    settings, app = env_for('amqp', prefetch_multiplier=1, conf={
        'task_default_queue_type': 'quorum', 'task_default_exchange_type': 'topic'},
        transport_options={'confirm_publish': True})
    worker = start_worker(settings)
    vhost = unquote(settings['broker'].rsplit('/', 1)[1])
    queues = rabbitmqctl('list_queues', '-p', vhost, 'name', 'type')
    assert f"{settings['queue']}\tquorum" in queues, queues
    assert 'celery_delayed_0' in queues and 'celery_delayed_27' in queues, queues
    sent = time.time()
    result = app.tasks['e2e.now'].apply_async(countdown=3)
    # While the delay runs the message waits in RabbitMQ, not in the worker's timer.
    time.sleep(1)
    scheduled = app.control.inspect([worker.nodename], timeout=5).scheduled()
    assert scheduled == {worker.nodename: []}, scheduled
    assert not result.ready()
    ran_at = result.get(timeout=30)
    assert ran_at - sent >= 2.9
    exchanges = rabbitmqctl('list_exchanges', '-p', vhost, 'name', 'type')
    assert 'celery_delayed_27\ttopic' in exchanges, exchanges


@pytest.mark.parametrize('broker', ['redis', 'amqp'])
def test_prefork_pool(broker, env_for, start_worker):
    """Celery's default pool: two child processes fed by the worker's event loop."""
    settings, app = env_for(broker)
    worker = start_worker(settings, '--concurrency=2', pool='prefork')
    add = app.tasks['e2e.add']
    results = [add.delay(i, i) for i in range(50)]
    assert [r.get(timeout=30) for r in results] == [2 * i for i in range(50)]
    sent = time.time()
    assert app.tasks['e2e.now'].apply_async(countdown=1).get(timeout=30) - sent >= 0.9
    # while one child sleeps the other gets work
    pids = {r.get(timeout=30) for r in [app.tasks['e2e.pid'].delay(0.2) for _ in range(6)]}
    assert len(pids) == 2 and worker.proc.pid not in pids
    assert worker.stop() == 0
    assert 'Traceback' not in worker.log(), worker.log()
