"""The conformance suite over gcpubsub:// against the Cloud SDK's Pub/Sub emulator.

Its classes are ConformanceSuite subclasses, through ``FanoutAcrossConnections``.

``.ci/servers.d/gcpubsub.sh`` starts the emulator the machine image ships on a free port
and exports ``PUBSUB_EMULATOR_HOST`` (e.g. ``127.0.0.1:8085``), which the Google client
reads itself.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from kombu import Connection, Consumer, Queue
from t.integration.conformance.fanout import FanoutAcrossConnections
from t.integration.env_servers import unavailable
from t.servers import port_open

pytest.importorskip('google.cloud.pubsub_v1')

HOW_TO = ('start the Pub/Sub emulator with `bash .ci/servers.d/gcpubsub.sh` (the image '
          'ships google-cloud-cli-pubsub-emulator) and set PUBSUB_EMULATOR_HOST to what it '
          'prints')


@pytest.fixture(scope='module')
def emulator() -> str:
    host = os.environ.get('PUBSUB_EMULATOR_HOST', '')
    name, _, port = host.rpartition(':')
    if not host or not port.isdigit() or not port_open(name or '127.0.0.1', int(port)):
        unavailable(f'no Pub/Sub emulator at PUBSUB_EMULATOR_HOST={host!r}; {HOW_TO}')
    return host


class TestPubSubConformance(FanoutAcrossConnections):
    url = 'gcpubsub://projects/kombu-conformance'
    transport_options = {'polling_interval': 0.02}

    # Pub/Sub has no priorities, no queue-length limit and no queue expiry of its own
    # (subscription expiry is at least a day).
    supports_priority = False
    supports_max_length = False
    supports_queue_expires = False
    # Headers exchanges route in the client, but only direct/topic/fanout are declared.
    supports_headers_exchange = False
    # A message given back (ack deadline 0) may come before or after the others.
    requeues_to_tail = True

    @pytest.fixture(autouse=True)
    def _emulator(self, emulator: str) -> None:
        pass

    def store_raw(self, conn: Connection, queue: Queue, entry: Any) -> None:
        channel = conn.default_channel
        data = entry if isinstance(entry, str) else json.dumps(entry)
        channel.publisher.publish(channel._topic(queue.name), data.encode()).result()

    def test_held_message_outlives_its_ack_deadline(self) -> None:
        # Deadline 10 s (Pub/Sub's least); held 13 s: the extender keeps it from a second
        # consumer, and the ack still counts.
        options = dict(self.transport_options, ack_deadline_seconds=10)
        holder = Connection(self.url, transport_options=options)
        other = Connection(self.url, transport_options=options)
        self._connections += [holder, other]
        queue = self.queue()
        self.declare(holder, queue)
        self.publish(holder, ['slow'], routing_key=queue.routing_key)
        got: list[Any] = []
        with Consumer(holder, [queue], callbacks=[lambda b, m: got.append(m)]):
            self.drain(holder, lambda: len(got) == 1)
            end = time.monotonic() + 13
            while time.monotonic() < end:
                assert queue.bind(other.default_channel).get() is None
                time.sleep(0.5)
            got[0].ack()
        time.sleep(0.5)
        assert self.get_all(other, queue) == []
