"""The asynchronous SQS client: Kombu's ``AsyncSQSConnection`` over the JSON API.

Every call takes a ``callback`` (a function or a :class:`vine.promise`) that gets
SQS's decoded answer on the hub; a failed call reaches the promise's errback as a
botocore ``ClientError``.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from vine import transform

from ..connection import AsyncAWSQueryConnection
from .message import AsyncMessage
from .queue import AsyncQueue

__all__ = ('AsyncSQSConnection',)


def _url(queue: Any) -> str:
    return str(queue.url if isinstance(queue, AsyncQueue) else queue)


def _handle(message: Any) -> str:
    return str(getattr(message, 'receipt_handle', None) or message)


class AsyncSQSConnection(AsyncAWSQueryConnection):
    """Asynchronous SQS calls signed by the boto3 client ``sqs_connection``."""

    def __init__(self, sqs_connection: Any, debug: int = 0, region: str | None = None,
                 message_system_attribute_names: Iterable[str] | None = None,
                 message_attribute_names: Iterable[str] | None = None,
                 **kwargs: Any) -> None:
        protocol = sqs_connection.meta.service_model.protocol
        if protocol != 'json':
            raise NotImplementedError(
                f'the asynchronous SQS client speaks the JSON protocol; this botocore '
                f'uses {protocol!r} for SQS (upgrade boto3)')
        super().__init__(sqs_connection, **kwargs)
        self.debug = debug
        self.region = region or sqs_connection.meta.region_name
        self.message_system_attribute_names = list(
            message_system_attribute_names or ['ApproximateReceiveCount'])
        self.message_attribute_names = list(message_attribute_names or [])

    def make_request(self, operation_name: str, params: Mapping[str, Any],  # type: ignore[override]
                     queue_url: str | None = None, verb: str = 'POST', callback: Any = None,
                     protocol_params: Any = None) -> Any:
        path = queue_url or self.sqs_connection.meta.endpoint_url
        return super().make_request(operation_name, params, path, verb, callback=callback)

    # -- queues --------------------------------------------------------------

    def create_queue(self, queue_name: str, attributes: Mapping[str, Any] | None = None,
                     callback: Any = None) -> Any:
        params: dict[str, Any] = {'QueueName': queue_name}
        if attributes:
            params['Attributes'] = {k: str(v) for k, v in attributes.items()}
        return self.make_request('CreateQueue', params, callback=transform(
            self._queue, callback))

    def _queue(self, answer: Mapping[str, Any]) -> AsyncQueue:
        return AsyncQueue(self, answer['QueueUrl'])

    def delete_queue(self, queue: Any, force_deletion: bool = False,
                     callback: Any = None) -> Any:
        return self.make_request('DeleteQueue', {'QueueUrl': _url(queue)}, _url(queue),
                                 callback=callback)

    def get_queue_url(self, queue: str, callback: Any = None) -> Any:
        return self.make_request('GetQueueUrl', {'QueueName': queue}, callback=transform(
            lambda answer: answer['QueueUrl'], callback))

    def get_queue_attributes(self, queue: Any, attribute: Any = 'All',
                             callback: Any = None) -> Any:
        names = [attribute] if isinstance(attribute, str) else list(attribute)
        return self.make_request('GetQueueAttributes',
                                 {'QueueUrl': _url(queue), 'AttributeNames': names},
                                 _url(queue), callback=callback)

    def set_queue_attribute(self, queue: Any, attribute: str, value: Any,
                            callback: Any = None) -> Any:
        return self.make_request('SetQueueAttributes',
                                 {'QueueUrl': _url(queue), 'Attributes': {attribute: str(value)}},
                                 _url(queue), callback=callback)

    def get_all_queues(self, prefix: str = '', callback: Any = None) -> Any:
        params = {'QueueNamePrefix': prefix} if prefix else {}
        return self.make_request('ListQueues', params, callback=transform(
            lambda answer: [AsyncQueue(self, u) for u in answer.get('QueueUrls') or ()],
            callback))

    def get_queue(self, queue_name: str, callback: Any = None) -> Any:
        return self.get_queue_url(queue_name, callback=transform(
            lambda url: AsyncQueue(self, url), callback))

    lookup = get_queue

    def get_dead_letter_source_queues(self, queue: Any, callback: Any = None) -> Any:
        return self.make_request('ListDeadLetterSourceQueues', {'QueueUrl': _url(queue)},
                                 _url(queue), callback=transform(
            lambda answer: [AsyncQueue(self, u) for u in answer.get('queueUrls') or ()],
            callback))

    def add_permission(self, queue: Any, label: str, aws_account_id: str, action_name: str,
                       callback: Any = None) -> Any:
        return self.make_request('AddPermission', {
            'QueueUrl': _url(queue), 'Label': label, 'AWSAccountIds': [aws_account_id],
            'Actions': [action_name]}, _url(queue), callback=callback)

    def remove_permission(self, queue: Any, label: str, callback: Any = None) -> Any:
        return self.make_request('RemovePermission', {'QueueUrl': _url(queue), 'Label': label},
                                 _url(queue), callback=callback)

    # -- messages ------------------------------------------------------------

    def receive_message(self, queue: Any, queue_url: str | None = None,
                        number_messages: int = 1, visibility_timeout: int | None = None,
                        attributes: Iterable[str] | None = None,
                        wait_time_seconds: int | None = None, callback: Any = None) -> Any:
        """``callback`` gets SQS's answer (``{'Messages': [...]}``, possibly without
        the key when none was ready)."""
        url = queue_url or _url(queue)
        params: dict[str, Any] = {'QueueUrl': url, 'MaxNumberOfMessages': number_messages,
                                  'MessageSystemAttributeNames': list(
                                      attributes or self.message_system_attribute_names)}
        if self.message_attribute_names:
            params['MessageAttributeNames'] = self.message_attribute_names
        if visibility_timeout is not None:
            params['VisibilityTimeout'] = visibility_timeout
        if wait_time_seconds is not None:
            params['WaitTimeSeconds'] = wait_time_seconds
        return self.make_request('ReceiveMessage', params, url, callback=callback)

    def delete_message(self, queue: Any, receipt_handle: Any, callback: Any = None) -> Any:
        return self.delete_message_from_handle(queue, receipt_handle, callback)

    def delete_message_from_handle(self, queue: Any, receipt_handle: Any,
                                   callback: Any = None) -> Any:
        return self.make_request('DeleteMessage', {
            'QueueUrl': _url(queue), 'ReceiptHandle': _handle(receipt_handle)},
            _url(queue), callback=callback)

    def delete_message_batch(self, queue: Any, messages: Iterable[Any],
                             callback: Any = None) -> Any:
        entries = [{'Id': str(n), 'ReceiptHandle': _handle(m)} for n, m in enumerate(messages)]
        return self.make_request('DeleteMessageBatch',
                                 {'QueueUrl': _url(queue), 'Entries': entries},
                                 _url(queue), callback=callback)

    def send_message(self, queue: Any, message_content: Any, delay_seconds: int | None = None,
                     callback: Any = None, **extra: Any) -> Any:
        params: dict[str, Any] = {'QueueUrl': _url(queue), 'MessageBody': str(message_content)}
        if delay_seconds is not None:
            params['DelaySeconds'] = int(delay_seconds)
        params.update(extra)
        return self.make_request('SendMessage', params, _url(queue), callback=callback)

    def send_message_batch(self, queue: Any, messages: Iterable[Any],
                           callback: Any = None) -> Any:
        entries = []
        for n, message in enumerate(messages):
            if isinstance(message, Mapping):
                entry = dict(message)
                entry.setdefault('Id', str(n))
            else:   # Kombu's (id, body, delay) tuples
                ident, body, delay = message
                entry = {'Id': str(ident), 'MessageBody': str(body), 'DelaySeconds': int(delay)}
            entries.append(entry)
        return self.make_request('SendMessageBatch',
                                 {'QueueUrl': _url(queue), 'Entries': entries},
                                 _url(queue), callback=callback)

    def change_message_visibility(self, queue: Any, message: Any, visibility_timeout: int,
                                  callback: Any = None) -> Any:
        return self.make_request('ChangeMessageVisibility', {
            'QueueUrl': _url(queue), 'ReceiptHandle': _handle(message),
            'VisibilityTimeout': int(visibility_timeout)}, _url(queue), callback=callback)

    def change_message_visibility_batch(self, queue: Any, messages: Iterable[Any],
                                        callback: Any = None) -> Any:
        entries = [{'Id': str(n), 'ReceiptHandle': _handle(m), 'VisibilityTimeout': int(t)}
                   for n, (m, t) in enumerate(messages)]
        return self.make_request('ChangeMessageVisibilityBatch',
                                 {'QueueUrl': _url(queue), 'Entries': entries},
                                 _url(queue), callback=callback)

    #: message class of the queues this connection hands out.
    message_class = AsyncMessage
