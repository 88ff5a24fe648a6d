"""Kombu's STS helper methods of the SQS channel.

The transport itself never calls them: with ``sts_role_arn`` its clients sign with
botocore's refreshable credentials (:mod:`kombu.transport.SQS.client`), renewed
before they expire.  They stay for code written against Kombu's channel.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Mapping

from .client import boto3

if TYPE_CHECKING:
    from .options import SQSOptions

__all__ = ('StsHelpers',)


class StsHelpers:
    """``is_sts_token_refresh_required`` and the ``generate_sts_session_token*`` family."""

    options: SQSOptions

    @staticmethod
    def is_sts_token_refresh_required(name: Any, client_map: Mapping[str, Any],
                                      expire_time: datetime | None = None) -> bool:
        """True when a token expiring at ``expire_time`` (or a missing client) needs a new one."""
        if expire_time is None or not client_map.get(name):
            return True
        if expire_time.tzinfo is None:
            expire_time = expire_time.replace(tzinfo=timezone.utc)
        return expire_time <= datetime.now(timezone.utc)

    @staticmethod
    def generate_sts_session_token(role_arn: str, token_expiry_seconds: int) -> dict[str, Any]:
        """Assume ``role_arn``; STS's ``Credentials`` (key, secret, token, expiration)."""
        answer = boto3.client('sts').assume_role(
            RoleArn=role_arn, RoleSessionName='Celery', DurationSeconds=token_expiry_seconds)
        return dict(answer['Credentials'])

    def generate_sts_session_token_with_buffer(self, role_arn: str, token_expiry_seconds: int,
                                               token_buffer_seconds: int = 0
                                               ) -> dict[str, Any]:
        """As :meth:`generate_sts_session_token`, the expiration ``token_buffer_seconds``
        earlier (when that leaves some lifetime)."""
        credentials = self.generate_sts_session_token(role_arn, token_expiry_seconds)
        if 0 < token_buffer_seconds < token_expiry_seconds:
            credentials['Expiration'] -= timedelta(seconds=token_buffer_seconds)
        return credentials

    def get_sts_credentials(self) -> dict[str, Any]:
        options = self.options
        if not options.sts_role_arn:
            raise ValueError('get_sts_credentials needs the sts_role_arn transport option')
        return self.generate_sts_session_token_with_buffer(
            options.sts_role_arn, options.sts_token_timeout, options.sts_token_buffer_time)
