"""OpenTelemetry tracing and metrics for publish and delivery (``kombu[opentelemetry]``).

Off until :func:`instrument` is called (every connection) or a connection is
made with the transport option ``opentelemetry=True`` (that connection only,
sync or :mod:`kombu.asyncio`, also as ``?opentelemetry=true`` in its URL).
Either registers callbacks on :data:`kombu.message.hooks`, which Kombu checks
with one truthiness test per message, so a process that does neither pays
nothing else.  Once on:

* every publish gets a ``PRODUCER`` span ``"<destination> publish"`` and its
  W3C trace context (``traceparent``/``tracestate``) goes into the message
  headers, so any consumer -- sync, asyncio, any transport, another process --
  continues the trace;
* every delivery gets a ``CONSUMER`` span ``"<destination> process"``, a child
  of the publish span found in the headers, ended when the message is acked
  or rejected;
* attributes follow OpenTelemetry's messaging semantic conventions
  (``messaging.system``, ``messaging.destination.name``,
  ``messaging.operation.type``/``.name``, ``messaging.message.id``,
  ``messaging.message.body.size``, ``messaging.rabbitmq.destination.routing_key``);
* metrics: ``messaging.client.sent.messages`` and
  ``messaging.client.consumed.messages`` counters, the
  ``messaging.client.operation.duration`` histogram of publishes and the
  ``messaging.process.duration`` histogram from delivery to ack/reject.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Optional

from kombu.message import hooks

__all__ = ('instrument', 'uninstrument', 'is_instrumented', 'deferred_publish',
           'OPTION', 'enable_for_connection')

#: Kombu transport names -> the semantic conventions' ``messaging.system`` values.
SYSTEMS = {'amqp': 'rabbitmq', 'sqs': 'aws_sqs', 'azureservicebus': 'servicebus',
           'azurestoragequeues': 'azure_storage_queues'}
#: The transport option that turns tracing on for one connection.
OPTION = 'opentelemetry'
#: Publishes in flight per headers dict; a publish that raised never reaches
#: after_publish, so the oldest entries are ended once there are this many.
MAX_IN_FLIGHT = 10000

_state: _Instrumentation | None = None
#: Publish spans whose end a caller took over (see deferred_publish).
_held: ContextVar[Optional[list]] = ContextVar('kombu_otel_held', default=None)


def instrument(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Trace and measure every publish and delivery from now on (idempotent).

    The providers default to OpenTelemetry's global ones; they are fixed by
    the first call (or the first connection with the option).
    """
    _start(tracer_provider, meter_provider).everything = True


def enable_for_connection(option: Any) -> None:
    """Called by :class:`kombu.Connection` for a true ``opentelemetry`` option.

    ``option`` is ``True`` (OpenTelemetry's global providers) or a mapping
    with ``tracer_provider`` and/or ``meter_provider``.  Only connections
    with the option are traced, unless :func:`instrument` was called.
    Without the OpenTelemetry API installed this warns and stays off.
    """
    providers = option if isinstance(option, Mapping) else {}
    try:
        _start(providers.get('tracer_provider'), providers.get('meter_provider'))
    except ImportError as exc:
        warnings.warn(f'transport option {OPTION!r} ignored: {exc} '
                      f'(pip install kombu[opentelemetry])', RuntimeWarning, stacklevel=3)


def _start(tracer_provider: Any, meter_provider: Any) -> _Instrumentation:
    global _state
    if _state is None:
        state = _Instrumentation(tracer_provider, meter_provider)
        state.register()
        _state = state
    return _state


def uninstrument() -> None:
    """Stop tracing everywhere (connections with the option too, until the next
    such connection is made); Kombu's per-message cost goes back to nothing."""
    global _state
    if _state is not None:
        _state.unregister()
        _state = None


def is_instrumented() -> bool:
    """True when every connection is traced (:func:`instrument`)."""
    return _state is not None and _state.everything


