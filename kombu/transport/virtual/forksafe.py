"""Fork safety for virtual transports whose client library runs threads (kazoo,
pymongo): mixed into their ``Transport`` before :class:`virtual.Transport`.

A forked child (a prefork pool process) inherits the transport but not the client's
threads: closing the client there would wait for threads that do not exist, and
restoring the parent's unacknowledged messages from the child would duplicate them.
So in a child, closing only forgets.
"""
from __future__ import annotations

import os
from typing import Any

__all__ = ('ForkSafeTransport',)


class ForkSafeTransport:
    """``close_connection``/``_collect`` that only forget in a forked child.

    The transport calls :meth:`_owned_by_this_process` when it connects and
    implements :meth:`_forget_client` (drop the client and caches, no I/O).
    """

    _pid: int | None = None

    def _owned_by_this_process(self) -> None:
        self._pid = os.getpid()

    def _forked(self) -> bool:
        return self._pid is not None and self._pid != os.getpid()

    def _forget_client(self) -> None:
        raise NotImplementedError

    def _collect(self, connection: Any) -> None:
        """Drop the connection; after a fork without a word to the server."""
        if self._forked():
            self._abandon()
        else:
            self.close_connection(connection)  # type: ignore[attr-defined]

    def _abandon(self) -> None:
        """Forget the client, channels and unacked messages inherited from the parent."""
        transport: Any = self  # a virtual.Transport: its channel lists
        for channel in [*(transport.channels or ()), *transport._avail_channels]:
            channel.do_restore = False
            channel.closed = True
        del transport.channels[:]
        del transport._avail_channels[:]
        self._forget_client()
