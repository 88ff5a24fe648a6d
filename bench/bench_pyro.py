"""pyro:// publish and consume msg/s against a private Pyro name server and broker
(``python -m kombu.transport.pyro``), next to raw Pyro calls to the same broker object.

Usage::

    python bench/bench_pyro.py [--messages 2000] [--rounds 3]

publish
    ``Producer.publish`` of a Celery-shaped task message (json, default exchange); raw:
    ``proxy.put(queue, envelope)`` of an already built envelope of the same shape.
consume
    a pre-filled queue drained by a ``Consumer`` with ``drain_events`` (every message
    acked); raw: ``proxy.get(queue)`` until empty.

Every message is one remote call each way, so the columns compare Kombu's overhead
with the round trip itself.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from _kombu_runs import envelope, kombu_consume, kombu_publish, median, print_table  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def start() -> tuple[list[subprocess.Popen[bytes]], int]:
    port = free_port()
    env = {**os.environ, 'PYTHONPATH': ROOT}
    ns = subprocess.Popen([sys.executable, '-m', 'Pyro5.nameserver', '-n', '127.0.0.1',
                           '-p', str(port)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(('127.0.0.1', port), 0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    broker = subprocess.Popen([sys.executable, '-m', 'kombu.transport.pyro', '--ns-port',
                               str(port)], stdout=subprocess.PIPE, env=env)
    assert broker.stdout is not None and b'registered' in broker.stdout.readline()
    return [broker, ns], port


def raw_proxy(port: int) -> Any:
    import Pyro5.api
    uri = Pyro5.api.locate_ns('127.0.0.1', port).lookup('kombu.broker')
    return Pyro5.api.Proxy(uri)


def raw_publish(port: int, n: int) -> float:
    proxy, queue, message = raw_proxy(port), f'raw-{uuid.uuid4().hex[:8]}', envelope()
    proxy.new_queue(queue)
    start = time.perf_counter()
    for _ in range(n):
        proxy.put(queue, message)
    elapsed = time.perf_counter() - start
    proxy.delete(queue)
    return n / elapsed


def raw_consume(port: int, n: int) -> float:
    proxy, queue, message = raw_proxy(port), f'raw-{uuid.uuid4().hex[:8]}', envelope()
    proxy.new_queue(queue)
    for _ in range(n):
        proxy.put(queue, message)
    start = time.perf_counter()
    while proxy.get(queue) is not None:
        pass
    elapsed = time.perf_counter() - start
    proxy.delete(queue)
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--messages', type=int, default=2000)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    processes, port = start()
    try:
        n, rounds, url = args.messages, args.rounds, f'pyro://127.0.0.1:{port}/kombu.broker'
        rows = [('publish', median(kombu_publish, url, n, rounds=rounds),
                 median(raw_publish, port, n, rounds=rounds)),
                ('consume', median(kombu_consume, url, n, rounds=rounds),
                 median(raw_consume, port, n, rounds=rounds))]
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
    print_table(f'pyro:// on a private broker, {n} messages, median of {rounds} rounds '
                '(msg/s)', 'raw Pyro5', rows)


if __name__ == '__main__':
    main()
