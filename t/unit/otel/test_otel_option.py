"""The ``opentelemetry`` transport option: tracing for that connection only,
sync and asyncio, on memory:// and filesystem:// (real brokers:
t/integration/asyncio/test_otel_option_brokers.py)."""
from __future__ import annotations

import sys
from typing import Any

import pytest

from kombu import Connection
from kombu.message import hooks
from kombu.otel import is_instrumented
from t.unit.asyncio.common import entities
from t.unit.otel.common import Telemetry, traced
from t.unit.otel.roundtrip import APIS, consume, publish

N = 6


@pytest.fixture(params=['memory', 'filesystem'])
def transport(request: Any, tmp_path: Any) -> tuple[str, dict[str, Any]]:
    if request.param == 'memory':
        return 'memory://', {}
    folder = str(tmp_path / 'data')
    return 'filesystem://', {'data_folder_in': folder, 'data_folder_out': folder,
                             'control_folder': str(tmp_path / 'control')}


@pytest.mark.parametrize('publisher', APIS)
@pytest.mark.parametrize('consumer', APIS)
def test_option_links_consumer_span_to_publish_span(
        transport: tuple[str, dict[str, Any]], publisher: str, consumer: str,
        option_telemetry: Telemetry) -> None:
    url, options = transport
    exchange, queue = entities()
    assert not any(getattr(hooks, e) for e in hooks.EVENTS)
    publish(publisher, url, traced(option_telemetry, **options), exchange, queue, N)
    assert not is_instrumented()  # only connections with the option are traced
    got = consume(consumer, url, traced(option_telemetry, **options), queue, N)
    assert sorted(got) == list(range(N))
    option_telemetry.assert_linked(N, exchange.name, system=url[:-3], message_ids=True)


def test_connections_without_the_option_stay_untraced(option_telemetry: Telemetry) -> None:
    exchange, queue = entities()
    publish('sync', 'memory://', traced(option_telemetry), exchange, queue, 2)
    publish('async', 'memory://', {}, exchange, queue, 3)  # not traced
    traced_headers = []
    with Connection('memory://') as conn:  # nor is this consumer
        with conn.Consumer([queue], callbacks=[lambda body, message: (
                traced_headers.append('traceparent' in message.headers), message.ack())]):
            while len(traced_headers) < 5:
                conn.drain_events(timeout=1)
    assert traced_headers == [True, True, False, False, False]
    assert len(option_telemetry.spans('PRODUCER')) == 2
    assert option_telemetry.spans('CONSUMER') == []
    assert option_telemetry.metric('messaging.client.sent.messages') == 2
    assert option_telemetry.metric('messaging.client.consumed.messages') == 0


def test_option_true_uses_the_global_providers(option_telemetry: Telemetry) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        pytest.skip('a global tracer provider is already set in this process')
    # the global provider can be set once per process: this test owns it
    trace.set_tracer_provider(option_telemetry.tracer_provider)
    assert isinstance(trace.get_tracer_provider(), TracerProvider)
    exchange, queue = entities()
    url = 'memory://?opentelemetry=true'  # the option in the URL works too
    publish('sync', url, {}, exchange, queue, 3)
    assert sorted(consume('sync', url, {}, queue, 3)) == [0, 1, 2]
    producers = option_telemetry.spans('PRODUCER')
    assert len(producers) == 3 and len(option_telemetry.spans('CONSUMER')) == 3


def test_option_without_opentelemetry_installed_warns_and_stays_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.split('.')[0] == 'opentelemetry']:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, 'opentelemetry', None)  # import fails
    with pytest.warns(RuntimeWarning, match='kombu\\[opentelemetry\\]'):
        conn = Connection('memory://', transport_options={'opentelemetry': True})
    assert not any(getattr(hooks, e) for e in hooks.EVENTS)
    exchange, queue = entities()
    conn.Producer().publish('x', exchange=exchange, routing_key=queue.routing_key,
                            declare=[queue])
    message = conn.SimpleQueue(queue).get(timeout=1)
    assert 'traceparent' not in message.headers
    message.ack()
    conn.release()
