"""The botocore names the asynchronous AWS clients use (None when boto3 is missing)."""
from __future__ import annotations

from typing import Any

try:
    import boto3
    from botocore import exceptions
    from botocore.awsrequest import AWSRequest
    from botocore.httpsession import get_cert_path
    from botocore.response import get_response
except ImportError:  # pragma: no cover - boto3 is an optional dependency
    boto3 = None

    class _VoidExceptions:
        class BotoCoreError(Exception):
            pass

        class ClientError(Exception):
            pass

    exceptions: Any = _VoidExceptions  # type: ignore[no-redef]
    AWSRequest = get_response = get_cert_path = None  # type: ignore[assignment,misc]

__all__ = ('exceptions', 'AWSRequest', 'get_response', 'get_cert_path')
