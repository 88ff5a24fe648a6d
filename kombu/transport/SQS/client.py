"""boto3 clients of an SQS connection: one per credential set, built once, shared by channels.

Credentials, in order: ``predefined_queues[name]`` keys for that queue, the
``sqs://KEY_ID:SECRET@`` URL, else boto3's default chain (environment, profile,
instance role...).  With ``sts_role_arn`` those credentials only assume the
role: the clients sign with botocore *refreshable* credentials, renewed by
botocore itself ``sts_token_buffer_time`` seconds (at least its own advisory
window) before they expire, so no request goes out with an expired token.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from .options import DEFAULT_REGION, SQSOptions

try:
    import boto3
    from botocore.config import Config
    from botocore.credentials import RefreshableCredentials
    from botocore.session import Session as BotocoreSession
except ImportError:  # pragma: no cover - the client library is optional
    boto3 = None

__all__ = ('ClientFactory', 'sts_refresher', 'boto3')

STS_SESSION_NAME = 'Celery'


def _credential_parts(userid: str | None, password: str | None) -> tuple[str | None, str | None]:
    # Connection has URL-unquoted them already ('/' and '+' in a secret are quoted).
    return (userid or None, password or None)


def sts_refresher(make_sts: Callable[[], Any], role_arn: str,
                  duration: int, buffer: int = 0) -> Callable[[], dict[str, str]]:
    """A botocore ``refresh_using`` callable: assume ``role_arn``, return its metadata.

    ``buffer`` seconds are taken off the reported expiry, so botocore renews that
    much earlier than its own advisory window.
    """
    def refresh() -> dict[str, str]:
        answer = make_sts().assume_role(RoleArn=role_arn, RoleSessionName=STS_SESSION_NAME,
                                        DurationSeconds=duration)
        creds = answer['Credentials']
        expiry = creds['Expiration']
        if isinstance(expiry, str):
            expiry = datetime.fromisoformat(expiry.replace('Z', '+00:00'))
        if expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=timezone.utc)
        expiry -= timedelta(seconds=buffer)
        return {'access_key': creds['AccessKeyId'], 'secret_key': creds['SecretAccessKey'],
                'token': creds['SessionToken'], 'expiry_time': expiry.isoformat()}
    return refresh


class ClientFactory:
    """Builds and caches the boto3 clients (``sqs``, ``sns``, ``sts``) of one connection."""

    def __init__(self, options: SQSOptions, userid: str | None, password: str | None,
                 endpoint_url: str | None) -> None:
        if boto3 is None:
            raise ImportError('the SQS transport needs boto3 (pip install "kombu[sqs]")')
        self.options = options
        self.key_id, self.secret = _credential_parts(userid, password)
        self.endpoint_url = endpoint_url
        self._clients: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    @property
    def region(self) -> str:
        return (self.options.region or boto3.Session().region_name or DEFAULT_REGION)

    def client(self, service: str = 'sqs', queue: Mapping[str, Any] | None = None) -> Any:
        """The client for ``service``; ``queue``: a ``predefined_queues`` entry."""
        queue = queue or {}
        key_id = queue.get('access_key_id', self.key_id)
        secret = queue.get('secret_access_key', self.secret)
        token = queue.get('session_token', self.options.session_token)
        region = queue.get('region', self.region)
        cache_key = (service, key_id, region, id(queue) if queue else None)
        client = self._clients.get(cache_key)
        if client is None:
            with self._lock:
                client = self._clients.get(cache_key)
                if client is None:
                    client = self._clients[cache_key] = self._new_client(
                        service, region, key_id, secret, token)
        return client

    def _session(self, region: str, key_id: str | None, secret: str | None,
                 token: str | None) -> Any:
        session = boto3.Session(region_name=region, aws_access_key_id=key_id,
                                aws_secret_access_key=secret, aws_session_token=token)
        role = self.options.sts_role_arn
        if not role:
            return session
        refresh = sts_refresher(
            lambda: session.client('sts', **self._client_kwargs()), role,
            self.options.sts_token_timeout, self.options.sts_token_buffer_time)
        credentials = RefreshableCredentials.create_from_metadata(
            metadata=refresh(), refresh_using=refresh, method='sts-assume-role')
        core = BotocoreSession()
        core._credentials = credentials  # the documented way to hand botocore credentials
        return boto3.Session(botocore_session=core, region_name=region)

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.endpoint_url:
            kwargs['endpoint_url'] = self.endpoint_url
        if self.options.is_secure is not None:
            kwargs['use_ssl'] = self.options.is_secure
        kwargs['config'] = Config(**dict(self.options.client_config or {}))
        return kwargs

    def _new_client(self, service: str, region: str, key_id: str | None,
                    secret: str | None, token: str | None) -> Any:
        session = self._session(region, key_id, secret, token)
        return session.client(service, **self._client_kwargs())
