"""The whole transport conformance suite through kombu.asyncio, awaited.

The classes are the sync suites of memory://, redis:// and amqp:// (the same
cases, capabilities and hooks) with ``api = AsyncAPI``: every call a case
makes awaits the asyncio API (see :mod:`t.integration.conformance.async_api`)
with native I/O (memory:// inline on the loop, redis.asyncio, aiormq); with
``api = AdapterAPI`` the same again through the thread-offloading adapter.
"""
from __future__ import annotations

import pytest

from t.integration import test_conformance_amqp as amqp
from t.integration import test_conformance_memory as memory
from t.integration import test_conformance_redis as redis
from t.integration.conformance.async_api import AdapterAPI, AsyncAPI
from t.integration.test_conformance_redis import claimed_db  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


class TestAsyncMemoryConformance(memory.TestMemoryConformance):
    api = AsyncAPI


class TestAsyncRedisConformance(redis.TestRedisConformance):
    api = AsyncAPI


class TestAsyncAMQPConformance(amqp.TestAMQPConformance):
    api = AsyncAPI


class TestAdapterMemoryConformance(memory.TestMemoryConformance):
    api = AdapterAPI


class TestAdapterRedisConformance(redis.TestRedisConformance):
    api = AdapterAPI


class TestAdapterAMQPConformance(amqp.TestAMQPConformance):
    api = AdapterAPI
