"""Asynchronous AWS clients on the event loop (:class:`~kombu.asynchronous.Hub`).

Requests are built and signed by botocore (so credentials, refreshable ones
included, and endpoints are boto3's) and sent through :mod:`kombu.asynchronous.http`
(the urllib3 client: threads, pooled connections, no native build dependency);
callbacks run on the hub.
"""
from __future__ import annotations

from typing import Any

__all__ = ('connect_sqs',)


def connect_sqs(aws_access_key_id: str | None = None, aws_secret_access_key: str | None = None,
                **kwargs: Any) -> Any:
    """An :class:`~kombu.asynchronous.aws.sqs.connection.AsyncSQSConnection`.

    ``region``, ``endpoint_url`` and ``aws_session_token`` in ``kwargs`` go to the
    boto3 client it signs with; the rest to the connection.
    """
    from .ext import boto3
    from .sqs.connection import AsyncSQSConnection
    if boto3 is None:
        raise ImportError('connect_sqs needs boto3 (pip install "kombu[sqs]")')
    region = kwargs.pop('region', None) or 'us-east-1'
    client = boto3.client(
        'sqs', region_name=region, aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        aws_session_token=kwargs.pop('aws_session_token', None),
        endpoint_url=kwargs.pop('endpoint_url', None))
    return AsyncSQSConnection(client, region=region, **kwargs)
