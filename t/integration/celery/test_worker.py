"""One real ``celery worker`` per broker/result-backend pair, many features through it.

The worker (a subprocess of the project's Python, so it runs this Kombu) is
shared by the tests of one parameter to keep the module fast: results through
the Redis and ``rpc://`` backends, countdown/ETA, retries, canvas, revoke,
``celery inspect ping`` and control broadcasts (pidbox), and task events.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from celery import chain, chord, group
from celery.exceptions import TaskRevokedError

from t.integration.celery.e2eapp import make_app
from t.integration.celery.harness import (
    APP_MODULE,
    ROOT,
    Worker,
    broker_env,
    cleanup_redis,
    make_settings,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.integration

PAIRS = [('redis', 'redis'), ('redis', 'rpc'), ('amqp', 'rpc'), ('amqp', 'redis'),
         ('filesystem', 'redis'), ('filesystem', 'rpc')]


class Running:
    def __init__(self, settings, worker, app):
        self.settings, self.worker, self.app = settings, worker, app

    def task(self, name):
        return self.app.tasks[f'e2e.{name}']


@pytest.fixture(scope='module', params=PAIRS, ids=['/'.join(p) for p in PAIRS])
def running(request, tmp_path_factory):
    broker, backend = request.param
    with broker_env(broker) as env:
        settings = make_settings(broker, backend, **env)
        # with mingle and gossip: the worker greets and watches the cluster at startup
        worker = Worker(settings, tmp_path_factory.mktemp('worker'), '-E', cluster=True)
        app = make_app(settings)
        try:
            worker.wait_ready()
            yield Running(settings, worker, app)
        finally:
            worker.kill()
            app.close()
            cleanup_redis(settings)


def test_delay_and_apply_async(running):
    add = running.task('add')
    assert add.delay(2, 3).get(timeout=20) == 5
    assert add.apply_async((4,), {'y': 5}).get(timeout=20) == 9
    results = [add.apply_async((i, i)) for i in range(20)]
    assert [r.get(timeout=20) for r in results] == [2 * i for i in range(20)]
    assert results[0].state == 'SUCCESS'


def test_countdown_and_eta(running):
    now = running.task('now')
    sent = time.time()
    by_countdown = now.apply_async(countdown=1.5)
    by_eta = now.apply_async(eta=datetime.now(timezone.utc) + timedelta(seconds=1))
    assert by_countdown.get(timeout=20) - sent >= 1.4
    assert by_eta.get(timeout=20) - sent >= 0.9


def test_retries(running):
    assert running.task('flaky').delay(3).get(timeout=20) == 3


def test_chain_group_chord(running):
    add, mul, tsum = running.task('add'), running.task('mul'), running.task('tsum')
    assert chain(add.s(1, 2), mul.s(10), add.s(5))().get(timeout=20) == 35
    assert group(add.s(i, i) for i in range(6))().get(timeout=20) == [0, 2, 4, 6, 8, 10]
    if running.settings['backend'] == 'rpc://':
        return  # Celery's rpc:// backend cannot join a chord (no shared state)
    assert chord(add.s(i, 1) for i in range(5))(tsum.s()).get(timeout=20) == 15


def test_revoke(running):
    add = running.task('add')
    doomed = add.apply_async((1, 1), countdown=2)
    doomed.revoke()
    with pytest.raises(TaskRevokedError):
        doomed.get(timeout=20)
    assert add.delay(1, 1).get(timeout=20) == 2   # the worker goes on


def test_inspect_ping_cli(running):
    worker = running.worker
    proc = subprocess.run(
        [sys.executable, '-m', 'celery', '-A', APP_MODULE, 'inspect', 'ping',
         '-d', worker.nodename, '--timeout', '5', '--json'],
        cwd=ROOT, env=worker_env(running.settings), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    replies = json.loads(proc.stdout.strip().splitlines()[-1])
    assert replies == {worker.nodename: {'ok': 'pong'}}


def test_control_broadcast(running):
    app, node = running.app, running.worker.nodename
    assert app.control.ping([node], timeout=5) == [{node: {'ok': 'pong'}}]
    extra = f"{running.settings['queue']}.extra"

    def consumed():
        queues = app.control.inspect([node], timeout=5).active_queues() or {}
        return {q['name'] for q in queues.get(node, ())}

    # The worker replies at once and adds/cancels the consumer on its next loop turn.
    reply = app.control.add_consumer(extra, destination=[node], reply=True, timeout=5)
    assert reply and 'ok' in reply[0][node], reply
    assert wait_for(lambda: extra in consumed(), 10)
    assert running.task('add').apply_async((20, 22), queue=extra).get(timeout=20) == 42
    reply = app.control.cancel_consumer(extra, destination=[node], reply=True, timeout=5)
    assert reply and 'ok' in reply[0][node], reply
    assert wait_for(lambda: extra not in consumed(), 10)


def test_task_events_received(running):
    app, node = running.app, running.worker.nodename
    seen: list[dict] = []
    stop = threading.Event()

    def capture():
        with app.connection_for_read() as conn:
            receiver = app.events.Receiver(conn, handlers={'*': seen.append})
            try:
                # wakeup=True broadcasts a heartbeat request once our queue is bound
                for _ in receiver.itercapture(limit=None, timeout=20, wakeup=True):
                    if stop.is_set():
                        return
            except socket.timeout:
                return      # no event for 20 s: the assertions below say what is missing

    thread = threading.Thread(target=capture, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: any(e['type'] == 'worker-heartbeat' and
                                    e['hostname'] == node for e in seen), 15), seen
        result = running.task('add').delay(7, 8)
        assert result.get(timeout=20) == 15

        def task_events():
            return [e['type'] for e in seen if e.get('uuid') == result.id]
        assert wait_for(lambda: 'task-succeeded' in task_events(), 15), seen
        assert task_events()[:3] == ['task-received', 'task-started', 'task-succeeded']
        succeeded = next(e for e in seen if e['type'] == 'task-succeeded'
                         and e['uuid'] == result.id)
        assert succeeded['hostname'] == node and succeeded['result'] == '15'
    finally:
        stop.set()
        thread.join(25)


def test_worker_log_is_clean(running):
    """Runs last for each pair: nothing above left an error in the worker's log."""
    log = running.worker.log()
    if not running.settings['broker'].startswith('filesystem'):
        # mingle ran (Celery runs it on amqp and redis only); no other node on our exchanges
        assert 'mingle: all alone' in log
    assert 'Traceback' not in log and 'ERROR' not in log, log
