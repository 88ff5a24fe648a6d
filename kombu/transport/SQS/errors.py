"""botocore errors translated into :mod:`kombu.exceptions` at the transport boundary.

botocore raises one class, ``ClientError``, for every error SQS answers, with the
kind in ``response['Error']['Code']``; connection-level failures have classes of
their own.  :data:`errors` maps both: refused credentials become
:class:`~kombu.exceptions.AccessRefused` (not retried), a missing queue a
``ChannelError`` with code 404, throttling and server errors a
:class:`~kombu.exceptions.ConnectionError` (``Connection.ensure`` retries those).
"""
from __future__ import annotations

from typing import Any

from kombu.exceptions import AccessRefused, ChannelError, ConnectionError, LimitExceeded
from kombu.transport.virtual.errors import ErrorTranslator

from .exceptions import (
    DoesNotExistQueueException,
    UnableToSubscribeQueueToTopicException,
    UnableToUnsubscribeQueueFromTopicException,
)

try:
    from botocore import exceptions as boto_exc
except ImportError:  # pragma: no cover - boto3 is an optional dependency
    boto_exc = None

__all__ = ('SQSErrorTranslator', 'errors', 'error_code')

#: Codes meaning "these credentials may not do this": retrying cannot help.
AUTH_CODES = frozenset({
    'AccessDenied', 'AccessDeniedException', 'InvalidClientTokenId', 'SignatureDoesNotMatch',
    'UnrecognizedClientException', 'InvalidAccessKeyId', 'ExpiredToken',
    'ExpiredTokenException', 'InvalidSecurity', 'MissingAuthenticationToken',
    'AuthorizationError', 'KMS.AccessDeniedException',
})
#: Codes of a queue that is not there.
NOT_FOUND_CODES = frozenset({
    'AWS.SimpleQueueService.NonExistentQueue', 'QueueDoesNotExist', 'NonExistentQueue',
    'NotFound',
})
#: Codes worth retrying: SQS is overloaded or briefly unavailable.
RETRY_CODES = frozenset({
    'Throttling', 'ThrottlingException', 'RequestThrottled', 'ServiceUnavailable',
    'InternalError', 'InternalFailure', 'RequestTimeout', 'KMS.ThrottlingException',
    'AWS.SimpleQueueService.QueueDeletedRecently',
})
#: SNS refusals of these operations have Kombu's own ``ChannelError`` kinds.
SUBSCRIPTION_ERRORS: dict[str, type[ChannelError]] = {
    'subscribe': UnableToSubscribeQueueToTopicException,
    'unsubscribe': UnableToUnsubscribeQueueFromTopicException,
}
#: Codes of a request over a size limit.
LIMIT_CODES = frozenset({'OverLimit', 'AWS.SimpleQueueService.BatchRequestTooLong'})

_HINTS = {
    'auth': 'check the key id and secret in the sqs:// URL (or the AWS credential chain) '
            'and the IAM policy of the queue',
    'not_found': 'declare the queue first, or add it to predefined_queues',
}


def error_code(exc: BaseException) -> str:
    """The SQS error code of a botocore ``ClientError`` ('' for anything else)."""
    response: Any = getattr(exc, 'response', None) or {}
    return str((response.get('Error') or {}).get('Code') or '')


class SQSErrorTranslator(ErrorTranslator):
    """An :class:`ErrorTranslator` that also reads ``ClientError`` codes."""

    def translate(self, exc: BaseException, operation: str = '',
                  name: str | None = None) -> BaseException | None:
        if boto_exc is not None and isinstance(exc, boto_exc.ClientError):
            return self._from_code(exc, error_code(exc), operation, name)
        if boto_exc is not None and isinstance(exc, boto_exc.NoCredentialsError):
            return AccessRefused(
                f'sqs {operation}: no AWS credentials found: put them in the URL '
                f'(sqs://KEY_ID:SECRET@), set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or '
                f'configure a profile or role for the default credential chain')
        return super().translate(exc, operation, name)

    def _from_code(self, exc: BaseException, code: str, operation: str,
                   name: str | None) -> BaseException:
        where = f'sqs {operation}' + (f' {name!r}' if name is not None else '')
        text = f'{where}: {code}: {exc}'
        if code in AUTH_CODES:
            return AccessRefused(f'{text} ({_HINTS["auth"]})')
        if code in NOT_FOUND_CODES:
            return DoesNotExistQueueException(f'{text} ({_HINTS["not_found"]})')
        if code in RETRY_CODES:
            return ConnectionError(text)
        if code in LIMIT_CODES:
            return LimitExceeded(text)
        return SUBSCRIPTION_ERRORS.get(operation, ChannelError)(text)


def _build() -> SQSErrorTranslator:
    if boto_exc is None:  # pragma: no cover
        return SQSErrorTranslator('sqs')
    return SQSErrorTranslator(
        'sqs',
        connection=(boto_exc.EndpointConnectionError, boto_exc.ConnectionClosedError,
                    boto_exc.ReadTimeoutError, boto_exc.ConnectTimeoutError,
                    boto_exc.ProxyConnectionError, boto_exc.HTTPClientError),
        auth=(boto_exc.NoCredentialsError, boto_exc.PartialCredentialsError),
        channel=(boto_exc.ClientError, boto_exc.ParamValidationError),
    )


#: The translator every SQS call goes through (``with errors('receive', queue):``).
errors = _build()
