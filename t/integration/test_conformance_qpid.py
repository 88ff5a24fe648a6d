"""The conformance suite over qpid:// on a fake of the qpid.messaging/qpidtoollibs client
surface (``t/fakes/qpid.py``): no qpidd broker and no Python 3 qpid.messaging can be
installed here, so this is not a test against a live broker."""
from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from kombu import Connection, Queue
from kombu.transport import qpid
from t.fakes import qpid as fake
from t.integration.conformance import ConformanceSuite


@pytest.fixture(scope='module', autouse=True)
def fake_qpid() -> Iterator[None]:
    # Module scope: the suite's teardown must still see the fake.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(qpid, 'qpid_messaging', fake.messaging)
        patch.setattr(qpid, 'qpidtoollibs', fake.qpidtoollibs)
        yield
    fake.reset()


class TestQpidConformance(ConformanceSuite):
    url = 'qpid://guest:guest@127.0.0.1:5672'

    def ensure_server(self) -> None:
        fake.reset()
        self.broker = fake.broker('127.0.0.1', 5672)

    def store_raw(self, conn: Connection, queue: Queue, entry: Any) -> None:
        # A qpid message whose content is not an envelope, as another client could send.
        channel = conn.default_channel
        channel._sender(channel._address(queue.name)).send(
            fake.messaging.Message(content=entry), sync=True)

    # qpidd has per-message TTL but no queue-level x-message-ttl: the flag covers both,
    # so the per-message half is proved below on its own.
    supports_ttl = False
    # qpidd routes rejected messages to an alternate exchange, without x-death headers
    # or a dead-letter routing key, and drops expired ones.
    supports_dead_lettering = False
    # qpidd deletes only auto-delete queues, after their last consumer: no x-expires.
    supports_queue_expires = False

    def test_per_message_expiration(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        self.publish(conn, ['short'], routing_key=queue.routing_key, expiration=0.1)
        self.publish(conn, ['keep'], routing_key=queue.routing_key)
        self.publish(conn, ['long'], routing_key=queue.routing_key, expiration=60)
        time.sleep(0.4)
        assert self.get_all(conn, queue) == ['keep', 'long']
