"""Isolated memory transports for channel-level tests (no shared global state)."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kombu.transport import memory
from kombu.transport.virtual import BrokerState


def make_transport(**transport_options: Any) -> memory.Transport:
    """A memory transport with its own broker state and queues."""

    class Channel(memory.Channel):
        queues: dict = {}

    class Transport(memory.Transport):
        global_state = BrokerState()

    Transport.Channel = Channel
    client = SimpleNamespace(transport_options=dict(transport_options), virtual_host='/')
    transport = Transport(client)
    transport.establish_connection()
    return transport


def publish(channel: Any, body: Any, exchange: str = '', routing_key: str = '',
            priority: int | None = None, headers: dict | None = None,
            **properties: Any) -> dict:
    """Publish like Producer.publish does; return the envelope."""
    message = channel.prepare_message(
        body, priority, 'application/data', 'binary', headers, properties)
    channel.basic_publish(message, exchange=exchange, routing_key=routing_key)
    return message


def bodies(channel: Any, queue: str, ack: bool = True) -> list:
    """Get every message of ``queue`` with basic_get; return the bodies."""
    result = []
    while True:
        message = channel.basic_get(queue)
        if message is None:
            return result
        if ack:
            message.ack()
        result.append(message.body)
