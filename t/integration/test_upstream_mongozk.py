"""Upstream Kombu 5.7 and this package share a MongoDB database and a ZooKeeper vhost:
messages published by one are consumed by the other, both ways (the shared servers
of ``.ci/start-servers``; upstream runs in the throw-away virtualenv of t/upstream.py)."""
from __future__ import annotations

import json
import subprocess
from typing import Iterator

import pytest

from kombu import Connection, Exchange, Producer, Queue
from t.servers import IN_CI, unique_name
from t.upstream import run_upstream, upstream_python

pytestmark = pytest.mark.integration

CLIENTS = {'mongodb': 'pymongo', 'zookeeper': 'kazoo'}

UPSTREAM = '''
import json, sys
from kombu import Connection, Exchange, Producer, Queue
url, name, action = {url!r}, {name!r}, {action!r}
queue = Queue(name, Exchange(''), routing_key=name)
with Connection(url) as conn:
    queue(conn.default_channel).declare()
    if action == 'publish':
        for i in range(3):
            Producer(conn.default_channel).publish({{'n': i, 'from': 'upstream'}},
                                                   routing_key=name, serializer='json')
    else:
        got = []
        for _ in range(10):
            message = queue(conn.default_channel).get(no_ack=True)
            if message is None:
                break
            got.append(message.payload)
        print(json.dumps(got))
'''


def upstream_with(client: str) -> None:
    python = upstream_python()
    if subprocess.run([str(python), '-c', f'import {client}'], capture_output=True).returncode:
        proc = subprocess.run([str(python), '-m', 'pip', 'install', '-q', client],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode:
            message = f'cannot install {client} for upstream Kombu: {proc.stderr[-500:]}'
            if IN_CI:
                pytest.fail(message, pytrace=False)
            pytest.skip(message)


@pytest.fixture(params=sorted(CLIENTS))
def shared_url(request: pytest.FixtureRequest) -> Iterator[str]:
    from t.integration import mongodb_server, zookeeper_server
    source = (mongodb_server.private_database('kombu_up') if request.param == 'mongodb'
              else zookeeper_server.private_vhost('kombu-up'))
    with source as url:
        upstream_with(CLIENTS[request.param])
        yield url


def test_upstream_publishes_we_consume(shared_url: str) -> None:
    name = unique_name('up')
    run_upstream(UPSTREAM.format(url=shared_url, name=name, action='publish'))
    queue = Queue(name, Exchange(''), routing_key=name)
    got = []
    with Connection(shared_url) as conn:
        for _ in range(3):
            message = queue(conn.default_channel).get(no_ack=True)
            assert message is not None, f'only {got} arrived'
            got.append(message.payload)
        queue(conn.default_channel).delete()
    assert got == [{'n': i, 'from': 'upstream'} for i in range(3)]


def test_we_publish_upstream_consumes(shared_url: str) -> None:
    name = unique_name('up')
    queue = Queue(name, Exchange(''), routing_key=name)
    with Connection(shared_url) as conn:
        queue(conn.default_channel).declare()
        for i in range(3):
            Producer(conn.default_channel).publish({'n': i, 'from': 'us'}, routing_key=name,
                                                   serializer='json')
    out = run_upstream(UPSTREAM.format(url=shared_url, name=name, action='get'))
    assert json.loads(out.strip().splitlines()[-1]) == [
        {'n': i, 'from': 'us'} for i in range(3)]
