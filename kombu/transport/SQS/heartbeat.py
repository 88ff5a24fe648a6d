"""Visibility heartbeat: a message held long by its consumer is not delivered twice.

SQS makes a received message visible again ``visibility_timeout`` seconds after
the receive, even while its consumer is still working on it (a long task), and
another consumer then gets it too.  One daemon thread per connection extends
the visibility (``ChangeMessageVisibility``, to ``visibility_timeout`` again)
of every unacknowledged message held for more than half of it, so a message
comes back only when its consumer is gone.  Off with ``visibility_heartbeat=False``.
"""
from __future__ import annotations

import logging
import threading
from time import monotonic
from typing import Any, Callable, Iterable

__all__ = ('VisibilityHeartbeat',)

logger = logging.getLogger(__name__)


class VisibilityHeartbeat:
    """Calls ``extend(now)`` of every channel every ``interval`` seconds, in a daemon thread."""

    def __init__(self, channels: Callable[[], Iterable[Any]], visibility_timeout: int) -> None:
        self.channels = channels
        self.visibility_timeout = visibility_timeout
        # Four looks per timeout: a message is extended between 1/2 and 3/4 of it.
        self.interval = min(max(visibility_timeout / 4.0, 0.25), 60.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._run, name='kombu-sqs-heartbeat',
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def beat(self, now: float | None = None) -> None:
        """One pass over the channels (what the thread does every ``interval``)."""
        now = monotonic() if now is None else now
        for channel in list(self.channels()):
            if getattr(channel, 'closed', False):
                continue
            try:
                channel._extend_held(now)
            except Exception as exc:  # the next beat tries again; the consumer goes on
                logger.warning('sqs: could not extend the visibility of held messages: %r',
                               exc)
                logger.debug('sqs: heartbeat failure', exc_info=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()
