"""slmq:// publish and consume msg/s on the local HTTPS fake of the SoftLayer MQ API
(``t/fakes/slmq.py``; the service is discontinued), next to the raw
``softlayer_messaging`` client on the same fake.

Usage::

    python bench/bench_slmq.py [--messages 300] [--rounds 3]

publish: ``Producer.publish`` vs ``queue.push`` of an envelope of the same size.
consume: a ``Consumer`` draining and acking (pop + delete per message) vs raw
``queue.pop(1)`` + ``message.delete()``.  Each message costs HTTPS requests to a
Python server, so the columns compare client overhead over a fixed request cost.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _kombu_runs import BODY, kombu_consume, kombu_publish, median, print_table


def raw_client(service: Any) -> Any:
    from softlayer_messaging import get_client
    client = get_client(service.account, endpoint=f'https://127.0.0.1:{service.port}')
    client.authenticate(service.username, service.api_key)
    return client


def raw_publish(service: Any, n: int) -> float:
    client, name = raw_client(service), f'raw_{uuid.uuid4().hex[:8]}'
    client.create_queue(name)
    queue, body = client.queue(name), json.dumps({'body': json.dumps(BODY)})
    start = time.perf_counter()
    for _ in range(n):
        queue.push(body)
    elapsed = time.perf_counter() - start
    queue.delete(force=True)
    return n / elapsed


def raw_consume(service: Any, n: int) -> float:
    client, name = raw_client(service), f'raw_{uuid.uuid4().hex[:8]}'
    client.create_queue(name)
    queue, body = client.queue(name), json.dumps({'body': json.dumps(BODY)})
    for _ in range(n):
        queue.push(body)
    start = time.perf_counter()
    got = 0
    while got < n:
        for item in queue.pop(1)['items']:
            queue.message(item['id']).delete()
            got += 1
    elapsed = time.perf_counter() - start
    queue.delete(force=True)
    return n / elapsed


def main() -> None:
    from t.fakes.slmq import FakeSLMQ
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--messages', type=int, default=300)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    service = FakeSLMQ().start()
    os.environ['REQUESTS_CA_BUNDLE'] = service.certfile
    try:
        # SoftLayer queue names take no '-'
        n, rounds, url = args.messages, args.rounds, service.url
        rows = [('publish', median(kombu_publish, url, n, None, 'kombu_', rounds=rounds),
                 median(raw_publish, service, n, rounds=rounds)),
                ('consume', median(kombu_consume, url, n, {'polling_interval': 0}, 'kombu_',
                                   rounds=rounds),
                 median(raw_consume, service, n, rounds=rounds))]
    finally:
        service.stop()
    print_table(f'slmq:// on the local HTTPS fake, {n} messages, median of {rounds} rounds '
                '(msg/s)', 'raw client', rows)


if __name__ == '__main__':
    main()
