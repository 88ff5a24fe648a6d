"""Fanout exchanges through Amazon SNS: one topic per exchange, each bound queue subscribed.

A fanout exchange becomes an SNS topic (named like a queue: prefix, dots to
dashes, ``.fifo`` kept, created on declare unless ``predefined_exchanges``
names its ARN).  Binding a queue subscribes it with raw message delivery, so
the SQS body is exactly what was published (Kombu's envelope), and lets the
topic send to the queue (queue policy).  Publishing to the exchange publishes
once to the topic and SNS copies the message into every subscribed queue,
whichever process bound them; the copies wait in queues without consumers.
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import TYPE_CHECKING, Any, Mapping

from .errors import errors
from .exceptions import DoesNotExistQueueException, UndefinedExchangeException
from .naming import is_fifo

if TYPE_CHECKING:
    from .channel import Channel

__all__ = ('SNS',)

logger = logging.getLogger(__name__)


class SNS:
    """SNS topics and subscriptions of a channel's fanout exchanges."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self._lock = threading.Lock()

    # Caches live on the transport: every channel of a connection shares them.
    @property
    def _topics(self) -> dict[str, str]:
        return self.channel.connection._topic_arns  # type: ignore[no-any-return]

    @property
    def _subscriptions(self) -> dict[tuple[str, str], str]:
        return self.channel.connection._subscription_arns  # type: ignore[no-any-return]

    def get_client(self, exchange_name: str | None = None) -> Any:
        entry = self._predefined(exchange_name) if exchange_name else None
        return self.channel.connection.clients.client('sns', entry)

    def _predefined(self, exchange: str) -> Mapping[str, Any] | None:
        predefined = self.channel.predefined_exchanges
        if not predefined:
            return None
        entry = predefined.get(exchange)
        if entry is None or not entry.get('arn'):
            raise UndefinedExchangeException(
                f"Exchange with name '{exchange}' must be defined in 'predefined_exchanges'.")
        return entry

    def topic_name(self, exchange: str) -> str:
        return self.channel.canonical_queue_name(exchange)

    def initialise_exchange(self, exchange_name: str) -> str:
        """The topic ARN of ``exchange_name``, creating the topic if needed."""
        arn = self._topics.get(exchange_name)
        if arn is not None:
            return arn
        with self._lock:
            arn = self._topics.get(exchange_name)
            if arn is None:
                entry = self._predefined(exchange_name)
                arn = str(entry['arn']) if entry is not None else self._create(exchange_name)
                self._topics[exchange_name] = arn
        return arn

    def _create(self, exchange: str) -> str:
        name = self.topic_name(exchange)
        attributes = {'FifoTopic': 'true'} if is_fifo(name) else {}
        with errors('create_topic', name):
            answer = self.get_client().create_topic(
                Name=name, Attributes=attributes,
                Tags=[{'Key': 'ManagedBy', 'Value': 'Celery/Kombu'}])
        return str(answer['TopicArn'])

    def delete_exchange(self, exchange: str) -> None:
        """Delete the topic of ``exchange`` (not a predefined one)."""
        if self.channel.predefined_exchanges:
            return
        arn = self._topics.pop(exchange, None)
        if arn is None:
            return
        with errors('delete_topic', exchange):
            self.get_client().delete_topic(TopicArn=arn)

    @staticmethod
    def serialise_message_attributes(message_attributes: Mapping[str, Any] | None
                                     ) -> dict[str, Any]:
        """SNS attributes: SQS-style ``{'DataType':..., ...}`` values kept, others as strings."""
        attrs: dict[str, Any] = {}
        for key, value in (message_attributes or {}).items():
            if isinstance(value, Mapping) and 'DataType' in value:
                attrs[key] = dict(value)
            else:
                attrs[key] = {'DataType': 'String', 'StringValue': str(value)}
        return attrs

    def publish(self, exchange_name: str, message: str,
                message_attributes: Mapping[str, Any] | None = None,
                request_params: Mapping[str, Any] | None = None) -> None:
        """Publish ``message`` (an encoded envelope) to the exchange's topic."""
        arn = self.initialise_exchange(exchange_name)
        params: dict[str, Any] = {'TopicArn': arn, 'Message': message}
        params.update(request_params or {})
        attributes = self.serialise_message_attributes(message_attributes)
        if attributes:
            params['MessageAttributes'] = attributes
        with errors('publish', exchange_name):
            self.get_client(exchange_name).publish(**params)

    # -- subscriptions -------------------------------------------------------

    def subscribe_queue(self, queue_name: str, exchange_name: str) -> str:
        """Subscribe ``queue_name`` to the exchange's topic (raw delivery); its ARN."""
        key = (exchange_name, queue_name)
        arn = self._subscriptions.get(key)
        if arn is not None:
            return arn
        topic = self.initialise_exchange(exchange_name)
        queue_url = self.channel._queue_url(queue_name, create=True)
        queue_arn = self._queue_arn(queue_name, queue_url)
        with errors('subscribe', queue_name):
            answer = self.get_client(exchange_name).subscribe(
                TopicArn=topic, Protocol='sqs', Endpoint=queue_arn,
                Attributes={'RawMessageDelivery': 'true'}, ReturnSubscriptionArn=True)
        arn = self._subscriptions[key] = str(answer['SubscriptionArn'])
        self._allow_topic(queue_name, queue_url, queue_arn, topic)
        return arn

    def _queue_arn(self, queue: str, url: str) -> str:
        with errors('get_queue_attributes', queue):
            answer = self.channel.sqs(queue).get_queue_attributes(
                QueueUrl=url, AttributeNames=['QueueArn'])
        return str(answer['Attributes']['QueueArn'])

    def _allow_topic(self, queue: str, url: str, queue_arn: str, topic_arn: str) -> None:
        """Let the topic send to the queue (AWS drops SNS deliveries without this)."""
        policy = {'Version': '2012-10-17', 'Statement': [{
            'Sid': f'kombu-{uuid.uuid5(uuid.NAMESPACE_URL, topic_arn)}',
            'Effect': 'Allow', 'Principal': {'Service': 'sns.amazonaws.com'},
            'Action': 'sqs:SendMessage', 'Resource': queue_arn,
            'Condition': {'ArnLike': {'aws:SourceArn': topic_arn.rsplit(':', 1)[0] + ':*'}},
        }]}
        with errors('set_queue_attributes', queue):
            self.channel.sqs(queue).set_queue_attributes(
                QueueUrl=url, Attributes={'Policy': json.dumps(policy)})

    def unsubscribe_queue(self, queue_name: str, exchange_name: str) -> None:
        arn = self._subscriptions.pop((exchange_name, queue_name), None)
        if arn is None:
            arn = self._find_subscription(queue_name, exchange_name)
        if arn is None:
            return
        with errors('unsubscribe', queue_name):
            self.get_client(exchange_name).unsubscribe(SubscriptionArn=arn)

    def _find_subscription(self, queue_name: str, exchange_name: str) -> str | None:
        """The subscription of a queue bound by another process (not in our cache)."""
        arn = self._topics.get(exchange_name)
        if arn is None:
            return None
        try:
            queue_arn = self._queue_arn(queue_name, self.channel._queue_url(queue_name))
        except DoesNotExistQueueException:
            return None
        for sub in self._list_subscriptions(exchange_name, arn):
            if sub.get('Endpoint') == queue_arn:
                return str(sub['SubscriptionArn'])
        return None

    def _list_subscriptions(self, exchange: str, topic_arn: str) -> list[dict[str, Any]]:
        client = self.get_client(exchange)
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {'TopicArn': topic_arn}
        while True:
            with errors('list_subscriptions_by_topic', exchange):
                answer = client.list_subscriptions_by_topic(**params)
            found.extend(answer.get('Subscriptions') or ())
            if not answer.get('NextToken'):
                return found
            params['NextToken'] = answer['NextToken']

    def cleanup(self, exchange_name: str) -> None:
        """Remove subscriptions of the exchange's topic whose SQS queue no longer exists."""
        topic = self.initialise_exchange(exchange_name)
        sqs = self.channel.sqs()
        for sub in self._list_subscriptions(exchange_name, topic):
            if sub.get('Protocol') != 'sqs':
                continue
            name = str(sub.get('Endpoint', '')).rsplit(':', 1)[-1]
            try:
                with errors('get_queue_url', name):
                    sqs.get_queue_url(QueueName=name)
            except DoesNotExistQueueException:
                logger.info('sqs: removing stale subscription of %r to %r', name, exchange_name)
                with errors('unsubscribe', name):
                    self.get_client(exchange_name).unsubscribe(
                        SubscriptionArn=sub['SubscriptionArn'])
