"""Fixtures shared by the integration tests (the shared Redis database of this session)."""
from __future__ import annotations

import pytest
import redis

from t.integration.redis.servers import SHARED_HOST, SHARED_PORT, claim_db
from t.servers import require_server


@pytest.fixture(scope='session')
def redis_db():
    """A database of the shared Redis locked for this test session, emptied."""
    require_server('Redis', SHARED_HOST, SHARED_PORT,
                   'redis-server --bind 127.0.0.1 --port 6379 --save ""')
    db, lock = claim_db()
    client = redis.Redis(host=SHARED_HOST, port=SHARED_PORT, db=db)
    client.flushdb()
    yield db
    client.flushdb()
    lock.close()


@pytest.fixture
def redis_url(redis_db):
    # the database is ours for the session: start each test from empty
    redis.Redis(host=SHARED_HOST, port=SHARED_PORT, db=redis_db).flushdb()
    return f'redis://{SHARED_HOST}:{SHARED_PORT}/{redis_db}'


@pytest.fixture
def rclient(redis_db):
    client = redis.Redis(host=SHARED_HOST, port=SHARED_PORT, db=redis_db)
    yield client
    client.close()
