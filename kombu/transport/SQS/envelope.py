"""The SQS message body (Kombu's JSON envelope, base64 by default) and SendMessage parameters.

The body is upstream Kombu's: the virtual transport's JSON envelope, base64
encoded unless ``sqs_base64_encoding`` is off, so both can share a queue.
SQS-only publish properties become SendMessage parameters:

* ``MessageGroupId`` (FIFO queues need one; fair queues take one),
* ``MessageDeduplicationId`` (FIFO; a random one otherwise),
* ``DelaySeconds`` (standard queues; 0..900),
* ``message_attributes`` (SQS ``MessageAttributes``, taken out of the body).
"""
from __future__ import annotations

import binascii
import logging
import uuid
import warnings
from base64 import b64decode, b64encode
from typing import Any

from kombu.exceptions import LimitExceeded
from kombu.utils.json import dumps, loads

from .exceptions import InvalidMessageException
from .naming import is_fifo
from .options import MAX_DELAY_SECONDS

__all__ = ('encode_body', 'decode_body', 'send_params', 'SQS_ONLY_DELIVERY_INFO',
           'UnsupportedPropertyWarning')

logger = logging.getLogger(__name__)

#: delivery_info keys set on receive, never sent back to SQS (not JSON data).
SQS_ONLY_DELIVERY_INFO = ('sqs_message', 'sqs_queue')

#: (property, reason) pairs already warned about in this process.
_warned: set[tuple[str, str]] = set()


class UnsupportedPropertyWarning(UserWarning):
    """A publish property SQS cannot honour for this queue (reported once)."""


def warn_unsupported(prop: str, reason: str) -> None:
    if (prop, reason) in _warned:
        return
    _warned.add((prop, reason))
    warnings.warn(UnsupportedPropertyWarning(
        f'sqs: message property {prop!r} is ignored: {reason}'), stacklevel=4)


def encode_body(message: dict[str, Any], base64: bool) -> str:
    """The SQS MessageBody for an envelope (without the SQS-only delivery_info keys)."""
    props = message.get('properties')
    if props is not None:
        info = props.get('delivery_info')
        if info and any(key in info for key in SQS_ONLY_DELIVERY_INFO):
            info = {k: v for k, v in info.items() if k not in SQS_ONLY_DELIVERY_INFO}
            message = dict(message, properties=dict(props, delivery_info=info))
    text = dumps(message)
    return b64encode(text.encode()).decode('ascii') if base64 else text


def decode_body(text: str) -> dict[str, Any]:
    """The envelope of an SQS MessageBody.

    Kombu's (base64 or plain JSON) comes back as it was sent; any other body
    (another producer's) becomes an envelope with that text as its body, so it is
    delivered rather than lost.
    """
    stripped = text.strip()
    data: Any = None
    if stripped[:1] in ('{', '['):
        data = _json(stripped)
    else:
        try:
            decoded = b64decode(stripped, validate=True).decode('utf-8')
        except (binascii.Error, ValueError):
            decoded = None
        if decoded is not None:
            data = _json(decoded)
    if isinstance(data, dict) and isinstance(data.get('properties'), dict):
        return data
    return {'body': text, 'content-type': None, 'content-encoding': None, 'headers': {},
            'properties': {'delivery_info': {}}}


def _json(text: str) -> Any:
    try:
        return loads(text)
    except ValueError:
        return None


def _delay(value: Any) -> int:
    try:
        delay = int(value)
    except (TypeError, ValueError):
        delay = -1
    if not 0 <= delay <= MAX_DELAY_SECONDS or delay != float(value):
        raise InvalidMessageException(
            f'DelaySeconds must be a whole number of seconds within 0..{MAX_DELAY_SECONDS} '
            f'(SQS\'s limit), not {value!r}; for longer countdowns use an ETA')
    return delay


def send_params(sqs_name: str, message: dict[str, Any],
                default_group_id: str | None = None) -> dict[str, Any]:
    """SendMessage parameters from the message's properties (``message_attributes`` is
    removed from them: it travels as SQS attributes, not in the body)."""
    props = message.get('properties') or {}
    params: dict[str, Any] = {}
    attributes = props.pop('message_attributes', None)
    if attributes:
        params['MessageAttributes'] = attributes
    group = props.get('MessageGroupId')
    if is_fifo(sqs_name):
        if group is None:
            group = default_group_id
        if group is None:
            raise InvalidMessageException(
                f'publishing to FIFO queue {sqs_name!r} needs a MessageGroupId: pass '
                f'MessageGroupId=... to publish (or set the transport option '
                f'fifo_default_message_group_id); nothing was sent')
        params['MessageGroupId'] = str(group)
        params['MessageDeduplicationId'] = str(
            props.get('MessageDeduplicationId') or uuid.uuid4())
        if props.get('DelaySeconds'):
            warn_unsupported('DelaySeconds', 'FIFO queues delay per queue, not per message')
    else:
        if group is not None:  # fair queues: SQS accepts a group id on standard queues
            params['MessageGroupId'] = str(group)
        if props.get('MessageDeduplicationId') is not None:
            warn_unsupported('MessageDeduplicationId', 'only FIFO queues deduplicate')
        if props.get('DelaySeconds') is not None:
            params['DelaySeconds'] = _delay(props['DelaySeconds'])
    return params


def check_size(body: str, params: dict[str, Any], limit: int, queue: str) -> None:
    """Raise LimitExceeded for a message over ``limit`` bytes (body plus attributes)."""
    size = len(body.encode())
    for name, value in (params.get('MessageAttributes') or {}).items():
        size += len(name.encode()) + len(str(value.get('DataType', '')).encode())
        size += len(str(value.get('StringValue', value.get('BinaryValue', ''))).encode())
    if size > limit:
        raise LimitExceeded(
            f'sqs: message of {size} bytes for queue {queue!r} is over the {limit} byte '
            f'limit of SQS; store the payload elsewhere (e.g. S3) and send a reference, '
            f'or raise max_message_size if your queues take more; nothing was sent')
