"""The SQS channel: the virtual transport's storage hooks over SQS queues.

Receiving asks SQS for up to 10 messages at once (fewer under a prefetch
limit) and keeps them in a per-queue buffer; each ``drain_events`` call
delivers one.  A received message stays in SQS, invisible, until it is
acknowledged (deleted, in batches while consuming), requeued or given back
at close (visibility set to 0).
"""
from __future__ import annotations

import logging
import re
import threading
from collections import deque
from queue import Empty
from time import monotonic
from typing import Any, Callable, Iterable, Mapping

from kombu.asynchronous import get_event_loop
from kombu.transport import virtual
from kombu.utils.objects import cached_property

from . import envelope
from .client import boto3
from .errors import errors
from .exceptions import (
    DoesNotExistQueueException,
    InvalidQueueException,
    UndefinedQueueException,
)
from .hubconsume import HubConsumer
from .naming import CHARS_REPLACE_TABLE, check_queue_name, entity_name, is_fifo, priority_queue_name
from .options import (
    DEFAULT_REGION,
    DEFAULT_VISIBILITY_TIMEOUT,
    DEFAULT_WAIT_TIME_SECONDS,
    SQSOptions,
)
from .qos import QoS
from .SNS import SNS
from .sts import StsHelpers

__all__ = ('Channel', 'SQS_MAX_MESSAGES')

logger = logging.getLogger('kombu.transport.SQS')

#: SQS returns at most 10 messages per ReceiveMessage (and takes 10 per batch call).
SQS_MAX_MESSAGES = 10

#: seconds before its visibility ends that a buffered message is dropped as stale.
STALE_MARGIN = 2.0

#: on the hub, the longest an acknowledged message waits for its batched delete.
ACK_FLUSH_DELAY = 0.5

_RECEIVE_COUNT = 'ApproximateReceiveCount'

Envelope = dict[str, Any]


