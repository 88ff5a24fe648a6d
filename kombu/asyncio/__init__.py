"""Native asyncio API over the same transports and wire format as the sync one.

``kombu.asyncio`` (not :mod:`kombu.asynchronous`, Kombu's callback event
loop) gives ``async``/``await`` versions of the connection, producer,
consumer and simple queue.  Entities, serialization, compression and routing
are the sync implementation; only the transport calls are awaited.  See
``docs/userguide/asyncio.rst`` for which transports run natively.
"""
from __future__ import annotations

from kombu.entity import Exchange, Queue

from .connection import AsyncChannel, AsyncConnection
from .messaging import AsyncConsumer, AsyncMessage, AsyncProducer
from .runner import InlineRunner, Runner, ThreadRunner
from .simple import AsyncSimpleQueue

__all__ = (
    'AsyncConnection', 'AsyncChannel', 'AsyncProducer', 'AsyncConsumer',
    'AsyncMessage', 'AsyncSimpleQueue', 'Exchange', 'Queue',
    'Runner', 'InlineRunner', 'ThreadRunner',
)
