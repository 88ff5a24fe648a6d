"""The conformance suite over azureservicebus:// on the in-process fake of the SDK
(``t/fakes/servicebus.py``): no Service Bus namespace or emulator can run here, so
this proves the transport's logic against the SDK's client surface, not a live service."""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from kombu import Connection, Queue
from kombu.exceptions import LimitExceeded
from t.integration.conformance import ConformanceSuite

pytest.importorskip('azure.servicebus')

from kombu.transport import azureservicebus as asb
from t.fakes import servicebus as fake

URL = 'azureservicebus://RootManageSharedAccessKey:s3cr3t/key=@conformance'


@pytest.fixture(scope='module', autouse=True)
def fake_servicebus() -> Iterator[None]:
    # Module scope: the suite's own teardown (deleting what a test declared) must
    # still see the fake, never the real SDK (which would go to the network).
    with fake.patched(asb):
        yield


class TestAzureServiceBusConformance(ConformanceSuite):
    url = URL
    transport_options = {'wait_time_seconds': 0.2}

    def ensure_server(self) -> None:
        fake.reset()   # a fresh namespace per test
        self.namespace = fake.namespace('conformance.servicebus.windows.net')

    def store_raw(self, conn: Connection, queue: Queue, entry: Any) -> None:
        # Sent through the (fake) SDK, as another producer could.
        channel = conn.default_channel
        text = entry if isinstance(entry, str) else json.dumps(entry)
        channel._sender(channel._queue_entity(queue.name)).send_messages(
            asb.ServiceBusMessage(text))

    # A Service Bus message (standard tier) is at most 256 KiB and the suite sends
    # 1 MiB: the largest that fits, in order with many small ones; a bigger one is
    # refused with a typed error.
    def test_large_message_and_fifo_order(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        big = 'x' * (150 * 1024)     # base64 in the envelope: about 200 KiB
        self.publish(conn, [big], routing_key=queue.routing_key)
        self.publish(conn, list(range(500)), routing_key=queue.routing_key)
        with pytest.raises(LimitExceeded):
            self.publish(conn, ['x' * (1024 * 1024)], routing_key=queue.routing_key)
        got = self.get_eventually(conn, queue, 501)
        assert got[0] == big
        assert got[1:] == list(range(500))
        assert self.get_all(conn, queue) == []
