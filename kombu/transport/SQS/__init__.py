"""Amazon SQS transport (virtual), on boto3; upstream Kombu's module, names and options.

Connection strings::

    sqs://                            boto3's default credential chain, AWS endpoint
    sqs://KEY_ID:SECRET@              these credentials (URL-quote '/' and '+')
    sqs://KEY_ID:SECRET@HOST:PORT     an emulator at http(s)://HOST:PORT (is_secure)

Features
========
* Type: Virtual
* Supports Direct: Yes
* Supports Topic: Yes
* Supports Headers: Yes
* Supports Fanout: through SNS (``supports_fanout`` option)
* Supports Priority: Yes, queues declared with ``x-max-priority``: one SQS queue per
  ``priority_steps`` step, highest polled first
* Supports TTL: Yes (``expiration`` and ``x-message-ttl``, applied on receive;
  ``MessageRetentionPeriod`` bounds the queue)

Delivery
========
A receive asks SQS for up to 10 messages (no more than the prefetch limit
allows); they wait in a local buffer and each ``drain_events`` delivers one.
A received message stays in SQS, invisible for ``visibility_timeout`` seconds,
until it is acknowledged (``DeleteMessageBatch``), requeued or rejected
(``ChangeMessageVisibility`` to 0, or deleted and dead-lettered), or given back
when the channel closes (visibility 0, so another consumer gets it at once).

Transport options
=================
Kombu 5.7's: ``region``, ``queue_name_prefix``, ``predefined_queues``,
``predefined_exchanges``, ``visibility_timeout`` (whole seconds, default 1800),
``wait_time_seconds`` (long polling, 0..20, default 10), ``polling_interval``
(default 1), ``backoff_policy``/``backoff_tasks``, ``sts_role_arn``,
``sts_token_timeout``, ``sts_token_buffer_time``, ``fetch_message_attributes``,
``sqs_base64_encoding``, ``supports_fanout``, ``sqs-creation-attributes``,
``queue_tags``, ``client-config``, ``is_secure``, ``session_token``; and
``endpoint_url``, ``max_message_size`` (default 256 KiB),
``fifo_default_message_group_id`` (default None: a FIFO publish without
``MessageGroupId`` is refused), ``visibility_heartbeat``, ``priority_steps``.
"""
from __future__ import annotations

import logging
from typing import Any

from .channel import SQS_MAX_MESSAGES, Channel
from .exceptions import (
    AccessDeniedQueueException,
    DoesNotExistQueueException,
    InvalidMessageException,
    InvalidQueueException,
    UndefinedExchangeException,
    UndefinedQueueException,
)
from .naming import CHARS_REPLACE_TABLE
from .options import MAX_DELAY_SECONDS, SQSOptions
from .qos import QoS
from .transport import Transport

__all__ = (
    'Transport', 'Channel', 'QoS', 'SQSOptions', 'UndefinedQueueException',
    'UndefinedExchangeException', 'InvalidQueueException', 'AccessDeniedQueueException',
    'DoesNotExistQueueException', 'InvalidMessageException', 'CHARS_REPLACE_TABLE',
    'MAX_DELAY_SECONDS', 'SQS_MAX_MESSAGES', 'maybe_int',
)

logger = logging.getLogger(__name__)


def maybe_int(x: Any) -> Any:
    """``int(x)``, or ``x`` unchanged when it is not a number."""
    try:
        return int(x)
    except (TypeError, ValueError):
        return x
