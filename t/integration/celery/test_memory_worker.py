"""A Celery worker in this process on ``memory://`` (Celery's own ``start_worker`` helper).

No server needed: the broker is this package's in-memory transport and results
go through Celery's in-memory cache backend.
"""
from __future__ import annotations

import time

import pytest
from celery import Celery, chain, chord, group
from celery.contrib.testing.worker import start_worker
from celery.exceptions import TaskRevokedError

from t.servers import unique_name


@pytest.fixture(scope='module')
def app():
    app = Celery('kombu_memory_e2e', set_as_current=False)
    app.conf.update(broker_url='memory://', result_backend='cache+memory://',
                    task_default_queue=unique_name('mem.q'),
                    broker_connection_retry_on_startup=True)
    app.loader.import_task_module('celery.contrib.testing.tasks')   # start_worker's ping

    @app.task(name='mem.add', shared=False)
    def add(x, y):
        return x + y

    @app.task(name='mem.tsum', shared=False)
    def tsum(values):
        return sum(values)

    @app.task(name='mem.flaky', shared=False, bind=True, max_retries=3)
    def flaky(self, succeed_on):
        if self.request.retries + 1 < succeed_on:
            raise self.retry(countdown=0.1)
        return self.request.retries + 1

    @app.task(name='mem.now', shared=False)
    def now():
        return time.time()

    with start_worker(app, pool='solo', perform_ping_check=True, shutdown_timeout=10):
        yield app
    app.close()


def test_delay_apply_async(app):
    add = app.tasks['mem.add']
    assert add.delay(1, 2).get(timeout=10) == 3
    results = [add.apply_async((i, 1)) for i in range(30)]
    assert [r.get(timeout=10) for r in results] == [i + 1 for i in range(30)]


def test_countdown_and_retries(app):
    sent = time.time()
    assert app.tasks['mem.now'].apply_async(countdown=1).get(timeout=10) - sent >= 0.9
    assert app.tasks['mem.flaky'].delay(3).get(timeout=10) == 3


def test_canvas(app):
    add, tsum = app.tasks['mem.add'], app.tasks['mem.tsum']
    assert chain(add.s(1, 1), add.s(2), add.s(3))().get(timeout=10) == 7
    assert group(add.s(i, 0) for i in range(4))().get(timeout=10) == [0, 1, 2, 3]
    assert chord(add.s(i, i) for i in range(4))(tsum.s()).get(timeout=10) == 12


def test_control_and_revoke(app):
    replies = app.control.ping(timeout=2)
    assert len(replies) == 1 and list(replies[0].values()) == [{'ok': 'pong'}]
    doomed = app.tasks['mem.add'].apply_async((1, 1), countdown=1)
    doomed.revoke()
    with pytest.raises(TaskRevokedError):
        doomed.get(timeout=10)
