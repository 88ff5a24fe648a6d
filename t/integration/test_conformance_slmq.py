"""The conformance suite over slmq:// with the real ``softlayer_messaging`` client against
a local HTTPS fake of the SoftLayer Message Queue REST API (``t/fakes/slmq.py``): the
service was discontinued in 2017, so this is not a test against the live service."""
from __future__ import annotations

import json
import shutil
from typing import Any, Iterator

import pytest

from kombu import Connection, Queue
from t.integration.conformance import ConformanceSuite

pytest.importorskip('softlayer_messaging')

from t.fakes.slmq import FakeSLMQ


@pytest.fixture(scope='module')
def fake_slmq() -> Iterator[FakeSLMQ]:
    if shutil.which('openssl') is None:
        pytest.skip('openssl is needed for the fake service certificate')
    service = FakeSLMQ().start()
    # The client always uses HTTPS (requests): trust the throw-away certificate.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('REQUESTS_CA_BUNDLE', service.certfile)
        yield service
    service.stop()


class TestSLMQConformance(ConformanceSuite):
    transport_options = {'polling_interval': 0.05}

    @pytest.fixture(autouse=True)
    def _url(self, fake_slmq: FakeSLMQ) -> None:
        self.url = fake_slmq.url

    def store_raw(self, conn: Connection, queue: Queue, entry: Any) -> None:
        # Pushed with the real client, as another producer could.
        channel = conn.default_channel
        entity = channel.entity_name(channel.queue_name_prefix + queue.name)
        channel._queue(entity).push(entry if isinstance(entry, str) else json.dumps(entry))

    # The API cannot make a hidden message visible again: a requeued or restored
    # message is pushed again, at the tail (same checks, any order).
    def test_requeue_redelivers(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        self.publish(conn, ['a', 'b'], routing_key=queue.routing_key)
        bound = queue.bind(conn.default_channel)
        message = self._get_one(bound)
        assert message.payload == 'a'
        message.requeue()
        got = [self._get_one(bound) for _ in range(2)]
        assert sorted(m.payload for m in got) == ['a', 'b']
        assert [m.delivery_info.get('redelivered') for m in got if m.payload == 'a'] == [True]
        for m in got:
            m.ack()
        assert self.get_all(conn, queue) == []

    def test_unacked_restored_when_channel_closes(self) -> None:
        from kombu import Consumer
        queue = self.queue()
        producer_conn = self.connection()
        self.declare(producer_conn, queue)
        self.publish(producer_conn, ['a', 'b', 'c', 'd'], routing_key=queue.routing_key)
        conn = self.connection()
        channel = conn.channel()
        got: list = []
        consumer = Consumer(channel, [queue], callbacks=[lambda b, m: got.append(m)],
                            prefetch_count=3)
        consumer.consume()
        self.drain(conn, lambda: len(got) == 3)
        got[1].ack()
        channel.close()
        assert sorted(self.get_eventually(self.connection(), queue, 3)) == ['a', 'c', 'd']
