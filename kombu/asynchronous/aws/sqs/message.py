"""Messages read by :class:`~kombu.asynchronous.aws.sqs.queue.AsyncQueue`."""
from __future__ import annotations

import binascii
from base64 import b64decode, b64encode
from typing import Any

from kombu.message import Message
from kombu.utils.encoding import str_to_bytes

__all__ = ('BaseAsyncMessage', 'AsyncRawMessage', 'AsyncMessage')


class BaseAsyncMessage(Message):
    """An SQS message: body, receipt handle and attributes."""

    def __init__(self, queue: Any = None, sqs_message: dict[str, Any] | None = None,
                 body: Any = None, **kwargs: Any) -> None:
        sqs_message = sqs_message or {}
        self.queue = queue
        self.sqs_message = sqs_message
        self.receipt_handle = sqs_message.get('ReceiptHandle')
        self.message_id = sqs_message.get('MessageId')
        self.attributes = sqs_message.get('Attributes') or {}
        self.message_attributes = sqs_message.get('MessageAttributes') or {}
        if body is None:
            body = sqs_message.get('Body')
        super().__init__(body=body, delivery_tag=self.receipt_handle, **kwargs)

    def get_body(self) -> Any:
        return self.body

    def delete(self) -> Any:
        if self.queue is not None:
            return self.queue.delete_message(self)
        return None

    def change_visibility(self, visibility_timeout: int, callback: Any = None) -> Any:
        if self.queue is None:
            return None
        return self.queue.connection.change_message_visibility(
            self.queue, self.receipt_handle, visibility_timeout, callback)


class AsyncRawMessage(BaseAsyncMessage):
    """A message whose body is used as it is."""


class AsyncMessage(BaseAsyncMessage):
    """A message whose body is base64 (as the SQS transport sends it by default)."""

    def encode(self, value: str | bytes) -> str:
        """``value`` in base64 (the SQS transport's default body encoding)."""
        return b64encode(str_to_bytes(value)).decode('ascii')

    def decode(self) -> Any:  # type: ignore[override]
        """The body, base64-decoded when it is base64 (as it is when we sent it)."""
        body = self.body
        if body is None:
            return None
        try:
            return b64decode(str_to_bytes(body), validate=True).decode('utf-8')
        except (binascii.Error, ValueError):
            return body
