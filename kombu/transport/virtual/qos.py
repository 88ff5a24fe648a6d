"""Quality of service of a virtual channel: prefetch and unacknowledged messages."""
from __future__ import annotations

import atexit
import logging
import weakref
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Channel

__all__ = ('QoS', 'RESTORING_FMT', 'RESTORE_PANIC_FMT')

RESTORING_FMT = 'Restoring {0!r} unacknowledged message(s)'
RESTORE_PANIC_FMT = 'UNABLE TO RESTORE {0} MESSAGES: {1}'

logger = logging.getLogger('kombu.transport.virtual')

# Every QoS with messages in flight, restored at interpreter exit.  A WeakSet
# (not a finalizer holding a bound method) so that dropped channels are freed.
_live: weakref.WeakSet[QoS] = weakref.WeakSet()


@atexit.register
def _restore_all_at_exit() -> None:
    for qos in list(_live):
        try:
            qos.restore_unacked_once()
        except Exception:  # pragma: no cover - best effort at exit
            logger.exception('Cannot restore unacked messages at exit')


class _Delivered(dict):
    """Delivery tag -> message, in delivery order (``restored`` set once restored)."""

    restored = False


class QoS:
    """Prefetch limit and the unacknowledged messages of a channel.

    Acks may come from other threads than the consuming one: rather than a
    lock, an ack adds the tag to ``_dirty`` and the consuming thread removes
    dirty tags from ``_delivered`` on its next ``append``.

    Arguments:
        channel: the channel.
        prefetch_count: the initial prefetch limit (0 means no limit).
    """

    #: current prefetch limit (0 or None: no limit).
    prefetch_count = 0

    #: if disabled, unacked messages are not restored at shutdown.
    restore_at_shutdown = True

    def __init__(self, channel: Channel, prefetch_count: int = 0) -> None:
        self.channel = channel
        self.prefetch_count = prefetch_count or 0
        self._delivered = _Delivered()
        self._dirty: set[Any] = set()
        self._quick_ack = self._dirty.add
        self._quick_append = self._delivered.__setitem__
        _live.add(self)

    def can_consume(self) -> bool:
        """Return true if the prefetch limit allows one more delivery."""
        pcount = self.prefetch_count
        return not pcount or len(self._delivered) - len(self._dirty) < pcount

    def can_consume_max_estimate(self) -> int | None:
        """Return how many messages may be delivered now (None: no limit)."""
        pcount = self.prefetch_count
        if pcount:
            return max(pcount - (len(self._delivered) - len(self._dirty)), 0)
        return None

    def append(self, message: Any, delivery_tag: Any) -> None:
        """Track ``message`` as delivered and not yet acknowledged."""
        dirty = self._dirty
        while dirty:  # _flush, inlined: usually the one tag acked since the last delivery
            try:
                tag = dirty.pop()
            except KeyError:  # pragma: no cover - emptied by another thread
                break
            self._delivered.pop(tag, None)
        self._quick_append(delivery_tag, message)

    def get(self, delivery_tag: Any) -> Any:
        return self._delivered[delivery_tag]

    def _flush(self) -> None:
        """Forget the acked/rejected tags."""
        dirty, delivered = self._dirty, self._delivered
        while dirty:
            try:
                tag = dirty.pop()
            except KeyError:  # pragma: no cover - emptied by another thread
                break
            delivered.pop(tag, None)

    def ack(self, delivery_tag: Any) -> None:
        """Acknowledge a message: it is forgotten."""
        self._quick_ack(delivery_tag)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        """Reject a message: requeue it in front, or dead-letter/drop it."""
        message = self._delivered.get(delivery_tag)
        if message is not None and delivery_tag not in self._dirty:
            if requeue:
                self.channel._restore_at_beginning(message)
            else:
                self.channel._reject_message(message)
        self._quick_ack(delivery_tag)

    def restore_unacked(self) -> list[tuple[BaseException, Any]]:
        """Put every unacknowledged message back; return the failures."""
        self._flush()
        delivered = self._delivered
        errors = []
        restore = self.channel._restore
        # Newest first: each goes to the front, so the oldest ends up first.
        while delivered:
            try:
                tag, message = delivered.popitem()
            except KeyError:  # pragma: no cover
                break
            try:
                restore(message)
            except BaseException as exc:
                if tag not in self._dirty:  # acked meanwhile by another thread
                    errors.append((exc, message))
        delivered.clear()
        return errors

    def restore_unacked_once(self, stderr: IO[str] | None = None) -> None:
        """Restore unacknowledged messages at shutdown; later calls do nothing."""
        _live.discard(self)
        self._flush()
        state = self._delivered
        if not self.restore_at_shutdown or not self.channel.do_restore:
            return
        if state.restored:
            return
        try:
            if state:
                self._log(RESTORING_FMT.format(len(state)), stderr)
                unrestored = self.restore_unacked()
                if unrestored:
                    self._panic(unrestored, stderr)
        finally:
            state.restored = True

    def _panic(self, unrestored: list[tuple[BaseException, Any]],
               stderr: IO[str] | None) -> None:
        errors = [exc for exc, _ in unrestored]
        self._log(RESTORE_PANIC_FMT.format(len(errors), errors), stderr, logging.ERROR)
        from kombu.utils.div import emergency_dump_state
        emergency_dump_state(
            [message.serializable() for _, message in unrestored], stderr=stderr)

    @staticmethod
    def _log(text: str, stderr: IO[str] | None, level: int = logging.INFO) -> None:
        if stderr is not None:
            print(text, file=stderr)
        else:
            logger.log(level, text)

    def restore_visible(self, *args: Any, **kwargs: Any) -> None:
        """Restore messages whose visibility timeout passed (stores that have one)."""
