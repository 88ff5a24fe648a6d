"""Fanout exchanges of the Kafka transport: a topic per exchange, read by each bound queue's group.

A queue's consumer group (named after the queue) reads the queue's topic and the topic of every
fanout exchange the queue is bound to, so each bound queue gets every message published to the
exchange and the queue's consumers share them as they share the queue.  The binding itself lives
in the cluster: binding a queue commits its group's offset at the end of the exchange's topic
(``_start_at_end``), so the queue gets what is published from then on, from any process, also
while none of its consumers runs.

The channel provides the Kafka calls: ``_has_topic``, ``_create_topic``, ``_delete_topic``,
``_start_at_end``, ``_resubscribe`` and ``_produce``.
"""
from __future__ import annotations

from typing import Any, Mapping

__all__ = ('FanoutTopicsMixin',)


class FanoutTopicsMixin:
    """Routing of fanout exchanges to topics, for the Kafka channel (before ``virtual.Channel``)."""

    # The bindings live in the cluster (the groups' offsets), so the virtual base calls
    # _queue_bind/_queue_unbind and hands fanout publishes to _put_fanout.
    supports_fanout = True

    state: Any
    typeof: Any
    sanitize_queue_name: Any
    _has_topic: Any
    _create_topic: Any
    _delete_topic: Any
    _start_at_end: Any
    _resubscribe: Any
    _produce: Any

    def fanout_topic(self, exchange: str) -> str:
        """The topic of a fanout exchange (prefixed: not the topic of a queue of its name)."""
        return self.sanitize_queue_name(f'fanout.{exchange}')

    def _topics(self, queue: str) -> list[str]:
        """What the group of ``queue`` reads: its topic, then its fanout exchanges'."""
        state = self.state
        fanout = {self.fanout_topic(b.exchange) for b in state.queue_bindings(queue)
                  if b.exchange in state.exchanges
                  and self.typeof(b.exchange).type == 'fanout'}
        return [self.sanitize_queue_name(queue), *sorted(fanout)]

    def exchange_declare(self, exchange: str | None = None, type: str = 'direct',
                         durable: bool = False, auto_delete: bool = False,
                         arguments: Mapping[str, Any] | None = None,
                         nowait: bool = False, passive: bool = False) -> None:
        super().exchange_declare(  # type: ignore[misc]
            exchange, type, durable, auto_delete, arguments, nowait, passive)
        name = exchange or f'amq.{type or "direct"}'
        if not passive and type == 'fanout':
            # Now, so a publish before any binding has a topic to go to.
            topic = self.fanout_topic(name)
            if not self._has_topic(topic, name):
                self._create_topic(topic, name)

    def exchange_delete(self, exchange: str, if_unused: bool = False,
                        nowait: bool = False) -> None:
        fanout = exchange in self.state.exchanges and self.typeof(exchange).type == 'fanout'
        super().exchange_delete(  # type: ignore[misc]
            exchange, if_unused=if_unused, nowait=nowait)
        if fanout and exchange not in self.state.exchanges:
            self._delete_topic(self.fanout_topic(exchange), exchange)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        if self.typeof(exchange).type != 'fanout':
            return   # direct and topic exchanges route in the client
        topic = self.fanout_topic(exchange)
        if not self._has_topic(topic, exchange):
            self._create_topic(topic, exchange)
        self._start_at_end(queue, topic)
        self._resubscribe(queue)

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        if self.typeof(exchange).type == 'fanout':
            self._resubscribe(queue)

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str,
                    **kwargs: Any) -> None:
        # To the exchange's topic: the group of every bound queue reads it, in whichever
        # process the queue was bound.
        self._produce(self.fanout_topic(exchange), message, exchange)
