"""Messages a virtual channel fetched in a batch and has not handed over yet.

``drain_events`` delivers one message per call, as Kombu's does (callers
drain once per expected message), while a store may hand over several per
fetch (the ``_get_batch`` hook).  The rest of a batch waits here, already
recorded as unacknowledged in the channel's QoS, so nothing fetched is lost
if the channel closes: a cancelled consumer's waiting messages go back to the
head of their queue.
"""
from __future__ import annotations

from collections import deque
from itertools import repeat
from typing import Callable, Iterable

from .message import Message

__all__ = ('Prefetched', 'consumer_entry_t')

#: what a channel knows of the consumer of a queue: (no_ack, callback(message)).
consumer_entry_t = tuple[bool, Callable[[Message], object]]


class Prefetched(deque[tuple[Message, str]]):
    """FIFO of ``(message, queue)`` waiting for their consumer.

    A deque (``bool``, ``popleft`` and ``append`` in C: once per delivery).
    """

    def add(self, messages: Iterable[Message], queue: str) -> None:
        """Add ``messages`` of ``queue`` after those already waiting."""
        self.extend(zip(messages, repeat(queue)))

    def take(self, queue: str | None = None) -> list[Message]:
        """Remove and return the waiting messages of ``queue`` (all if None), oldest first."""
        taken: list[Message] = []
        kept: list[tuple[Message, str]] = []
        for item in self:
            if queue is None or item[1] == queue:
                taken.append(item[0])
            else:
                kept.append(item)
        self.clear()
        self.extend(kept)
        return taken
