"""The transport conformance suite on RabbitMQ (amqp://, the py-amqp transport).

RabbitMQ implements every optional feature natively, so no capability is
declared absent.
"""
from __future__ import annotations

import pytest

from t.integration.conformance.suite import ConformanceSuite
from t.servers import require_server

pytestmark = pytest.mark.integration


class TestAMQPConformance(ConformanceSuite):
    url = 'amqp://guest:guest@127.0.0.1:5672//'

    def ensure_server(self) -> None:
        require_server('RabbitMQ', '127.0.0.1', 5672, 'bash .ci/start-servers')
