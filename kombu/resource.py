"""Generic, thread-safe pool of reusable resources, and the connection and channel pools.

A pool with a ``limit`` keeps at most ``limit`` resources alive: the idle ones
wait in a LIFO stack (the most recently used, i.e. the one most likely still
connected, is handed out first) and the acquired ones are tracked in
``_dirty``. Without a limit nothing is pooled: every :meth:`Resource.acquire`
creates a new resource and :meth:`Resource.release` closes it.

All bookkeeping happens under one condition variable, so the limit holds
under concurrent use; the possibly slow work (creating, preparing or closing
a resource) happens outside of it.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable
from contextlib import contextmanager, suppress
from functools import partial
from queue import LifoQueue
from time import monotonic
from typing import TYPE_CHECKING, Any, Iterator

from . import exceptions
from .utils.compat import register_after_fork
from .utils.functional import lazy

if TYPE_CHECKING:
    from .connection import Connection, PooledConnection

__all__ = ('Resource', 'ConnectionPool', 'ChannelPool')


def _after_fork_cleanup_resource(resource: Resource) -> None:
    # A socket shared by two processes interleaves their frames, so a child
    # must never reuse the parent's connections: drop them (no I/O).
    with suppress(Exception):
        resource._after_fork()


def _check_limit(limit: Any) -> None:
    # bool is an int: ``limit=True`` would silently mean a pool of one.
    if isinstance(limit, bool):
        raise TypeError('limit must be an int, not bool')
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f'limit must be a non-negative int or None, not {limit!r}')


class Resource:
    """Pool of resources.

    Subclasses implement :meth:`new` (create one resource), :meth:`setup`
    (preload the idle stack) and may override :meth:`prepare`,
    :meth:`close_resource`, :meth:`release_resource` and
    :meth:`collect_resource`.
    """

    LimitExceeded: type[exceptions.LimitExceeded] = exceptions.LimitExceeded

    #: Drop (without I/O) every resource in a child process after ``fork()``.
    close_after_fork: bool = False

    def __init__(self, limit: int | None = None, preload: int | None = None,
                 close_after_fork: bool | None = None) -> None:
        _check_limit(limit)
        self._limit = limit
        self.preload = preload or 0
        self._closed = False
        self.close_after_fork = (
            close_after_fork if close_after_fork is not None else self.close_after_fork)
        # ``_resource`` (a LifoQueue) and ``_dirty`` keep Kombu's names: subclasses
        # fill ``_resource`` in setup(). Only touched while holding ``_cond``.
        self._resource: LifoQueue[Any] = LifoQueue()
        self._dirty: set[Any] = set()
        self._pending = 0  # taken from the stack, being prepared
        self._cond = threading.Condition(threading.RLock())
        if self.close_after_fork:
            register_after_fork(self, _after_fork_cleanup_resource)
        with self._cond:
            self.setup()

    # -- hooks for subclasses ------------------------------------------------

    def setup(self) -> None:
        raise NotImplementedError('subclass responsibility')

    def new(self) -> Any:
        raise NotImplementedError('subclass responsibility')

    def prepare(self, resource: Any) -> Any:
        return resource

    def close_resource(self, resource: Any) -> None:
        resource.close()

    def release_resource(self, resource: Any) -> None:
        pass

    def collect_resource(self, resource: Any) -> None:
        pass

    # -- public API ------------------------------------------------------------

    def acquire(self, block: bool = False, timeout: float | None = None) -> Any:
        """Take a resource from the pool.

        Arguments:
            block: wait for a resource to be released when the limit is reached.
            timeout: how long to wait (seconds) when ``block`` is true;
                ``None`` waits forever.

        Raises:
            LimitExceeded: the limit is reached and ``block`` is false, or no
                resource was released within ``timeout``.
            RuntimeError: the pool was closed by :meth:`force_close_all`.
        """
        if not self.limit:
            self._check_open()
            resource = self.prepare(self.new())
        else:
            taken = self._take(block, timeout)
            try:
                resource = self.prepare(taken)
            except BaseException:
                self._put_back(taken)
                raise
            with self._cond:
                self._pending -= 1
                self._dirty.add(resource)
        # ``resource.release()`` hands it back instead of closing it.
        resource.release = partial(self.release, resource)
        return resource

    def release(self, resource: Any) -> None:
        """Give ``resource`` back to the pool (close it when there is no limit).

        Releasing a resource twice, or one the pool no longer tracks (it was
        replaced, or dropped after a fork or resize), does nothing: the pool
        never hands the same resource to two users.
        """
        with self._cond:
            known = resource in self._dirty
            self._dirty.discard(resource)
            pooled = bool(self.limit) and known
            if pooled:
                self._resource.put_nowait(resource)
                self._cond.notify()
        if pooled:
            self.release_resource(resource)
        elif not self.limit:
            self.close_resource(resource)

    def replace(self, resource: Any) -> None:
        """Close a defective ``resource``; a fresh one is created when needed."""
        if self.limit:
            with self._cond:
                self._dirty.discard(resource)
                self._cond.notify()
        self.close_resource(resource)

    def force_close_all(self, close_pool: bool = True) -> None:
        """Drop every resource, idle and in use (used after fork and on reset).

        Resources are *collected* (references dropped without talking to the
        server), not closed. With ``close_pool`` false the pool stays usable.
        """
        if self._closed:
            return
        with self._cond:
            self._closed = close_pool
            victims = list(self._dirty) + list(self._resource.queue)
            self._dirty.clear()
            self._resource.queue.clear()
            self._cond.notify_all()
        self._collect_all(victims)

    def resize(self, limit: int | None, force: bool = False,
               ignore_errors: bool = False, reset: bool = False) -> None:
        """Change the limit; shrinking a pool in use needs ``force``."""
        _check_limit(limit)
        limit = limit or 0
        with self._cond:
            prev_limit = self._limit or 0
            if self._dirty and 0 < limit < prev_limit and not ignore_errors:
                if not force:
                    raise RuntimeError(
                        f"Can't shrink pool when in use: was={prev_limit} now={limit}")
                reset = True
            self._limit = limit
            self._cond.notify_all()
        if reset:
            with suppress(Exception):
                self.force_close_all(close_pool=False)
        with self._cond:
            self.setup()
            dropped = self._shrink_down() if limit < prev_limit else []
        if limit > 0:
            self._collect_all(dropped)

    @property
    def limit(self) -> int | None:
        return self._limit

    @limit.setter
    def limit(self, limit: int | None) -> None:
        self.resize(limit)

    def stats(self) -> dict[str, Any]:
        """Counts for monitoring: the limit, resources in use and idle."""
        with self._cond:
            return {'limit': self._limit, 'in_use': self._in_use(),
                    'idle': len(self._resource.queue), 'closed': self._closed}

    # -- internals ---------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError('Acquire on closed pool')

    def _take(self, block: bool, timeout: float | None) -> Any:
        deadline = None if timeout is None else monotonic() + timeout
        with self._cond:
            while True:
                self._check_open()
                queue = self._resource.queue
                if queue:
                    self._pending += 1
                    return queue.pop()
                if self._in_use() < (self.limit or 0):
                    # capacity left (e.g. after replace()): make one more
                    self._pending += 1
                    return self.new()
                remaining = None if deadline is None else deadline - monotonic()
                if not block or (remaining is not None and remaining <= 0):
                    raise self._limit_exceeded()
                self._cond.wait(remaining)

    def _limit_exceeded(self) -> Exception:
        # args stay (limit,) as in Kombu; the note (shown in tracebacks) says which pool.
        exc = self.LimitExceeded(self.limit)
        if hasattr(exc, 'add_note'):  # Python 3.11+
            exc.add_note(f'{type(self).__name__}: all {self.limit} resources are in use; '
                         f'release one or raise the limit')
        return exc

    def _in_use(self) -> int:
        return len(self._dirty) + self._pending

    def free_slots(self) -> int:
        """How many more idle resources fit under the limit (for :meth:`setup`)."""
        with self._cond:
            return max((self.limit or 0) - len(self._resource.queue) - self._in_use(), 0)

    def _put_back(self, resource: Any) -> None:
        # prepare() failed: keep the slot so the pool doesn't shrink.
        with self._cond:
            self._pending -= 1
            self._resource.put_nowait(resource)
            self._cond.notify()

    def _shrink_down(self) -> list[Any]:
        # Must hold ``_cond``. Resources in use are never taken away.
        queue, dropped = self._resource.queue, []
        while queue and len(queue) + self._in_use() > (self.limit or 0):
            dropped.append(queue.pop(0))  # oldest first: least likely to be warm
        return dropped

    def _collect_all(self, resources: Iterable[Any]) -> None:
        for resource in resources:
            with suppress(Exception):  # lazy or half-built resources
                self.collect_resource(resource)

    def _after_fork(self) -> None:
        # The lock may have been held by another parent thread at fork time.
        self._cond = threading.Condition(threading.RLock())
        victims = list(self._dirty) + list(self._resource.queue)
        self._dirty.clear()
        self._pending = 0
        self._resource = LifoQueue()
        self._collect_all(victims)
        if not self._closed:
            with self._cond:
                self.setup()


class ConnectionPool(Resource):
    """Pool of connections."""

    LimitExceeded = exceptions.ConnectionLimitExceeded
    close_after_fork = True

    def __init__(self, connection: Connection, limit: int | None = None,
                 **kwargs: Any) -> None:
        self.connection = connection
        super().__init__(limit=limit)

    def new(self) -> PooledConnection:
        from .connection import PooledConnection
        return PooledConnection(self, **dict(self.connection._info(resolve=False)))

    def release_resource(self, resource: Any) -> None:
        if not isinstance(resource, lazy):
            resource._debug('released')

    def close_resource(self, resource: Any) -> None:
        if not isinstance(resource, lazy):
            resource._close()

    def collect_resource(self, resource: Any, socket_timeout: float = 0.1) -> None:
        if not isinstance(resource, lazy):
            return resource.collect(socket_timeout)

    @contextmanager
    def acquire_channel(self, block: bool = False) -> Iterator[tuple[Connection, Any]]:
        with self.acquire(block=block) as connection:
            yield connection, connection.default_channel

    def setup(self) -> None:
        for _ in range(self.free_slots()):
            self._resource.put_nowait(lazy(self.new))

    def prepare(self, resource: Any) -> Any:
        if callable(resource):
            resource = resource()
        resource._debug('acquired')
        return resource


class ChannelPool(Resource):
    """Pool of channels."""

    LimitExceeded = exceptions.ChannelLimitExceeded

    def __init__(self, connection: Connection, limit: int | None = None,
                 **kwargs: Any) -> None:
        self.connection = connection
        super().__init__(limit=limit)

    def new(self) -> lazy:
        return lazy(self.connection.channel)

    def setup(self) -> None:
        for _ in range(self.free_slots()):
            self._resource.put_nowait(self.new())

    def prepare(self, channel: Any) -> Any:
        if callable(channel):
            channel = channel()
        return channel
