"""The whole transport conformance suite through kombu.asyncio, awaited.

The classes are the sync suites of memory://, redis:// and amqp:// (the same
cases, capabilities and hooks) with ``api = AsyncAPI``: every call a case
makes awaits the asyncio API (see :mod:`t.integration.conformance.async_api`).
"""
from __future__ import annotations

import pytest

from t.integration import test_conformance_amqp as amqp
from t.integration import test_conformance_memory as memory
from t.integration import test_conformance_redis as redis
from t.integration.conformance.async_api import AsyncAPI
from t.integration.test_conformance_redis import claimed_db  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


class TestAsyncMemoryConformance(memory.TestMemoryConformance):
    api = AsyncAPI


class TestAsyncRedisConformance(redis.TestRedisConformance):
    api = AsyncAPI


class TestAsyncAMQPConformance(amqp.TestAMQPConformance):
    api = AsyncAPI
