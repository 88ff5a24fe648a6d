"""Consuming on the event loop (a Celery worker's :class:`~kombu.asynchronous.Hub`).

With a hub, ``basic_consume`` starts one polling loop per queue: a
ReceiveMessage (long polling, up to the prefetch limit) sent through
:class:`~kombu.asynchronous.aws.sqs.connection.AsyncSQSConnection`, whose answer
is delivered on the hub; the next poll follows at once after messages, or
``polling_interval`` seconds after an empty answer (the option is honoured here
as on the blocking path).  The hub never blocks on SQS: requests run in the
HTTP client's threads.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Sequence

from vine import promise

from kombu.asynchronous.aws.sqs.connection import AsyncSQSConnection
from kombu.asynchronous.http import get_client
from kombu.transport.virtual.ttl import EXPIRES_AT

from .errors import errors
from .exceptions import DoesNotExistQueueException

if TYPE_CHECKING:
    from .channel import Channel

__all__ = ('HubConsumer',)

logger = logging.getLogger('kombu.transport.SQS')

#: seconds before polling a queue again after a failed receive.
ERROR_RETRY_INTERVAL = 1.0

#: most queues of one channel that long-poll at the same time on the hub.
MAX_LONG_POLLS = 8


class HubConsumer:
    """The event-loop half of :class:`~kombu.transport.SQS.Channel`."""

    hub: Any = None
    _asynsqs: AsyncSQSConnection | None = None

    def asynsqs(self: Channel, queue: str | None = None) -> AsyncSQSConnection:  # type: ignore[misc]
        """The asynchronous client for ``queue`` (its predefined credentials, if any)."""
        cache = self.connection._predefined_queue_async_clients
        key = queue if queue is not None and self.predefined_queues else ''
        client = cache.get(key)
        if client is None:
            attrs = self.get_message_attributes
            client = cache[key] = AsyncSQSConnection(
                sqs_connection=self.sqs(queue if key else None), region=self.region,
                message_system_attribute_names=attrs['MessageSystemAttributeNames'],
                message_attribute_names=attrs['MessageAttributeNames'],
                http_client=get_client(self.hub))
        return client

    def _schedule_queue(self: Channel, queue: str) -> None:  # type: ignore[misc]
        """Start one poll of ``queue`` unless one is in flight or it is not consumed."""
        if self.closed or queue not in self._active_queues or queue in self._hub_polls:
            return
        if not self.qos.can_consume():
            return self._loop1(queue, 0)
        self._hub_polls.add(queue)
        try:
            self._flush_deletes()
            steps = tuple(reversed(self._steps(queue)))   # highest first
            self._receive_async(queue, steps, len(steps) == 1)
        except Exception as exc:
            self._on_hub_error(queue, exc)

    def _receive_async(self: Channel, queue: str, steps: Sequence[int],  # type: ignore[misc]
                       long_poll: bool) -> None:
        step = steps[0]
        url = self._queue_url(queue, step, create=True)
        # Each queue's poll runs in its own HTTP client thread, so several queues can
        # long-poll at once (up to the client's threads; beyond, short polls).
        wait = self.wait_time_seconds if long_poll and \
            len(self._active_queues) <= MAX_LONG_POLLS else 0
        self.asynsqs(queue).receive_message(
            queue, url, number_messages=self._fetch_count(), wait_time_seconds=wait,
            callback=promise(self._on_hub_messages, (queue, url, steps),
                             on_error=promise(self._on_hub_error, (queue,))))

    def _on_hub_messages(self: Channel, queue: str, url: str,  # type: ignore[misc]
                         steps: Sequence[int], answer: Any) -> None:
        messages = (answer or {}).get('Messages') or []
        if not messages and len(steps) > 1 and not self.closed:
            return self._receive_async(queue, steps[1:], False)
        self._hub_polls.discard(queue)
        delivered = 0
        for message in messages:
            raw = self._to_envelope(message, url)
            if self._deliver_on_hub(queue, raw):
                delivered += 1
        self._loop1(queue, len(messages))
        return None

    def _deliver_on_hub(self: Channel, queue: str, raw: dict[str, Any]) -> bool:  # type: ignore[misc]
        callback = None if self.closed else self.connection._callbacks.get(queue)
        if callback is None:  # cancelled or closed meanwhile: give it back at once
            self._change_visibility([raw], 0)
            return False
        if queue in self.connection._noack_queues:
            self._delete_received(raw, now=True)
        if EXPIRES_AT in raw['properties'] and self._expired(queue, raw):
            return False
        callback(raw)
        return True

    def _on_hub_error(self: Channel, queue: str, *args: Any) -> None:  # type: ignore[misc]
        # vine passes the failed promise's own arguments first, the exception last.
        exc = args[-1]
        self._hub_polls.discard(queue)
        if self.closed:
            return
        translated = errors.translate(exc, 'receive_message', queue) or exc
        if isinstance(translated, DoesNotExistQueueException) and not self.predefined_queues:
            # gone since we cached its URL: the next poll creates it again
            prefix = self.canonical_queue_name(queue)
            for name in [n for n in self.connection._queue_cache if n.startswith(prefix)]:
                self.connection._queue_cache.pop(name, None)
        logger.warning('sqs: receiving from %r failed (retrying): %s', queue, translated)
        if self.hub is not None:
            interval = max(self.connection.polling_interval or 0, ERROR_RETRY_INTERVAL)
            self.hub.call_later(interval, self._schedule_queue, queue)

    def _loop1(self: Channel, queue: str, messages_fetched: int = 0) -> None:  # type: ignore[misc]
        """Schedule the next poll: at once after messages, else after polling_interval."""
        if self.hub is None or self.closed:
            return
        interval = self.connection.polling_interval
        if messages_fetched or not interval:
            self.hub.call_soon(self._schedule_queue, queue)
        else:
            self.hub.call_later(interval, self._schedule_queue, queue)
