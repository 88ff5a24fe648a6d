"""``Producer.publish(retry=True, declare=[...])`` when the declaration itself
meets the broker restart: the declare's own retry reconnects, and the publish
that follows must go out on the revived channel (once), not the dead one."""
from __future__ import annotations

import threading
import time

import pytest

from kombu import Connection, Producer, Queue
from t.integration.redis.servers import RedisProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def private_redis():
    server = RedisProcess().start()
    yield server
    server.stop()


def test_retried_publish_uses_the_channel_its_declare_revived(private_redis, uname):
    warm, name = Queue(uname('warm')), Queue(uname('declared-late'))
    options = {'socket_timeout': 2, 'socket_connect_timeout': 1}
    with Connection(private_redis.url, transport_options=options) as conn:
        producer = Producer(conn)
        producer.publish('warm', routing_key=warm.name, declare=[warm])
        private_redis.kill()
        restarter = threading.Thread(
            target=lambda: (time.sleep(0.5), private_redis.start()), daemon=True)
        restarter.start()
        # ``name`` is not in the declaration cache: the first broker call of
        # this publish is its declare, which is the one that meets the outage.
        producer.publish('once', routing_key=name.name, declare=[name], retry=True,
                         retry_policy={'max_retries': 20, 'interval_start': 0.1,
                                       'interval_step': 0.2, 'interval_max': 0.5})
        restarter.join(10)
    with Connection(private_redis.url) as conn:
        queue = name(conn.default_channel)
        got = []
        while (message := queue.get(no_ack=True)) is not None:
            got.append(message.payload)
        assert got == ['once']
