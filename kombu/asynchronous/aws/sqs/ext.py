"""boto3 for the asynchronous SQS client (None when it is missing)."""
from __future__ import annotations

try:
    import boto3
except ImportError:  # pragma: no cover
    boto3 = None

__all__ = ('boto3',)
