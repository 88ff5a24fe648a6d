"""The conformance suite over azurestoragequeues:// on a private Azurite (the Azure
Storage emulator from npm: ``npm install azurite``; set ``AZURITE_QUEUE_BIN`` or put
``node_modules/.bin`` on PATH)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from typing import Any, Iterator

import pytest

from kombu import Consumer
from kombu.exceptions import LimitExceeded
from t.integration.conformance import ConformanceSuite
from t.servers import IN_CI, free_port, port_open

pytest.importorskip('azure.storage.queue')

# Azurite's well-known development account key (public, emulator only).
AZURITE_KEY = ('Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/'
               'K1SZFPTOtr/KBHBeksoGMGw==')


def azurite_bin() -> str | None:
    return (os.environ.get('AZURITE_QUEUE_BIN') or shutil.which('azurite-queue')
            or next((p for p in ['node_modules/.bin/azurite-queue'] if os.path.exists(p)), None))


@pytest.fixture(scope='module')
def azurite() -> Iterator[str]:
    exe = azurite_bin()
    if exe is None:
        message = 'azurite-queue not found (npm install azurite; .ci/start-servers does)'
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    port = free_port()
    data = tempfile.mkdtemp(prefix='azurite-')
    proc = subprocess.Popen(
        [exe, '--queueHost', '127.0.0.1', '--queuePort', str(port), '--location', data,
         '--skipApiVersionCheck', '--loose', '--disableTelemetry', '--silent'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not port_open('127.0.0.1', port, 0.2):
            assert proc.poll() is None and time.monotonic() < deadline, 'azurite did not start'
            time.sleep(0.1)
        yield f'azurestoragequeues://{AZURITE_KEY}@http://127.0.0.1:{port}/devstoreaccount1'
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(data, ignore_errors=True)


class TestAzureStorageQueuesConformance(ConformanceSuite):
    transport_options = {'polling_interval': 0.05}

    @pytest.fixture(autouse=True)
    def _url(self, azurite: str) -> Any:
        self.url = azurite
    # Azure Storage Queues have no priorities.
    supports_priority = False

    # Azure cannot put a message back at the head of a queue (and promises no order at all),
    # so a requeued or restored message comes back at the tail: same checks, any order.
    def test_requeue_redelivers(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        self.publish(conn, ['a', 'b'], routing_key=queue.routing_key)
        bound = queue.bind(conn.default_channel)
        message = self._get_one(bound)
        assert message.payload == 'a'
        message.requeue()
        rest = self.get_eventually(conn, queue, 2)
        assert sorted(rest) == ['a', 'b']
        assert self.get_all(conn, queue) == []

    def test_unacked_restored_when_channel_closes(self) -> None:
        queue = self.queue()
        producer_conn = self.connection()
        self.declare(producer_conn, queue)
        self.publish(producer_conn, ['a', 'b', 'c', 'd'], routing_key=queue.routing_key)
        conn = self.connection()
        channel = conn.channel()
        got: list[Any] = []
        consumer = Consumer(channel, [queue], callbacks=[lambda b, m: got.append(m)],
                            prefetch_count=3)
        consumer.consume()
        self.drain(conn, lambda: len(got) == 3)
        got[1].ack()
        channel.close()
        assert sorted(self.get_eventually(self.connection(), queue, 3)) == ['a', 'c', 'd']

    # Azure limits a message to 64 KiB (the suite sends 1 MiB): the largest that fits, in
    # order with many small ones; a bigger one is refused with a typed error, nothing sent.
    def test_large_message_and_fifo_order(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        big = 'x' * (40 * 1024)     # base64 in the envelope: about 54 KiB
        self.publish(conn, [big], routing_key=queue.routing_key)
        self.publish(conn, list(range(100)), routing_key=queue.routing_key)
        with pytest.raises(LimitExceeded):
            self.publish(conn, ['x' * (1024 * 1024)], routing_key=queue.routing_key)
        got = self.get_eventually(conn, queue, 101)
        assert got[0] == big
        assert got[1:] == list(range(100))
        assert self.get_all(conn, queue) == []
