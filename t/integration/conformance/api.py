"""The sync API the conformance cases go through by default (Kombu's own classes)."""
from __future__ import annotations

from typing import Any

from kombu import Connection, Consumer, Producer


class SyncAPI:
    """Connections, producers, consumers and bound entities of :mod:`kombu`."""

    name = 'sync'

    @staticmethod
    def connection(url: str, **kwargs: Any) -> Connection:
        return Connection(url, **kwargs)

    @staticmethod
    def Consumer(channel: Any, queues: list[Any], **kwargs: Any) -> Consumer:
        return Consumer(channel, queues, **kwargs)

    @staticmethod
    def Producer(conn: Connection) -> Producer:
        return Producer(conn.default_channel)

    @staticmethod
    def bind(entity: Any, channel: Any) -> Any:
        return entity.bind(channel)
