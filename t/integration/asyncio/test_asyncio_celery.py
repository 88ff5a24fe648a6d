"""Wire compatibility with a real Celery 5.7 worker: task messages (protocol 2)
published by kombu.asyncio are executed by the worker, and task messages sent by
Celery's client are received by an asyncio consumer."""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from kombu import Exchange, Queue
from kombu.asyncio import AsyncConnection, AsyncConsumer, AsyncProducer
from t.integration.test_celery_worker import BROKERS, ROOT, celery_python, stop_worker
from t.servers import require_server, unique_name
from t.unit.asyncio.common import run

pytestmark = pytest.mark.integration
RESULT_DB = 9
N = 20

APP = '''
from celery import Celery
app = Celery('aioapp', broker={broker!r}, backend='redis://127.0.0.1:6379/{db}')
app.conf.update(task_default_queue={queue!r}, result_expires=120,
                worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)

@app.task
def add(x, y):
    return x + y
'''


@pytest.fixture(params=sorted(BROKERS))
def celery_app(request: Any, tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    broker, port, how = BROKERS[request.param]
    require_server(request.param, '127.0.0.1', port, how)
    require_server('Redis (results)', '127.0.0.1', 6379, 'redis-server --port 6379')
    queue = unique_name('aio.celery')
    (tmp_path / 'aioapp.py').write_text(APP.format(broker=broker, db=RESULT_DB, queue=queue))
    yield tmp_path, queue, broker
    import redis
    client = redis.Redis(db=RESULT_DB)
    client.delete(queue, f'_kombu.binding.{queue}', *client.keys(f'{queue}*'))
    if request.param == 'amqp':
        from kombu import Connection
        with Connection(broker, connect_timeout=5) as conn:
            conn.default_channel.queue_delete(queue)


def env_for(path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['PYTHONPATH'] = f'{ROOT}{os.pathsep}{path}'
    return env


def task_message(task_id: str, x: int, y: int) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Body, headers and properties of a Celery protocol 2 ``aioapp.add`` call."""
    body = [[x, y], {}, {'callbacks': None, 'errbacks': None, 'chain': None, 'chord': None}]
    headers = {'lang': 'py', 'task': 'aioapp.add', 'id': task_id, 'root_id': task_id,
               'parent_id': None, 'group': None, 'shadow': None, 'eta': None,
               'expires': None, 'retries': 0, 'timelimit': [None, None],
               'argsrepr': repr((x, y)), 'kwargsrepr': '{}', 'origin': 'kombu.asyncio',
               'ignore_result': False}
    properties = {'correlation_id': task_id, 'reply_to': ''}
    return body, headers, properties


def test_async_producer_task_runs_on_celery_worker(
        celery_app: tuple[Path, str, str]) -> None:
    path, queue_name, broker = celery_app
    python = celery_python()
    exchange = Exchange(queue_name, 'direct')
    queue = Queue(queue_name, exchange, queue_name)
    ids = [str(uuid.uuid4()) for _ in range(N)]

    async def send() -> None:
        async with AsyncConnection(broker) as conn:
            producer = AsyncProducer(conn, exchange, routing_key=queue_name)
            for i, task_id in enumerate(ids):
                body, headers, properties = task_message(task_id, i, i)
                await producer.publish(body, headers=headers, serializer='json',
                                       declare=[queue], **properties)

    run(send())
    log = open(path / 'worker.log', 'w')
    worker = subprocess.Popen(
        [str(python), '-m', 'celery', '-A', 'aioapp', 'worker', '-P', 'solo',
         '-n', f'{queue_name}@%h', '-l', 'INFO',
         '--without-gossip', '--without-mingle', '--without-heartbeat'],
        cwd=path, env=env_for(path), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        results = wait_results(ids, timeout=60)
    finally:
        hung = stop_worker(worker)
        log.close()
    text = (path / 'worker.log').read_text()
    assert results == [2 * i for i in range(N)], text
    assert not hung
    assert 'Traceback' not in text, text


def wait_results(ids: list[str], timeout: float) -> list[Any]:
    import redis
    client = redis.Redis(db=RESULT_DB)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = client.mget([f'celery-task-meta-{i}' for i in ids])
        if all(raw):
            metas = [json.loads(r) for r in raw]
            assert {m['status'] for m in metas} == {'SUCCESS'}
            return [m['result'] for m in metas]
        time.sleep(0.2)
    return []


def test_celery_client_task_received_by_async_consumer(
        celery_app: tuple[Path, str, str]) -> None:
    path, queue_name, broker = celery_app
    python = celery_python()
    client = subprocess.run(
        [str(python), '-c', 'import json; from aioapp import add; '
         f'print(json.dumps([add.delay(i, 1).id for i in range({N})]))'],
        cwd=path, env=env_for(path), capture_output=True, text=True, timeout=60)
    assert client.returncode == 0, client.stderr
    sent = json.loads(client.stdout.strip().splitlines()[-1])
    exchange = Exchange(queue_name, 'direct')
    queue = Queue(queue_name, exchange, queue_name)

    async def receive() -> list[Any]:
        async with AsyncConnection(broker) as conn:
            consumer = AsyncConsumer(conn, [queue], prefetch_count=N)
            got = []
            async with consumer:
                async for message in consumer:
                    assert message.headers['task'] == 'aioapp.add'
                    got.append((message.headers['id'], message.payload[0]))
                    await message.ack()
                    if len(got) == N:
                        break
            return got

    got = run(receive())
    assert sorted(i for i, _ in got) == sorted(sent)
    assert sorted(args[0] for _, args in got) == list(range(N))
