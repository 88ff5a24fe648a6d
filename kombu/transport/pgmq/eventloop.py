"""pgmq:// consumers in an event loop (:class:`~kombu.asynchronous.Hub`), with ``use_notify``.

The LISTEN connection's socket is a reader of the loop: a notification drains
the consumed queues without blocking, and so does a timer every
``wait_time_seconds`` (for messages visible again without an insert) and the
end of each throttle interval after a notification.  Each loop tick keeps the
LISTEN set and the reader in step with the consumers, and drains again when a
prefetch limit that stopped reading has room.
"""
from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

__all__ = ('NotifyEventLoopMixin',)

#: most messages one drain delivers before giving the loop back.
DRAIN_BATCH = 100


class NotifyEventLoopMixin:
    """``register_with_event_loop`` for the PGMQ transport (mixed into it)."""

    _loop: Any = None
    _reader_fd: int | None = None
    #: a drain ended with messages possibly left, held back by a prefetch limit.
    _held_back = False

    if TYPE_CHECKING:   # provided by the transport
        client: Any
        options: Any
        polling_interval: float | None
        _waiting_queues: Callable[[], list[Any]]
        _listen_to: Callable[[list[Any]], bool]
        _notify_listener: Callable[[], Any]
        _consumers_held_back: Callable[[], bool]
        drain_events: Callable[..., None]

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        self._loop = loop
        self._reader_fd = None
        loop.on_tick.add(self._on_tick)
        period = self.options.wait_time_seconds or self.polling_interval or 1.0
        loop.call_repeatedly(period, self._drain_now)

    def _on_tick(self) -> None:
        loop = self._loop
        waiting = self._waiting_queues()
        if waiting and self._listen_to(waiting):
            self._drain_now()   # newly listening: a message may predate LISTEN
        listener = self._notify_listener()
        if listener.connected:
            fd = listener.fileno()
            if fd != self._reader_fd:
                if self._reader_fd is not None:
                    loop.remove_reader(self._reader_fd)
                loop.add_reader(fd, self._on_notify)
                self._reader_fd = fd
        if self._held_back and waiting:
            self._drain_now()

    def _on_notify(self) -> None:
        listener = self._notify_listener()
        if listener.wait(0):
            self._drain_now()
            # Inserts in the throttle interval notify nobody: read once it is over.
            self._loop.call_later(listener.throttle, self._drain_now)

    def _drain_now(self) -> None:
        self._held_back = False
        for _ in range(DRAIN_BATCH):
            try:
                self.drain_events(self.client, timeout=0)
            except socket.timeout:
                self._held_back = self._consumers_held_back()
                return
        self._loop.call_soon(self._drain_now)   # more may wait: let the loop run first