class deferred_publish:
    """Keep the publish spans opened inside this block open until :meth:`finish`.

    For publishers whose I/O happens after ``Producer.publish`` returned
    (:mod:`kombu.asyncio`'s native drivers): the span then covers the broker
    round trip, and a failure marks it as an error.
    """

    def __init__(self) -> None:
        self.entries: list = []
        self._token: Any = None

    def __enter__(self) -> deferred_publish:
        self._token = _held.set(self.entries)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        _held.reset(self._token)
        if exc is not None:
            self.finish(exc)

    def finish(self, exc: BaseException | None = None) -> None:
        entries, self.entries = self.entries, []
        if _state is not None:
            for entry in entries:
                _state.end_publish(entry, exc)


def body_size(body: Any, encoding: str | None = None) -> int | None:
    """``messaging.message.body.size``: the bytes the body takes on the wire.

    A str body (a serializer's text output) goes out encoded, utf-8 unless
    the message says otherwise: its length in characters is not its size.
    """
    if isinstance(body, (bytes, bytearray)):
        return len(body)
    if isinstance(body, memoryview):
        return body.nbytes
    if isinstance(body, str):
        if body.isascii():  # the common case, without encoding a copy
            return len(body)
        if not encoding or encoding == 'binary':
            encoding = 'utf-8'
        try:
            return len(body.encode(encoding, 'surrogateescape'))
        except (LookupError, UnicodeError):
            return len(body.encode('utf-8', 'surrogatepass'))
    return None


def _client_of(obj: Any) -> Any:
    """The :class:`kombu.Connection` behind a producer or consumer (sync or asyncio)."""
    channel = obj.channel
    try:
        return channel.connection.client
    except AttributeError:
        pass
    try:  # a kombu.asyncio channel: the sync channel inside
        return channel.channel.connection.client
    except AttributeError:
        return None


def _system_of(client: Any) -> str:
    try:
        name = client.transport.driver_type
    except AttributeError:
        return 'kombu'
    return SYSTEMS.get(name, name)


