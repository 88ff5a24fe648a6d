"""An SQS queue seen through :class:`~kombu.asynchronous.aws.sqs.connection.AsyncSQSConnection`."""
from __future__ import annotations

from typing import Any

from vine import transform

from .message import AsyncMessage

__all__ = ('AsyncQueue', 'list_first')


def list_first(rs: Any) -> Any:
    """The first item of ``rs`` (None when empty)."""
    return rs[0] if rs else None


class AsyncQueue:
    """Calls on one queue URL; results go to ``callback`` on the hub."""

    def __init__(self, connection: Any = None, url: str | None = None,
                 message_class: type = AsyncMessage) -> None:
        self.connection = connection
        self.url = url
        self.message_class = message_class
        self.visibility_timeout: int | None = None

    def _name(self) -> str:
        return (self.url or '').rstrip('/').rsplit('/', 1)[-1]

    name = property(_name)

    def get_attributes(self, attributes: str = 'All', callback: Any = None) -> Any:
        return self.connection.get_queue_attributes(self, attributes, callback)

    def set_attribute(self, attribute: str, value: Any, callback: Any = None) -> Any:
        return self.connection.set_queue_attribute(self, attribute, value, callback)

    def get_timeout(self, callback: Any = None) -> Any:
        return self.get_attributes(
            'VisibilityTimeout',
            transform(self._coerce_field_value, callback, 'VisibilityTimeout', int))

    def _coerce_field_value(self, key: str, type: Any, response: Any) -> Any:
        return type(response['Attributes'][key])

    def set_timeout(self, visibility_timeout: int, callback: Any = None) -> Any:
        return self.set_attribute(
            'VisibilityTimeout', visibility_timeout,
            transform(self._on_timeout_set, callback, visibility_timeout))

    def _on_timeout_set(self, visibility_timeout: int, response: Any) -> int:
        self.visibility_timeout = visibility_timeout
        return visibility_timeout

    def add_permission(self, label: str, aws_account_id: str, action_name: str,
                       callback: Any = None) -> Any:
        return self.connection.add_permission(self, label, aws_account_id, action_name,
                                              callback)

    def remove_permission(self, label: str, callback: Any = None) -> Any:
        return self.connection.remove_permission(self, label, callback)

    def read(self, visibility_timeout: int | None = None, wait_time_seconds: int | None = None,
             callback: Any = None) -> Any:
        return self.get_messages(1, visibility_timeout, wait_time_seconds=wait_time_seconds,
                                 callback=transform(list_first, callback))

    def write(self, message: Any, delay_seconds: int | None = None, callback: Any = None) -> Any:
        body = message.body if hasattr(message, 'body') else message
        return self.connection.send_message(self, body, delay_seconds, callback=callback)

    def write_batch(self, messages: Any, callback: Any = None) -> Any:
        return self.connection.send_message_batch(self, messages, callback=callback)

    def get_messages(self, num_messages: int = 1, visibility_timeout: int | None = None,
                     attributes: Any = None, wait_time_seconds: int | None = None,
                     callback: Any = None) -> Any:
        return self.connection.receive_message(
            self, self.url, number_messages=num_messages,
            visibility_timeout=visibility_timeout, attributes=attributes,
            wait_time_seconds=wait_time_seconds,
            callback=transform(self._to_messages, callback))

    def _to_messages(self, response: Any) -> list[Any]:
        return [self.message_class(self, m) for m in (response or {}).get('Messages') or ()]

    def delete_message(self, message: Any, callback: Any = None) -> Any:
        return self.connection.delete_message(self, message.receipt_handle, callback)

    def delete_message_batch(self, messages: Any, callback: Any = None) -> Any:
        return self.connection.delete_message_batch(self, messages, callback=callback)

    def change_message_visibility_batch(self, messages: Any, callback: Any = None) -> Any:
        return self.connection.change_message_visibility_batch(self, messages,
                                                               callback=callback)

    def delete(self, callback: Any = None) -> Any:
        return self.connection.delete_queue(self, callback=callback)

    def count(self, page_size: int = 10, vtimeout: int = 10, callback: Any = None,
              attribute: str = 'ApproximateNumberOfMessages') -> Any:
        return self.get_attributes(
            attribute, callback=transform(self._coerce_field_value, callback, attribute, int))

    def _not_supported(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError('not supported by the asynchronous SQS queue')

    count_slow = dump = save_to_file = save_to_filename = save = _not_supported
    save_to_s3 = load_from_s3 = load_from_file = load_from_filename = load = _not_supported
    clear = _not_supported