def _chunks(items: list[Any], size: int = SQS_MAX_MESSAGES) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Channel(HubConsumer, StsHelpers, virtual.Channel):
    """SQS channel."""

    Options = SQSOptions
    options: SQSOptions
    QoS = QoS

    default_region = DEFAULT_REGION
    default_visibility_timeout = DEFAULT_VISIBILITY_TIMEOUT
    default_wait_time_seconds = DEFAULT_WAIT_TIME_SECONDS
    domain_format = 'kombu%(vhost)s'
    #: Kombu's names, kept for code that reads them.
    release_client_config = None
    redrive_policy_cache_ttl = 120
    B64_REGEX = re.compile(rb'^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$')

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if boto3 is None:
            raise ImportError('the SQS transport needs boto3 (pip install "kombu[sqs]")')
        connection = args[0] if args else kwargs['connection']
        # Before the base reads it: fanout through SNS only when asked for.
        self.supports_fanout = bool(getattr(connection.options, 'supports_fanout', False))
        self._fanout: SNS | None = None
        # The base drops ``connection`` at close; a poll answered after that still has
        # to give its messages back, through the transport's clients.
        self._transport = connection
        super().__init__(*args, **kwargs)
        self._check_predefined_queues()
        # (queue, step) -> deque of (received at, envelope), oldest first.
        self._buffers: dict[tuple[str, int], deque[tuple[float, Envelope]]] = {}
        # queue URL -> receipt handles acknowledged but not deleted yet.
        self._pending_deletes: dict[str, list[str]] = {}
        self._ack_lock = threading.Lock()
        self._flush_scheduled = False
        self._poll_timeout: float | None = None
        # receipt handle -> when its visibility was last set (receive or heartbeat).
        self._held_since: dict[str, float] = {}
        self._polling = False
        self.hub = kwargs.get('hub') or get_event_loop()
        self._hub_polls: set[str] = set()   # queues with a poll in flight on the hub

    def _check_predefined_queues(self) -> None:
        """A FIFO queue must be named and addressed as one (AWS's rule)."""
        for name, queue in self.predefined_queues.items():
            if is_fifo(str(queue['url'])) != is_fifo(name):
                raise InvalidQueueException(
                    f'predefined queue {name!r} has URL {queue["url"]!r}: a FIFO queue\'s '
                    f'name and URL both end in ".fifo", a standard queue\'s neither')

    # -- names and URLs ------------------------------------------------------

    def entity_name(self, name: str, table: dict[int, int] = CHARS_REPLACE_TABLE) -> str:
        """The SQS name for a Kombu name (dots to dashes, '.fifo' kept)."""
        return entity_name(name, table)

    def canonical_queue_name(self, queue_name: str) -> str:
        """The SQS name of a Kombu queue, with ``queue_name_prefix``."""
        return self.entity_name(self.queue_name_prefix + queue_name)

    def _steps(self, queue: str) -> tuple[int, ...]:
        """Priority steps of ``queue``: one SQS queue each, for x-max-priority queues."""
        policy = self._queue_policy(queue)
        if policy is not None and policy.max_priority:
            return self.options.priority_steps
        return (0,)

    def _step_for(self, queue: str, message: Envelope) -> int:
        steps = self._steps(queue)
        if len(steps) == 1:
            if message['properties'].get('priority'):
                envelope.warn_unsupported(
                    'priority', 'the queue was not declared with x-max-priority '
                    '(max_priority=...), so it has one priority')
            return 0
        priority = self._get_message_priority(message)
        return max(step for step in steps if step <= priority)

    def _predefined(self, queue: str) -> Mapping[str, Any] | None:
        predefined = self.predefined_queues
        if not predefined:
            return None
        entry = predefined.get(queue) or predefined.get(self.canonical_queue_name(queue))
        if entry is None:
            raise UndefinedQueueException(
                f"Queue with name '{queue}' must be defined in 'predefined_queues'.")
        return entry

    def sqs(self, queue: str | None = None) -> Any:
        """The boto3 SQS client for ``queue`` (its predefined credentials, if any)."""
        entry = self._predefined(queue) if queue is not None else None
        return (self.connection or self._transport).clients.client('sqs', entry)

    def new_sqs_client(self, region: str, access_key_id: str | None,
                       secret_access_key: str | None, session_token: str | None = None) -> Any:
        """A new boto3 SQS client with these credentials (not cached)."""
        factory = self.connection.clients
        return factory._new_client('sqs', region, access_key_id, secret_access_key,
                                   session_token)

    def _queue_url(self, queue: str, step: int = 0, create: bool = False,
                   attributes: Mapping[str, str] | None = None) -> str:
        """The URL of (a priority step of) ``queue``; created in SQS if ``create``."""
        name = priority_queue_name(self.canonical_queue_name(queue), step)
        cache = self.connection._queue_cache
        url = cache.get(name)
        if url is not None:
            return url
        entry = self._predefined(queue)
        if entry is not None:
            if step:
                raise UndefinedQueueException(
                    f'priority queue {name!r} of predefined queue {queue!r} is not defined: '
                    f'predefined queues have one priority')
            url = cache[name] = str(entry['url'])
            return url
        check_queue_name(name, queue)
        client = self.sqs()
        try:
            with errors('get_queue_url', name):
                url = client.get_queue_url(QueueName=name)['QueueUrl']
        except DoesNotExistQueueException:
            if not create:
                raise
            url = self._create_queue(name, attributes)
        cache[name] = url
        return url

    def _create_queue(self, name: str, attributes: Mapping[str, str] | None) -> str:
        attrs = {'VisibilityTimeout': str(self.visibility_timeout)}
        if is_fifo(name):
            attrs['FifoQueue'] = 'true'
        attrs.update(attributes or {})
        attrs.update(self.options.sqs_creation_attributes or {})
        params: dict[str, Any] = {'QueueName': name, 'Attributes': attrs}
        if self.options.queue_tags:
            params['tags'] = dict(self.options.queue_tags)
        with errors('create_queue', name):
            return str(self.sqs().create_queue(**params)['QueueUrl'])

    # -- storage hooks -------------------------------------------------------

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        attributes = {}
        policy = self._queue_policy(queue)
        if policy is not None and policy.message_ttl is not None:
            # SQS keeps messages 60 s..14 days; the exact TTL is applied on receive.
            seconds = min(max(int(policy.message_ttl + 0.999), 60), 14 * 24 * 3600)
            attributes['MessageRetentionPeriod'] = str(seconds)
        for step in self._steps(queue):
            self._queue_url(queue, step, create=True, attributes=attributes)

    def queue_delete(self, queue: str, if_unused: bool = False, if_empty: bool = False,
                     **kwargs: Any) -> int | None:
        """Delete ``queue``; deleting one that does not exist does nothing (as AMQP)."""
        if not self.predefined_queues and not self._has_queue(queue):
            self.state.queue_bindings_delete(queue)
            return 0
        return super().queue_delete(queue, if_unused=if_unused, if_empty=if_empty, **kwargs)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        try:
            self._queue_url(queue)
        except DoesNotExistQueueException:
            return False
        return True

    def _on_queue(self, queue: str, step: int, operation: str,
                  call: Callable[[str], Any]) -> Any:
        """``call(url)`` for (a step of) ``queue``, created if needed; a queue that
        disappeared after we cached its URL (deleted elsewhere, an emulator restarted)
        is created again once, as declaring it would."""
        url = self._queue_url(queue, step, create=True)
        try:
            with errors(operation, queue):
                return call(url)
        except DoesNotExistQueueException:
            if self.predefined_queues:
                raise
            name = priority_queue_name(self.canonical_queue_name(queue), step)
            self.connection._queue_cache.pop(name, None)
            logger.warning('sqs: queue %r no longer exists; creating it again', name)
            url = self._queue_url(queue, step, create=True)
            with errors(operation, queue):
                return call(url)

    def _put(self, queue: str, message: Envelope, **kwargs: Any) -> None:
        step = self._step_for(queue, message)
        sqs_name = priority_queue_name(self.canonical_queue_name(queue), step)
        params = envelope.send_params(
            sqs_name, message, self.options.fifo_default_message_group_id)
        if kwargs.get('message_attributes'):   # basic_publish(..., message_attributes=...)
            params['MessageAttributes'] = kwargs['message_attributes']
        body = envelope.encode_body(message, self.sqs_base64_encoding)
        envelope.check_size(body, params, self.options.max_message_size, queue)
        client = self.sqs(queue)
        self._on_queue(queue, step, 'send_message', lambda url: client.send_message(
            QueueUrl=url, MessageBody=body, **params))

    def _get(self, queue: str, timeout: float | None = None) -> Envelope:
        """The next message of ``queue``, highest priority step first; ``Empty`` if none."""
        steps = self._steps(queue)
        for step in reversed(steps):
            message = self._pop_buffered(queue, step)
            if message is None:
                self._flush_deletes()   # acks go in one batch before the next receive
                message = self._fetch(queue, step, self._wait_seconds(len(steps)))
            if message is not None:
                if queue in self.connection._noack_queues:
                    self._delete_received(message, now=True)
                return message
        raise Empty()

    def _size(self, queue: str) -> int:
        total = 0
        for step in self._steps(queue):
            url = self._queue_url(queue, step)
            with errors('get_queue_attributes', queue):
                answer = self.sqs(queue).get_queue_attributes(
                    QueueUrl=url, AttributeNames=['ApproximateNumberOfMessages'])
            total += int(answer['Attributes']['ApproximateNumberOfMessages'])
            total += len(self._buffers.get((queue, step)) or ())
        return total

    def _purge(self, queue: str) -> int:
        size = self._size(queue)
        for step in self._steps(queue):
            self._buffers.pop((queue, step), None)  # purge deletes in-flight messages too
            url = self._queue_url(queue, step)
            with errors('purge_queue', queue):
                self.sqs(queue).purge_queue(QueueUrl=url)
        return size

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        exchange = args[0] if args else kwargs.get('exchange')
        if exchange and self._exchange_is_fanout(exchange):
            self.fanout.unsubscribe_queue(queue, exchange)
        if self.predefined_queues:
            return  # not ours to delete
        cache = self.connection._queue_cache
        for step in self._steps(queue):
            self._buffers.pop((queue, step), None)
            try:
                url = self._queue_url(queue, step)
            except DoesNotExistQueueException:
                continue
            self._pending_deletes.pop(url, None)
            try:
                with errors('delete_queue', queue):
                    self.sqs(queue).delete_queue(QueueUrl=url)
            except DoesNotExistQueueException:
                pass
            cache.pop(priority_queue_name(self.canonical_queue_name(queue), step), None)

    # -- fanout through SNS --------------------------------------------------

    @property
    def fanout(self) -> SNS:
        """The SNS topics of this channel's fanout exchanges."""
        if self._fanout is None:
            self._fanout = SNS(self)
        return self._fanout

    def _exchange_is_fanout(self, exchange: str) -> bool:
        if not self.supports_fanout:
            return False
        decl = self.state.exchanges.get(exchange)
        return decl is not None and decl['type'] == 'fanout'

    def exchange_declare(self, exchange: str | None = None, type: str = 'direct',
                         *args: Any, **kwargs: Any) -> None:
        super().exchange_declare(exchange, type, *args, **kwargs)
        if exchange and not kwargs.get('passive') and self._exchange_is_fanout(exchange):
            self.fanout.initialise_exchange(exchange)

    def exchange_delete(self, exchange: str, if_unused: bool = False,
                        nowait: bool = False) -> None:
        fanout = self._exchange_is_fanout(exchange)
        super().exchange_delete(exchange, if_unused=if_unused, nowait=nowait)
        if fanout and exchange not in self.state.exchanges:
            self.fanout.delete_exchange(exchange)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        if self._exchange_is_fanout(exchange):
            self.fanout.subscribe_queue(queue, exchange)

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        if self._exchange_is_fanout(exchange):
            self.fanout.unsubscribe_queue(queue, exchange)

    def _put_fanout(self, exchange: str, message: Envelope, routing_key: str,
                    **kwargs: Any) -> None:
        """One SNS publish; SNS puts a copy in every subscribed queue."""
        if not self.supports_fanout:
            return super()._put_fanout(exchange, message, routing_key, **kwargs)
        props = message['properties']
        if 'expiration' in props:
            self._stamp_expiry(props, None)
        topic = self.fanout.topic_name(exchange)
        params = envelope.send_params(topic, message, self.options.fifo_default_message_group_id)
        params.pop('DelaySeconds', None)   # SNS has no per-message delay
        attributes = params.pop('MessageAttributes', None)
        body = envelope.encode_body(message, self.sqs_base64_encoding)
        envelope.check_size(body, params, self.options.max_message_size, exchange)
        self.fanout.publish(exchange, body, attributes, params)
        return None

    def remove_stale_sns_subscriptions(self, exchange_name: str) -> None:
        """Unsubscribe queues that no longer exist from the exchange's topic."""
        if self._exchange_is_fanout(exchange_name):
            self.fanout.cleanup(exchange_name)

    # -- receiving -----------------------------------------------------------

    def _poll(self, cycle: Any, callback: Callable[..., Any],
              timeout: float | None = None) -> Any:
        # Remember the caller's timeout: a long poll must not outlast it.
        self._poll_timeout, self._polling = timeout, True
        try:
            return cycle.get(callback)
        finally:
            self._poll_timeout, self._polling = None, False

    def _wait_seconds(self, steps: int) -> int:
        """WaitTimeSeconds of a receive: long polling only for a consumer of one queue."""
        wait = self.wait_time_seconds
        if not self._polling or not wait or steps > 1 or len(self._active_queues) > 1:
            return 0
        timeout = self._poll_timeout
        return wait if timeout is None else max(0, min(wait, int(timeout)))

    def _fetch_count(self) -> int:
        estimate = self.qos.can_consume_max_estimate()
        if estimate is None:
            return SQS_MAX_MESSAGES
        return max(1, min(estimate, SQS_MAX_MESSAGES))

    def _receive(self, queue: str, step: int, count: int, wait: int) -> list[Envelope]:
        params: dict[str, Any] = {'MaxNumberOfMessages': count, 'WaitTimeSeconds': wait}
        attrs = self.get_message_attributes
        if attrs['MessageAttributeNames']:
            params['MessageAttributeNames'] = attrs['MessageAttributeNames']
        params[self.connection.system_attributes_param] = attrs['MessageSystemAttributeNames']
        client = self.sqs(queue)

        def receive(url: str) -> list[Envelope]:
            answer = client.receive_message(QueueUrl=url, **params)
            return [self._to_envelope(m, url) for m in answer.get('Messages') or ()]
        return self._on_queue(queue, step, 'receive_message', receive)  # type: ignore[no-any-return]

    def _fetch(self, queue: str, step: int, wait: int) -> Envelope | None:
        messages = self._receive(queue, step, self._fetch_count(), wait)
        if not messages:
            return None
        first, rest = messages[0], messages[1:]
        if rest:
            now = monotonic()
            self._buffers.setdefault((queue, step), deque()).extend((now, m) for m in rest)
        return first

    def _pop_buffered(self, queue: str, step: int) -> Envelope | None:
        buffer = self._buffers.get((queue, step))
        if not buffer:
            return None
        # A message buffered past its visibility is visible in SQS again (and
        # maybe delivered elsewhere): drop our copy rather than deliver it twice.
        horizon = monotonic() - max(self.visibility_timeout - STALE_MARGIN, 0)
        while buffer:
            received, message = buffer.popleft()
            if received >= horizon or not self.visibility_timeout:
                return message
        return None

    def _to_envelope(self, message: Mapping[str, Any], url: str) -> Envelope:
        if self.options.visibility_heartbeat and self.visibility_timeout and not self.closed:
            self._held_since[message['ReceiptHandle']] = monotonic()
            self.connection.heartbeat.start()
        payload = envelope.decode_body(message['Body'])
        props = payload['properties']
        info = props.get('delivery_info')
        info = props['delivery_info'] = dict(info) if isinstance(info, dict) else {}
        info['sqs_message'] = message
        info['sqs_queue'] = url
        props['delivery_tag'] = message['ReceiptHandle']
        if int((message.get('Attributes') or {}).get(_RECEIVE_COUNT) or 1) > 1:
            payload['redelivered'] = True
            info['redelivered'] = True
        return payload

    def _release_buffers(self, queue: str | None = None) -> None:
        """Give buffered, undelivered messages back to SQS (visibility 0), in order."""
        for key in [k for k in self._buffers if queue is None or k[0] == queue]:
            buffered = self._buffers.pop(key)
            self._change_visibility([m for _, m in buffered], 0)

    # -- acknowledging -------------------------------------------------------

    @staticmethod
    def _receipt(raw: Envelope | None) -> tuple[str, str] | None:
        """``(queue URL, receipt handle)`` of a received envelope, or None."""
        if not raw:
            return None
        info = raw.get('properties', {}).get('delivery_info') or {}
        sqs_message = info.get('sqs_message')
        if not sqs_message or not info.get('sqs_queue'):
            return None
        return info['sqs_queue'], sqs_message['ReceiptHandle']

    def _delete_received(self, raw: Envelope | None, now: bool = False) -> None:
        """Delete a received message from SQS: batched while consuming, else at once."""
        receipt = self._receipt(raw)
        if receipt is None:
            return
        url, handle = receipt
        with self._ack_lock:
            pending = self._pending_deletes.setdefault(url, [])
            pending.append(handle)
            full = len(pending) >= SQS_MAX_MESSAGES
        if now or full or not self._consumers:
            self._flush_deletes(url)
        elif self.hub is not None and not self._flush_scheduled:
            # On the hub a long poll may hold the next receive (and its flush) for
            # wait_time_seconds: deletes go out at the latest ACK_FLUSH_DELAY later.
            self._flush_scheduled = True
            self.hub.call_later(ACK_FLUSH_DELAY, self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        if not self.closed:
            self._flush_deletes()

    def _flush_deletes(self, only_url: str | None = None) -> None:
        with self._ack_lock:
            if only_url is None:
                batches, self._pending_deletes = self._pending_deletes, {}
            else:
                batches = {only_url: self._pending_deletes.pop(only_url, [])}
        for url, handles in batches.items():
            for chunk in _chunks(handles):
                self._delete_batch(url, chunk)

    def _delete_batch(self, url: str, handles: list[str]) -> None:
        if not handles:
            return
        entries = [{'Id': str(n), 'ReceiptHandle': h} for n, h in enumerate(handles)]
        with errors('delete_message_batch', url):
            answer = self.sqs().delete_message_batch(QueueUrl=url, Entries=entries)
        for failed in answer.get('Failed') or ():
            # A stale handle (visibility ran out): SQS will deliver the message again.
            logger.warning('sqs: could not delete an acknowledged message of %s: %s %s',
                           url, failed.get('Code'), failed.get('Message'))

    def _change_visibility(self, raws: Iterable[Envelope], timeout: int) -> None:
        by_url: dict[str, list[str]] = {}
        for raw in raws:
            receipt = self._receipt(raw)
            if receipt is not None:
                by_url.setdefault(receipt[0], []).append(receipt[1])
        for url, handles in by_url.items():
            for chunk in _chunks(handles):
                entries = [{'Id': str(n), 'ReceiptHandle': h, 'VisibilityTimeout': timeout}
                           for n, h in enumerate(chunk)]
                with errors('change_message_visibility_batch', url):
                    answer = self.sqs().change_message_visibility_batch(
                        QueueUrl=url, Entries=entries)
                for failed in answer.get('Failed') or ():
                    logger.debug('sqs: visibility change failed for a message of %s: %s',
                                 url, failed.get('Code'))

    def _extend_held(self, now: float) -> None:
        """Heartbeat: renew the visibility of unacked messages held past half of it."""
        held = self._held_since
        if not held or self.closed or self.connection is None:
            return   # closing: what is held is being given back anyway
        qos = self._qos
        delivered = dict(qos._delivered) if qos is not None else {}
        done = set(qos._dirty) if qos is not None else set()
        buffered = {m['properties']['delivery_tag']
                    for buf in list(self._buffers.values()) for _, m in list(buf)}
        due = []
        for handle, since in list(held.items()):
            if handle in delivered and handle not in done:
                if now - since >= self.visibility_timeout / 2.0:
                    due.append(delivered[handle]._raw)
            elif handle not in buffered:  # acked, rejected or given back: forget it
                held.pop(handle, None)
        if due:
            self._change_visibility(due, self.visibility_timeout)
            for raw in due:
                held[raw['properties']['delivery_tag']] = now

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        message = self.qos._delivered.get(delivery_tag)
        if message is not None:
            self._delete_received(getattr(message, '_raw', None))
        super().basic_ack(delivery_tag)

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if message is not None and no_ack:
            self._delete_received(message._raw, now=True)
        return message

    def basic_consume(self, queue: str, no_ack: bool, callback: Callable[..., Any],
                      consumer_tag: str, **kwargs: Any) -> str:
        if no_ack:
            self.connection._noack_queues.add(queue)
        tag = super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)
        if self.hub is not None:
            self.hub.call_soon(self._schedule_queue, queue)
        return tag

    def basic_cancel(self, consumer_tag: str) -> None:
        queue = self._tag_to_queue.get(consumer_tag)
        super().basic_cancel(consumer_tag)
        if queue is not None and queue not in self._active_queues:
            self.connection._noack_queues.discard(queue)
            self._flush_deletes()
            self._release_buffers(queue)

    def _reject_message(self, message: Any) -> None:
        """Rejected without requeue: dead-lettered (if configured) and deleted."""
        super()._reject_message(message)
        self._delete_received(getattr(message, '_raw', None), now=True)

    def _dead_letter(self, queue: str | None, message: Envelope, reason: str) -> None:
        super()._dead_letter(queue, message, reason)
        if reason != 'rejected':  # expired or dropped by x-max-length: gone from SQS too
            self._delete_received(message, now=True)

    def _restore(self, message: Any) -> None:
        """Requeue: the message becomes visible again in SQS (and so do buffered ones
        of its queue, so the order is kept)."""
        raw = getattr(message, '_raw', None)
        if self._receipt(raw) is None:
            info = getattr(message, 'delivery_info', None) or {}
            for key in envelope.SQS_ONLY_DELIVERY_INFO:
                info.pop(key, None)
            super()._restore(message)
            return
        queue = getattr(message, '_source_queue', None)
        if queue is not None:
            self._release_buffers(queue)
        self._change_visibility([raw], 0)  # type: ignore[list-item]

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self.connection is not None:
                self._flush_deletes()
                self._release_buffers()
        finally:
            super().close()

    # -- options (Kombu's attribute names) -----------------------------------

    @cached_property
    def visibility_timeout(self) -> int:
        return int(self.options.visibility_timeout)

    @cached_property
    def predefined_queues(self) -> Mapping[str, Mapping[str, Any]]:
        return self.options.predefined_queues

    @cached_property
    def predefined_exchanges(self) -> Mapping[str, Mapping[str, Any]]:
        return self.options.predefined_exchanges

    @cached_property
    def queue_name_prefix(self) -> str:
        return self.options.queue_name_prefix

    @cached_property
    def region(self) -> str:
        return self.connection.clients.region

    @cached_property
    def regioninfo(self) -> Any:
        return self.options.raw.get('regioninfo')

    @cached_property
    def is_secure(self) -> bool | None:
        return self.options.is_secure

    @cached_property
    def port(self) -> Any:
        return self.options.raw.get('port')

    @cached_property
    def endpoint_url(self) -> str | None:
        return self.connection.endpoint_url

    @cached_property
    def wait_time_seconds(self) -> int:
        return int(self.options.wait_time_seconds)

    @cached_property
    def sqs_base64_encoding(self) -> bool:
        return self.options.sqs_base64_encoding

    @cached_property
    def fetch_message_attributes(self) -> Any:
        return self.options.fetch_message_attributes

    @cached_property
    def get_message_attributes(self) -> dict[str, list[str]]:
        """What ReceiveMessage asks for: ``MessageSystemAttributeNames`` (always with
        ApproximateReceiveCount, which redelivery and backoff read) and
        ``MessageAttributeNames``, from ``fetch_message_attributes`` (a list of
        system names, or a dict with both keys)."""
        fetch = self.fetch_message_attributes
        system: list[str] = []
        custom: list[str] = []
        if isinstance(fetch, (list, tuple)):
            system = list(fetch)
        elif isinstance(fetch, Mapping):
            system = list(fetch.get('MessageSystemAttributeNames') or [])
            custom = list(fetch.get('MessageAttributeNames') or [])

        def normal(names: list[str], extra: list[str]) -> list[str]:
            if any(n.lower() == 'all' for n in names):
                return ['All']
            return sorted(set(names) | set(extra))
        return {'MessageSystemAttributeNames': normal(system, [_RECEIVE_COUNT]),
                'MessageAttributeNames': normal(custom, []) if custom else []}
