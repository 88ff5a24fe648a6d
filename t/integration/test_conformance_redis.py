"""The transport conformance suite on Redis (shared server) and Redis Sentinel
(a private master, replica and sentinel started on spare loopback ports)."""
from __future__ import annotations

import pytest

from t.integration.conformance.suite import ConformanceSuite
from t.integration.redis.servers import SentinelSetup, claim_db
from t.servers import require_server

pytestmark = pytest.mark.integration


class RedisCapabilities:
    # Messages go to one list per ``priority_steps`` step and, as in upstream
    # Kombu and Celery's documented Redis behaviour, priority 0 is consumed
    # first -- the reverse of AMQP, kept for compatibility with upstream
    # consumers sharing the same Redis.
    priority_order = 'lowest-first'
    # Fanout goes through Redis PUB/SUB: a copy exists only for subscribed
    # consumers, nothing waits in unconsumed queues (upstream Kombu's layout).
    supports_fanout_without_consumers = False


@pytest.fixture(scope='class')
def claimed_db():
    require_server('Redis', '127.0.0.1', 6379,
                   'redis-server --bind 127.0.0.1 --port 6379 --save ""')
    db, lock = claim_db()  # a database of our own on the shared Redis
    yield db
    import redis
    redis.Redis(db=db).flushdb()
    lock.close()


class TestRedisConformance(RedisCapabilities, ConformanceSuite):
    url = 'redis://127.0.0.1:6379/0'

    @pytest.fixture(autouse=True)
    def _db(self, claimed_db):
        type(self).url = f'redis://127.0.0.1:6379/{claimed_db}'

    def ensure_server(self) -> None:
        require_server('Redis', '127.0.0.1', 6379,
                       'redis-server --bind 127.0.0.1 --port 6379 --save ""')


@pytest.fixture(scope='class')
def sentinel_servers():
    setup = SentinelSetup().start()
    yield setup
    setup.stop()


@pytest.mark.slow
class TestRedisSentinelConformance(RedisCapabilities, ConformanceSuite):
    url = 'sentinel://127.0.0.1:26379'
    transport_options = {'master_name': 'mymaster'}

    @pytest.fixture(autouse=True)
    def _servers(self, sentinel_servers):
        type(self).url = sentinel_servers.url

    def ensure_server(self) -> None:
        pass
