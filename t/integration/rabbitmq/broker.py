"""Helpers for tests against the shared RabbitMQ: private vhosts, server-side closes."""
from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from typing import Iterator

import pytest

from t.servers import IN_CI, require_server, unique_name

HOST, PORT = '127.0.0.1', 5672
HOW_TO_START = 'bash .ci/start-servers'


def require_rabbitmq() -> None:
    require_server('RabbitMQ', HOST, PORT, HOW_TO_START)


def rabbitmqctl(*args: str, timeout: float = 30) -> str:
    exe = shutil.which('rabbitmqctl')
    if exe is None:
        message = 'rabbitmqctl is not installed (apt-get install rabbitmq-server)'
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    proc = subprocess.run([exe, '-q', *args], capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f'rabbitmqctl {" ".join(args)} failed: {proc.stderr}')
    return proc.stdout


def rabbitmqctl_json(*args: str) -> list:
    out = rabbitmqctl(*args, '--formatter', 'json')
    return json.loads(out) if out.strip() else []


@contextlib.contextmanager
def private_vhost(prefix: str = 't') -> Iterator[str]:
    """A vhost only this test uses, with guest allowed everything; deleted afterwards."""
    require_rabbitmq()
    name = unique_name(prefix)
    rabbitmqctl('add_vhost', name)
    try:
        rabbitmqctl('set_permissions', '-p', name, 'guest', '.*', '.*', '.*')
        yield name
    finally:
        rabbitmqctl('delete_vhost', name)


def amqp_url(vhost: str) -> str:
    from urllib.parse import quote
    return f'amqp://guest:guest@{HOST}:{PORT}/{quote(vhost, safe="")}'


def connection_pids(connection_name: str) -> list[str]:
    """Server-side pids of the connections whose client named itself ``connection_name``."""
    out = rabbitmqctl('list_connections', 'pid', 'client_properties')
    needle = f'{{"connection_name","{connection_name}"}}'
    return [line.split('\t', 1)[0] for line in out.splitlines()[1:] if needle in line]


def close_connections_named(connection_name: str, reason: str = 'test fault') -> int:
    """Close, from the server side, only the connections this test opened."""
    pids = connection_pids(connection_name)
    for pid in pids:
        rabbitmqctl('close_connection', pid, reason)
    return len(pids)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
