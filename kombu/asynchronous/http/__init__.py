"""Event-loop HTTP clients (used by the SQS transport)."""

from __future__ import annotations

from typing import Any

from kombu.asynchronous import get_event_loop
from kombu.asynchronous.hub import Hub

from .base import BaseClient, Headers, Request, Response

__all__ = ('Client', 'Headers', 'Response', 'Request', 'BaseClient', 'get_client')


def Client(hub: Hub | None = None, **kwargs: Any) -> BaseClient:
    """Create a new HTTP client for ``hub`` (default: the current loop).

    pycurl's multi-socket client when pycurl is installed and a hub drives it
    (fewer threads, curl's connection reuse); otherwise the urllib3 client,
    which needs no native build.
    """
    if (hub or get_event_loop()) is not None:
        from .curl import CurlClient, pycurl
        if pycurl is not None:
            return CurlClient(hub, **kwargs)
    from .urllib3_client import Urllib3Client
    return Urllib3Client(hub, **kwargs)


_loopless_client: BaseClient | None = None


def get_client(hub: Hub | None = None, **kwargs: Any) -> BaseClient:
    """Return the HTTP client of ``hub`` (default: the current loop), made once.

    Without any event loop, one shared client runs callbacks in its threads.
    """
    global _loopless_client
    hub = hub or get_event_loop()
    if hub is None:
        if _loopless_client is None:
            _loopless_client = Client(None, **kwargs)
        return _loopless_client
    try:
        return hub._current_http_client  # type: ignore[attr-defined]
    except AttributeError:
        client = hub._current_http_client = Client(hub, **kwargs)  # type: ignore[attr-defined]
        return client
