"""Errors of the SQS transport: Kombu's names, each also one of :mod:`kombu.exceptions`' kinds
(a missing queue is a ``ChannelError`` with code 404, refused credentials ``AccessRefused``)."""
from __future__ import annotations

from kombu.exceptions import AccessRefused, ChannelError, KombuError

__all__ = (
    'UndefinedQueueException', 'UndefinedExchangeException', 'InvalidQueueException',
    'AccessDeniedQueueException', 'DoesNotExistQueueException', 'InvalidMessageException',
    'UnableToSubscribeQueueToTopicException', 'UnableToUnsubscribeQueueFromTopicException',
)


class UndefinedQueueException(KombuError, ChannelError):
    """A queue that is not in ``predefined_queues`` was used while they are set."""


class UndefinedExchangeException(KombuError, ChannelError):
    """A fanout exchange that is not in ``predefined_exchanges`` was used while they are set."""


class InvalidQueueException(KombuError, ValueError):
    """A queue name or URL SQS cannot take (e.g. a FIFO name without a FIFO URL)."""


class AccessDeniedQueueException(AccessRefused):
    """SQS refused the credentials for an operation on a queue."""


class DoesNotExistQueueException(KombuError, ChannelError):
    """The queue does not exist in SQS (AMQP reply code 404)."""

    def __init__(self, message: str = '', *args: object) -> None:
        super().__init__(message, None, None, 404)


class InvalidMessageException(KombuError, ValueError):
    """A message SQS would refuse (missing FIFO group id, bad DelaySeconds): not sent."""


class UnableToSubscribeQueueToTopicException(KombuError, ChannelError):
    """SNS refused to subscribe a queue to a fanout exchange's topic."""


class UnableToUnsubscribeQueueFromTopicException(KombuError, ChannelError):
    """SNS refused to remove a queue's subscription to a fanout exchange's topic."""