class _Instrumentation:
    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        from opentelemetry import metrics, trace
        from opentelemetry.propagate import extract, inject
        from opentelemetry.trace import SpanKind, StatusCode

        self._trace = trace
        self._inject, self._extract = inject, extract
        self._kinds, self._status = SpanKind, StatusCode
        self.tracer = trace.get_tracer('kombu', tracer_provider=tracer_provider)
        meter = metrics.get_meter('kombu', meter_provider=meter_provider)
        self.sent = meter.create_counter(
            'messaging.client.sent.messages', unit='{message}',
            description='Messages published')
        self.consumed = meter.create_counter(
            'messaging.client.consumed.messages', unit='{message}',
            description='Messages delivered to a consumer')
        self.publish_duration = meter.create_histogram(
            'messaging.client.operation.duration', unit='s',
            description='Time to publish a message')
        self.process_duration = meter.create_histogram(
            'messaging.process.duration', unit='s',
            description='Time from delivery to ack or reject')
        self._publishing: dict[int, tuple[Any, float, dict[str, Any]]] = {}
        #: False: only connections with the transport option are traced
        self.everything = False

    def traces(self, client: Any) -> bool:
        if self.everything:
            return True
        try:
            return bool(client.transport_options.get(OPTION))
        except AttributeError:  # no connection (None), or no options
            return False

    def register(self) -> None:
        # each hook event is handled by the method of the same name
        for event in hooks.EVENTS:
            hooks.register(event, getattr(self, event))

    def unregister(self) -> None:
        for event in hooks.EVENTS:
            hooks.unregister(event, getattr(self, event))
        for span, _, _ in self._publishing.values():
            span.end()
        self._publishing.clear()

    # -- publish ------------------------------------------------------------------

    def before_publish(self, producer: Any, headers: dict[str, Any], properties: dict,
                       exchange: str, routing_key: str) -> None:
        client = _client_of(producer)
        if not self.traces(client):
            return
        destination = exchange or routing_key or '(default)'
        attributes: dict[str, Any] = {
            'messaging.system': _system_of(client),
            'messaging.destination.name': destination,
            'messaging.operation.type': 'send',
            'messaging.operation.name': 'publish',
        }
        if routing_key:
            attributes['messaging.rabbitmq.destination.routing_key'] = routing_key
        message_id = properties.get('message_id') or headers.get('id')
        if message_id:
            attributes['messaging.message.id'] = str(message_id)
        span = self.tracer.start_span(f'{destination} publish', kind=self._kinds.PRODUCER,
                                      attributes=attributes)
        self._inject(headers, context=self._trace.set_span_in_context(span))
        if len(self._publishing) >= MAX_IN_FLIGHT:
            self._abandon_oldest()
        self._publishing[id(headers)] = (span, time.perf_counter(), attributes)

    def after_publish(self, producer: Any, headers: dict[str, Any], properties: dict,
                      exchange: str, routing_key: str, body: Any = None) -> None:
        entry = self._publishing.pop(id(headers), None)
        if entry is None:
            return
        size = body_size(body)
        if size is not None:
            entry[0].set_attribute('messaging.message.body.size', size)
        held = _held.get()
        if held is not None:  # the caller ends it after its own I/O
            held.append(entry)
            return
        self.end_publish(entry)

    def end_publish(self, entry: tuple[Any, float, dict[str, Any]],
                    exc: BaseException | None = None) -> None:
        span, started, attributes = entry
        metric_attrs = _metric_attributes(attributes)
        if exc is not None:
            span.record_exception(exc)
            span.set_status(self._status.ERROR, f'{type(exc).__name__}: {exc}')
            metric_attrs['error.type'] = type(exc).__name__
        else:
            self.sent.add(1, metric_attrs)
        span.end()
        self.publish_duration.record(time.perf_counter() - started, metric_attrs)

    def _abandon_oldest(self) -> None:
        for key in list(self._publishing)[:MAX_IN_FLIGHT // 10]:
            span = self._publishing.pop(key)[0]
            span.set_status(self._status.ERROR, 'publish did not complete')
            span.end()

    # -- delivery -----------------------------------------------------------------

    def on_message(self, consumer: Any, message: Any) -> None:
        client = _client_of(consumer)
        if not self.traces(client):
            return
        info = message.delivery_info or {}
        destination = info.get('exchange') or info.get('routing_key') or '(default)'
        attributes: dict[str, Any] = {
            'messaging.system': _system_of(client),
            'messaging.destination.name': destination,
            'messaging.operation.type': 'process',
            'messaging.operation.name': 'process',
        }
        if info.get('routing_key'):
            attributes['messaging.rabbitmq.destination.routing_key'] = info['routing_key']
        headers = message.headers or {}
        properties = message.properties or {}
        message_id = properties.get('message_id') or headers.get('id')
        if message_id:
            attributes['messaging.message.id'] = str(message_id)
        size = body_size(message.body, message.content_encoding)
        if size is not None:
            attributes['messaging.message.body.size'] = size
        parent = self._extract(headers)
        span = self.tracer.start_span(f'{destination} process', context=parent,
                                      kind=self._kinds.CONSUMER, attributes=attributes)
        metric_attrs = _metric_attributes(attributes)
        self.consumed.add(1, metric_attrs)
        message.__dict__['_otel'] = (span, time.perf_counter(), metric_attrs)
        if getattr(consumer, 'no_ack', False):
            self._settle(message, 'no_ack')

    def on_ack(self, message: Any) -> None:
        self._settle(message, 'ack')

    def on_reject(self, message: Any, requeue: bool) -> None:
        self._settle(message, 'requeue' if requeue else 'reject')

    def _settle(self, message: Any, outcome: str) -> None:
        entry = message.__dict__.pop('_otel', None)
        if entry is None:
            return
        span, started, metric_attrs = entry
        span.set_attribute('kombu.settlement', outcome)
        span.end()
        self.process_duration.record(time.perf_counter() - started, metric_attrs)


def _metric_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    # low-cardinality attributes only: no message ids or sizes on metrics
    return {k: v for k, v in attributes.items()
            if k in ('messaging.system', 'messaging.destination.name',
                     'messaging.operation.name')}
