"""The kombu.otel fixture (an instrumented process with in-memory exporters), a
Redis database of the test's own, and a RabbitMQ user of the test module's
``vhost``."""
from __future__ import annotations

from typing import Iterator

import pytest

from t.integration.rabbitmq.broker import amqp_url, rabbitmqctl
from t.integration.redis.servers import claim_db
from t.servers import require_server, unique_name
from t.unit.otel.common import option_telemetry, telemetry  # noqa: F401


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The URL of a database claimed on the shared Redis, flushed after the test."""
    require_server('Redis', '127.0.0.1', 6379,
                   'redis-server --bind 127.0.0.1 --port 6379 --save ""')
    db, lock = claim_db()
    yield f'redis://127.0.0.1:6379/{db}'
    import redis
    redis.Redis(db=db).flushdb()
    lock.close()


@pytest.fixture
def private_user(vhost: str) -> Iterator[tuple[str, str]]:
    """A user of ``vhost`` whose password is 'first-password': (user, its URL)."""
    user, password = unique_name('aio-user'), 'first-password'
    rabbitmqctl('add_user', user, password)
    try:
        rabbitmqctl('set_permissions', '-p', vhost, user, '.*', '.*', '.*')
        yield user, amqp_url(vhost).replace('guest:guest@', f'{user}:{password}@')
    finally:
        rabbitmqctl('delete_user', user)
