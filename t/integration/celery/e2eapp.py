"""The Celery app the end-to-end tests run in a real ``celery worker`` subprocess.

Both sides build it with :func:`make_app` from the same settings: the worker from
the ``KOMBU_E2E`` environment variable (JSON), the test from a dict.  Tasks have
explicit names so that they match whatever module path the worker imported.
Tasks that must be counted record themselves in Redis under the ``key`` setting
(the result backend does not tell how often a task ran).
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

from celery import Celery

REDIS = 'redis://127.0.0.1:6379/{db}'


def make_app(settings: dict[str, Any]) -> Celery:
    app = Celery(settings.get('main', 'kombu_e2e'), set_as_current=False)
    app.conf.update(
        broker_url=settings['broker'],
        result_backend=settings['backend'],
        task_default_queue=settings['queue'],
        # pidbox and event exchanges of our own: other tests share the broker
        control_exchange=settings['control'],
        event_exchange=settings['events'],
        broker_transport_options=settings.get('transport_options', {}),
        result_expires=300,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_prefetch_multiplier=settings.get('prefetch_multiplier', 4),
        task_acks_late=False,
        **settings.get('conf', {}),
    )
    register_tasks(app, settings)
    return app


def redis_client(settings: dict[str, Any]):
    import redis
    return redis.Redis.from_url(REDIS.format(db=settings['db']))


def register_tasks(app: Celery, settings: dict[str, Any]) -> None:
    key = settings['key']

    @app.task(name='e2e.add', shared=False)
    def add(x, y):
        return x + y

    @app.task(name='e2e.mul', shared=False)
    def mul(x, y):
        return x * y

    @app.task(name='e2e.tsum', shared=False)
    def tsum(values):
        return sum(values)

    @app.task(name='e2e.now', shared=False)
    def now():
        return time.time()

    @app.task(name='e2e.pid', shared=False)
    def pid(sleep=0.0):
        time.sleep(sleep)
        return os.getpid()

    @app.task(name='e2e.flaky', shared=False, bind=True, max_retries=5)
    def flaky(self, succeed_on):
        attempt = self.request.retries + 1
        if attempt < succeed_on:
            raise self.retry(countdown=0.2, exc=RuntimeError(f'attempt {attempt}'))
        return attempt

    @app.task(name='e2e.record', shared=False)
    def record(n, sleep=0.0):
        """Runs once per message: records ``n`` and sleeps."""
        client = redis_client(settings)
        client.rpush(f'{key}.started', n)
        time.sleep(sleep)
        client.rpush(f'{key}.done', n)
        return n

    @app.task(name='e2e.stall_once', shared=False, acks_late=True)
    def stall_once(n):
        """The first delivery hangs (the test kills the worker); a redelivery returns."""
        client = redis_client(settings)
        runs = client.incr(f'{key}.runs.{n}')
        client.rpush(f'{key}.started', n)
        if runs == 1:
            time.sleep(120)
        return runs


if 'KOMBU_E2E' in os.environ:
    app = make_app(json.loads(os.environ['KOMBU_E2E']))
