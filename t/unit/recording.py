"""A channel that records the AMQP-level calls made on it (for entity unit tests).

It is a tiny broker too: published messages go to the queue named by the
routing key (direct routing through recorded bindings, or the default
exchange), so basic_get and consumers see them.
"""
from __future__ import annotations

from collections import defaultdict, deque
from itertools import count
from typing import Any

from kombu.message import Message
from kombu.transport.base import StdChannel, to_rabbitmq_queue_arguments


class RecordingClient:
    """Stands in for kombu.Connection: what channels reach via connection.client."""

    connection_errors = (ConnectionError,)
    channel_errors = ()

    def __init__(self) -> None:
        self.declared_entities: set = set()
        self.ensure_calls: list = []

    def ensure(self, obj, fun, **policy):
        self.ensure_calls.append((obj, fun, policy))

        def call(*args, **kwargs):
            return fun(*args, **kwargs)
        return call


class RecordingConnection:
    def __init__(self, client: RecordingClient) -> None:
        self.client = client


class RecordingChannel(StdChannel):
    _ids = count(1)

    def __init__(self, rabbitmq_arguments: bool = False, client: Any = None) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.channel_id = next(self._ids)
        self.connection = RecordingConnection(client or RecordingClient())
        self.queues: dict[str, deque] = defaultdict(deque)
        self.bindings: dict[tuple[str, str], set] = defaultdict(set)
        self.consumers: dict[str, tuple[str, Any, bool]] = {}
        self.events: dict[str, set] = defaultdict(set)
        self.no_ack_consumers: set = set()
        self.acked: list = []
        self.rejected: list = []
        self._tags = count(1)
        self._anon = count(1)
        self._rabbitmq_arguments = rabbitmq_arguments

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def _record(self, name: str, **kwargs: Any) -> None:
        self.calls.append((name, kwargs))

    def prepare_queue_arguments(self, arguments, **kwargs):
        if self._rabbitmq_arguments:
            return to_rabbitmq_queue_arguments(arguments, **kwargs)
        return arguments

    def exchange_declare(self, **kwargs):
        self._record('exchange_declare', **kwargs)

    def exchange_delete(self, **kwargs):
        self._record('exchange_delete', **kwargs)

    def exchange_bind(self, **kwargs):
        self._record('exchange_bind', **kwargs)

    def exchange_unbind(self, **kwargs):
        self._record('exchange_unbind', **kwargs)

    def queue_declare(self, queue='', **kwargs):
        self._record('queue_declare', queue=queue, **kwargs)
        name = queue or f'amq.gen-{next(self._anon)}'
        self.queues[name]
        return name, len(self.queues[name]), 0

    def queue_bind(self, queue, exchange, routing_key='', **kwargs):
        self._record('queue_bind', queue=queue, exchange=exchange,
                     routing_key=routing_key, **kwargs)
        self.bindings[(exchange, routing_key)].add(queue)

    def queue_unbind(self, queue, exchange, routing_key='', **kwargs):
        self._record('queue_unbind', queue=queue, exchange=exchange,
                     routing_key=routing_key, **kwargs)
        self.bindings[(exchange, routing_key)].discard(queue)

    def queue_purge(self, queue, **kwargs):
        self._record('queue_purge', queue=queue, **kwargs)
        size = len(self.queues[queue])
        self.queues[queue].clear()
        return size

    def queue_delete(self, queue, **kwargs):
        self._record('queue_delete', queue=queue, **kwargs)
        self.queues.pop(queue, None)

    def prepare_message(self, body, priority=None, content_type=None,
                        content_encoding=None, headers=None, properties=None):
        properties = dict(properties or {})
        if priority is not None:
            properties['priority'] = priority
        return {'body': body, 'content-type': content_type,
                'content-encoding': content_encoding, 'headers': headers or {},
                'properties': properties}

    def basic_publish(self, message, exchange='', routing_key='', **kwargs):
        self._record('basic_publish', message=message, exchange=exchange,
                     routing_key=routing_key, **kwargs)
        targets = ({routing_key} if not exchange
                   else self.bindings.get((exchange, routing_key), set()))
        for queue in targets:
            self.queues[queue].append((message, exchange, routing_key))
            self._dispatch(queue)

    def _dispatch(self, queue: str) -> None:
        for tag, (qname, callback, _no_ack) in list(self.consumers.items()):
            if qname == queue and self.queues[queue]:
                raw = self.queues[queue].popleft()
                callback(self._raw(raw, tag))

    def _raw(self, entry, consumer_tag=None):
        message, exchange, routing_key = entry
        return {'message': message, 'exchange': exchange, 'routing_key': routing_key,
                'consumer_tag': consumer_tag, 'delivery_tag': next(self._tags)}

    def basic_get(self, queue, no_ack=False, **kwargs):
        self._record('basic_get', queue=queue, no_ack=no_ack)
        if not self.queues.get(queue):
            return None
        return self._raw(self.queues[queue].popleft())

    def message_to_python(self, raw):
        message = raw['message']
        return Message(
            body=message['body'], delivery_tag=raw['delivery_tag'],
            content_type=message['content-type'],
            content_encoding=message['content-encoding'],
            headers=message['headers'], properties=message['properties'],
            delivery_info={'exchange': raw['exchange'], 'routing_key': raw['routing_key'],
                           'consumer_tag': raw['consumer_tag']},
            channel=self)

    def basic_consume(self, queue, no_ack=False, callback=None, consumer_tag='',
                      **kwargs):
        self._record('basic_consume', queue=queue, no_ack=no_ack,
                     consumer_tag=consumer_tag, **kwargs)
        self.consumers[consumer_tag] = (queue, callback, no_ack)
        if no_ack:
            self.no_ack_consumers.add(consumer_tag)
        self._dispatch(queue)
        return consumer_tag

    def basic_cancel(self, consumer_tag, **kwargs):
        self._record('basic_cancel', consumer_tag=consumer_tag)
        self.consumers.pop(consumer_tag, None)
        self.no_ack_consumers.discard(consumer_tag)

    def basic_ack(self, delivery_tag, multiple=False):
        self._record('basic_ack', delivery_tag=delivery_tag, multiple=multiple)
        self.acked.append(delivery_tag)

    def basic_reject(self, delivery_tag, requeue=False):
        self._record('basic_reject', delivery_tag=delivery_tag, requeue=requeue)
        self.rejected.append((delivery_tag, requeue))

    def basic_qos(self, prefetch_size=0, prefetch_count=0, apply_global=False):
        self._record('basic_qos', prefetch_size=prefetch_size,
                     prefetch_count=prefetch_count, apply_global=apply_global)

    def basic_recover(self, requeue=False):
        self._record('basic_recover', requeue=requeue)

    def flow(self, active):
        self._record('flow', active=active)

    def close(self):
        self._record('close')
