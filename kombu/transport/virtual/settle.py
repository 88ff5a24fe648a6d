"""For stores that keep a received message until the client settles it (Service Bus
peek-lock, SLMQ visibility): the channel hooks that settle it at the right moments.

The channel implements ``_settle(delivery_tag, action)`` (``'complete'``: the message is
done with, remove it from the store) and fills ``_noack_queues``; the mixin calls it when
a message is acknowledged, taken with ``no_ack``, or rejected, expired or pushed out by
``x-max-length`` (after the base has dead-lettered it).
"""
from __future__ import annotations

from typing import Any

__all__ = ('SettleOnAckMixin',)


class SettleOnAckMixin:
    """Mix in before :class:`~kombu.transport.virtual.Channel`."""

    _noack_queues: set[str]
    _consumers: set[str]
    _tag_to_queue: dict[str, str]

    def _settle(self, tag: Any, action: str = 'complete') -> None:
        raise NotImplementedError

    def basic_consume(self, queue: str, no_ack: bool, *args: Any, **kwargs: Any) -> str:
        if no_ack:   # received so that nothing needs settling (receive-and-delete...)
            self._noack_queues.add(queue)
        return super().basic_consume(queue, no_ack, *args, **kwargs)  # type: ignore[misc]

    def basic_cancel(self, consumer_tag: str) -> None:
        if consumer_tag in self._consumers:
            self._noack_queues.discard(self._tag_to_queue[consumer_tag])
        super().basic_cancel(consumer_tag)  # type: ignore[misc]

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)  # type: ignore[misc]
        if message is not None and no_ack:
            self._settle(message.delivery_tag)
        return message

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        self._settle(delivery_tag)
        super().basic_ack(delivery_tag, multiple)  # type: ignore[misc]

    def _dead_letter(self, queue: str | None, message: dict[str, Any], reason: str) -> None:
        # Rejected, expired or pushed out by x-max-length: routed on first, then settled.
        super()._dead_letter(queue, message, reason)  # type: ignore[misc]
        self._settle(message['properties'].get('delivery_tag'))
