"""confluentkafka://, gcpubsub:// and pgmq:// publish and consume msg/s, each next to its raw
client in the same run (Tansu at ``KAFKA_URL``, the Pub/Sub emulator at
``PUBSUB_EMULATOR_HOST``, PostgreSQL with PGMQ at ``PGMQ_URL``; ``.ci/start-servers``
exports them).  A broker whose variable is unset is left out.

Usage::

    python bench/bench_brokers_gkp.py [--messages 300] [--rounds 3]

publish: ``Producer.publish`` (each publish confirmed: flushed, ``result()``-ed, or committed)
vs the raw client doing the same per message.  consume: a ``Consumer`` draining and acking vs
the raw read + commit/ack/delete per message; timed from the first message, so that a Kafka
consumer group join is not counted on either side.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _kombu_runs import BODY, kombu_consume, kombu_publish

ENVELOPE = json.dumps({'body': json.dumps(BODY), 'properties': {}}).encode()
KAFKA_OPTIONS = {'kafka_consumer_config': {'session.timeout.ms': 6000}}


# -- raw clients ------------------------------------------------------------------

def kafka_raw(bootstrap: str, n: int) -> tuple[float, float]:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    topic = f'raw-{uuid.uuid4().hex[:8]}'
    admin = AdminClient({'bootstrap.servers': bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    producer = Producer({'bootstrap.servers': bootstrap})
    # Untimed: the first produce waits for the new topic's leader in the metadata, which
    # the Kombu side has found while declaring (its count starts at a known topic too).
    producer.produce(topic, ENVELOPE)
    producer.flush(5)
    start = time.perf_counter()
    for _ in range(n - 1):
        producer.produce(topic, ENVELOPE)
        producer.flush(5)
    publish = (n - 1) / (time.perf_counter() - start)
    consumer = Consumer({'bootstrap.servers': bootstrap, 'group.id': topic,
                         'auto.offset.reset': 'earliest', 'enable.auto.commit': False,
                         'session.timeout.ms': 6000})
    consumer.subscribe([topic])
    got, first = 0, 0.0
    while got < n:
        record = consumer.poll(1)
        if record is None or record.error():
            continue
        if not got:
            first = time.perf_counter()
        json.loads(record.value())
        consumer.commit(message=record, asynchronous=False)
        got += 1
    consume = (n - 1) / (time.perf_counter() - first)
    consumer.close()
    admin.delete_topics([topic])[topic].result()
    return publish, consume


def pubsub_raw(project: str, n: int) -> tuple[float, float]:
    from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
    pub, sub = PublisherClient(), SubscriberClient()
    name = f'raw-{uuid.uuid4().hex[:8]}'
    topic, subscription = pub.topic_path(project, name), sub.subscription_path(project, name)
    pub.create_topic(request={'name': topic})
    sub.create_subscription(request={'name': subscription, 'topic': topic})
    start = time.perf_counter()
    for _ in range(n):
        pub.publish(topic, ENVELOPE, routing_key=name).result()
    publish = n / (time.perf_counter() - start)
    got, first = 0, 0.0
    while got < n:
        response = sub.pull(request={'subscription': subscription, 'max_messages': 1,
                                     'return_immediately': True})
        for received in response.received_messages:
            if not got:
                first = time.perf_counter()
            json.loads(received.message.data)
            sub.acknowledge(request={'subscription': subscription,
                                     'ack_ids': [received.ack_id]})
            got += 1
    consume = (n - 1) / (time.perf_counter() - first)
    sub.delete_subscription(request={'subscription': subscription})
    pub.delete_topic(request={'topic': topic})
    return publish, consume


def pgmq_raw(url: str, n: int) -> tuple[float, float]:
    from urllib.parse import urlsplit

    from pgmq import PGMQueue
    parts = urlsplit(url)
    client = PGMQueue(host=parts.hostname or '127.0.0.1', port=str(parts.port or 5432),
                      database=parts.path.strip('/') or 'postgres',
                      username=parts.username or 'postgres', password=parts.password or '',
                      init_extension=False)
    name = f'raw_{uuid.uuid4().hex[:8]}'
    client.create_queue(name)
    message = json.loads(ENVELOPE)
    start = time.perf_counter()
    for _ in range(n):
        client.send(name, message)
    publish = n / (time.perf_counter() - start)
    got, first = 0, 0.0
    while got < n:
        result = client.read(name, vt=30, qty=1)   # one Message (or None) for qty=1
        for record in ([] if result is None else
                       result if isinstance(result, list) else [result]):
            if not got:
                first = time.perf_counter()
            client.delete(name, record.msg_id)
            got += 1
    consume = (n - 1) / (time.perf_counter() - first)
    client.drop_queue(name)
    client.pool.close()
    return publish, consume


def median(fun: Callable[[], Any], rounds: int) -> Any:
    results = [fun() for _ in range(rounds)]
    if isinstance(results[0], tuple):
        return tuple(statistics.median(r[i] for r in results) for i in range(len(results[0])))
    return statistics.median(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--messages', type=int, default=300)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    n, rounds = args.messages, args.rounds
    brokers: list[tuple[str, str, dict[str, Any], Callable[[], tuple[float, float]]]] = []
    if os.environ.get('KAFKA_URL'):
        url = os.environ['KAFKA_URL']
        brokers.append(('confluentkafka', url, KAFKA_OPTIONS,
                        lambda: kafka_raw(url.split('://', 1)[1], n)))
    if os.environ.get('PUBSUB_EMULATOR_HOST'):
        brokers.append(('gcpubsub', 'gcpubsub://projects/kombu-bench', {},
                        lambda: pubsub_raw('kombu-bench', n)))
    if os.environ.get('PGMQ_URL'):
        url_pg = os.environ['PGMQ_URL']
        brokers.append(('pgmq', url_pg, {'init_extension': False},
                        lambda: pgmq_raw(url_pg, n)))
    if not brokers:
        sys.exit('set KAFKA_URL, PUBSUB_EMULATOR_HOST or PGMQ_URL (.ci/start-servers)')
    print(f'{"transport":<16}{"workload":<10}{"kombu msg/s":>14}{"raw msg/s":>12}{"ratio":>8}')
    for name, url, options, raw in brokers:
        raw_publish, raw_consume = median(raw, rounds)
        ours_publish = statistics.median(kombu_publish(url, n, options) for _ in range(rounds))
        consume_options = dict(options, polling_interval=0)
        ours_consume = statistics.median(kombu_consume(url, n, consume_options, from_first=True)
                                         for _ in range(rounds))
        for workload, ours, theirs in (('publish', ours_publish, raw_publish),
                                       ('consume', ours_consume, raw_consume)):
            print(f'{name:<16}{workload:<10}{ours:>14.0f}{theirs:>12.0f}'
                  f'{ours / theirs:>8.2f}')


if __name__ == '__main__':
    main()
