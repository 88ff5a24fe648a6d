"""LISTEN/NOTIFY wake-ups of PGMQ consumers (the ``use_notify`` option).

``pgmq.enable_notify_insert`` puts a trigger on a queue table that NOTIFYs
``pgmq.q_<queue>.INSERT`` when a message is inserted, at most once per
throttle interval.  A :class:`NotifyListener` holds one autocommit connection
LISTENing to the consumed queues and blocks on its socket until a notification
or a deadline, so an idle consumer issues no reads.

Inserts within the throttle interval after a notification send none: after a
wake-up the next wait ends when the interval has passed, so the consumer reads
once more and finds them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from time import monotonic
from typing import Any

__all__ = ('NotifyListener', 'channel_name')


def channel_name(queue: str) -> str:
    """The NOTIFY channel of the PGMQ queue ``queue`` (its table name is lower case)."""
    return f'pgmq.q_{queue.lower()}.INSERT'


class NotifyListener:
    """One LISTEN connection for the queues a transport consumes.

    Arguments:
        connect: returns a new autocommit psycopg connection.
        throttle_ms: the notify throttle interval of the queues.
    """

    def __init__(self, connect: Callable[[], Any], throttle_ms: int) -> None:
        self._connect = connect
        self._throttle = throttle_ms / 1000.0
        self._conn: Any = None
        self._listening: set[str] = set()
        #: monotonic time after which the inserts a throttle silenced are readable.
        self._recheck_at: float | None = None
        #: notifications received (for tests and benchmarks).
        self.received = 0

    @property
    def listening(self) -> frozenset[str]:
        return frozenset(self._listening)

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def throttle(self) -> float:
        """The throttle interval, in seconds."""
        return self._throttle

    def fileno(self) -> int:
        return int(self._connection().fileno())

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self._connect()
            self._listening.clear()
        return self._conn

    def listen(self, queues: Iterable[str]) -> bool:
        """LISTEN to exactly ``queues``; true if one was added (read it before waiting)."""
        from psycopg import sql
        wanted = set(queues)
        conn = self._connection()
        for queue in self._listening - wanted:
            conn.execute(sql.SQL('UNLISTEN {}').format(sql.Identifier(channel_name(queue))))
            self._listening.discard(queue)
        added = wanted - self._listening
        for queue in added:
            conn.execute(sql.SQL('LISTEN {}').format(sql.Identifier(channel_name(queue))))
            self._listening.add(queue)
        return bool(added)

    def wait(self, timeout: float) -> bool:
        """Block until a notification or ``timeout`` seconds; true if one came."""
        now = monotonic()
        if self._recheck_at is not None:
            if now >= self._recheck_at:
                self._recheck_at = None
            else:
                timeout = min(timeout, self._recheck_at - now)
        got = 0
        for _ in self._connection().notifies(timeout=max(timeout, 0.0), stop_after=1):
            got += 1
        if got:
            self.received += got
            self._recheck_at = monotonic() + self._throttle
        return bool(got)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        self._listening.clear()
        self._recheck_at = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # pragma: no cover - closing a broken connection
                pass
