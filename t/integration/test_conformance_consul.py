"""The conformance suite over consul:// against ``t/fakes/consul_server.py``.

No Consul server can be installed on the CI machines (no package in Debian,
PyPI or npm), so the transport is tested against a local HTTP stand-in for
the KV and session endpoints it uses, started per module on a free port.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from kombu import Connection
from kombu.exceptions import LimitExceeded
from t.fakes.consul_server import ConsulFake, running
from t.integration.conformance.claims import ClaimStoreCases, WakesOnPublishCases

pytest.importorskip('consul')


@pytest.fixture(scope='module')
def consul_fake() -> Iterator[tuple[str, ConsulFake]]:
    with running() as (port, store):
        yield f'consul://127.0.0.1:{port}', store


class TestConsulConformance(ClaimStoreCases, WakesOnPublishCases):
    transport_options = {'polling_interval': 0.02}
    race_total = 120
    # Consul session TTLs are 10 s at least.
    short_visibility = 10.0

    @pytest.fixture(autouse=True)
    def _url(self, consul_fake: tuple[str, ConsulFake]) -> Any:
        self.url, self.store = consul_fake

    def vanish(self, conn: Connection) -> None:
        # A clean close destroys the session (and with it the claims): a killed
        # process just stops renewing it.
        conn.default_channel.do_restore = False
        self._connections.append(conn)
        conn.transport.session_client = None  # the teardown close must not destroy it

    # Consul keeps values up to 512 KiB (the suite sends 1 MiB): the largest that fits, in
    # order with many small ones; a bigger one is refused with a typed error, nothing sent.
    def test_large_message_and_fifo_order(self) -> None:
        conn = self.connection()
        queue = self.queue()
        self.declare(conn, queue)
        big = 'x' * (300 * 1024)     # base64 in the envelope: about 400 KiB
        self.publish(conn, [big], routing_key=queue.routing_key)
        self.publish(conn, list(range(200)), routing_key=queue.routing_key)
        with pytest.raises(LimitExceeded):
            self.publish(conn, ['x' * (1024 * 1024)], routing_key=queue.routing_key)
        got = self.get_eventually(conn, queue, 201)
        assert got[0] == big
        assert got[1:] == list(range(200))
        assert self.get_all(conn, queue) == []

    def test_closing_destroys_the_session_and_its_claims(self) -> None:
        queue = self.queue()
        conn = self.connection()
        self.declare(conn, queue)
        self.publish(conn, ['a'], routing_key=queue.routing_key)
        other = Connection(self.url, transport_options=dict(self.transport_options))
        message = queue.bind(other.default_channel).get(no_ack=False)
        assert message is not None
        sid = other.transport.session_id
        assert sid in self.store.sessions
        other.release()  # restores 'a', then destroys the session
        assert sid not in self.store.sessions
        again = self._get_one(queue.bind(conn.default_channel))
        assert again.payload == 'a' and again.delivery_info['redelivered'] is True
        again.ack()
