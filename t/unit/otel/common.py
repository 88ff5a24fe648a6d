"""An instrumented kombu.otel with in-memory span and metric exporters."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from kombu import otel


class Telemetry:
    def __init__(self) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, kind: str) -> list[Any]:
        return [s for s in self.exporter.get_finished_spans() if s.kind.name == kind]

    def metric(self, name: str) -> float:
        """The sum of a counter, or the count of a histogram, over all attributes."""
        data = self.reader.get_metrics_data()
        total = 0.0
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            total += getattr(point, 'value', None) or point.count
        return total

    def assert_linked(self, n: int, destination: str, system: str | None = None,
                      message_ids: bool = False) -> None:
        """``n`` publish spans, ``n`` process spans, each a child of its publish span.

        ``message_ids``: each message was published with ``message_id='m<i>'``.
        """
        producers = {s.context.span_id: s for s in self.spans('PRODUCER')}
        consumers = self.spans('CONSUMER')
        assert len(producers) == n and len(consumers) == n
        for span in consumers:
            parent = producers[span.parent.span_id]
            assert span.context.trace_id == parent.context.trace_id
            assert span.attributes['messaging.destination.name'] == destination
            assert span.attributes['messaging.operation.type'] == 'process'
            assert span.attributes['messaging.message.body.size'] > 0
            assert span.attributes['kombu.settlement'] == 'ack'
            if message_ids:
                assert (span.attributes['messaging.message.id']
                        == parent.attributes['messaging.message.id'])
        for span in producers.values():
            assert span.attributes['messaging.destination.name'] == destination
            assert span.attributes['messaging.operation.type'] == 'send'
            assert span.attributes['messaging.message.body.size'] > 0
        if system is not None:
            assert {s.attributes['messaging.system']
                    for s in (*producers.values(), *consumers)} == {system}
        if message_ids:
            assert sorted(s.attributes['messaging.message.id'] for s in producers.values()) \
                == sorted(f'm{i}' for i in range(n))
        assert self.metric('messaging.client.sent.messages') == n
        assert self.metric('messaging.client.consumed.messages') == n
        assert self.metric('messaging.client.operation.duration') == n
        assert self.metric('messaging.process.duration') == n


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    pytest.importorskip('opentelemetry.sdk')
    t = Telemetry()
    otel.instrument(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    try:
        yield t
    finally:
        otel.uninstrument()


@pytest.fixture
def option_telemetry() -> Iterator[Telemetry]:
    """In-memory exporters for connections that enable tracing by transport option."""
    pytest.importorskip('opentelemetry.sdk')
    try:
        yield Telemetry()
    finally:
        otel.uninstrument()


def traced(telemetry: Telemetry, **options: Any) -> dict[str, Any]:
    """Transport options that turn tracing on, into ``telemetry``'s providers."""
    return dict(options, opentelemetry={'tracer_provider': telemetry.tracer_provider,
                                        'meter_provider': telemetry.meter_provider})
