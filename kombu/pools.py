"""Process-wide pools of connections and producers, keyed by connection settings.

``connections[conn]`` and ``producers[conn]`` return the pool for every
connection with the same settings (transport, host, user, password, vhost,
port, options); the pools are created on first use with the global limit
(:func:`set_limit`). In a forked child the groups start empty, so a child
never reuses its parent's sockets.
"""
from __future__ import annotations

import os
import threading
from itertools import chain
from typing import Any, Iterator

from .messaging import Producer
from .resource import Resource
from .utils.collections import EqualityDict, eqhash
from .utils.compat import register_after_fork
from .utils.functional import lazy

__all__ = ('ProducerPool', 'PoolGroup', 'register_group',
           'connections', 'producers', 'get_limit', 'set_limit', 'reset')

_limit = [10]
_groups: list[PoolGroup] = []

#: Sentinel: a group with this limit follows :func:`get_limit`.
use_global_limit = object()

disable_limit_protection = os.environ.get('KOMBU_DISABLE_LIMIT_PROTECTION')


def _after_fork_cleanup_group(group: PoolGroup) -> None:
    group._lock = threading.RLock()  # may have been held at fork time
    group.clear()


class ProducerPool(Resource):
    """Pool of :class:`kombu.Producer` instances, each on a pooled connection."""

    Producer = Producer
    close_after_fork = True

    def __init__(self, connections: Any, *args: Any, **kwargs: Any) -> None:
        self.connections = connections
        self.Producer = kwargs.pop('Producer', None) or self.Producer
        self._local = threading.local()
        super().__init__(*args, **kwargs)

    def acquire(self, block: bool = False, timeout: float | None = None) -> Any:
        # The wait for a connection honours the same timeout as the wait for
        # a producer (Kombu waits for the connection forever).
        self._local.timeout = timeout
        try:
            return super().acquire(block, timeout)
        finally:
            self._local.timeout = None

    def _acquire_connection(self) -> Any:
        return self.connections.acquire(
            block=True, timeout=getattr(self._local, 'timeout', None))

    def create_producer(self) -> Any:
        conn = self._acquire_connection()
        try:
            return self.Producer(conn)
        except BaseException:
            conn.release()
            raise

    def new(self) -> lazy:
        return lazy(self.create_producer)

    def setup(self) -> None:
        for _ in range(self.free_slots()):
            self._resource.put_nowait(self.new())

    def close_resource(self, resource: Any) -> None:
        pass

    def prepare(self, p: Any) -> Any:
        if callable(p):
            p = p()
        if p._channel is None:
            conn = self._acquire_connection()
            try:
                p.revive(conn)
            except BaseException:
                conn.release()
                raise
        return p

    def release(self, resource: Any) -> None:
        # The connection goes back to its pool; the producer gets a fresh one
        # (and channel) when it is next acquired.
        connection = getattr(resource, '__connection__', None)
        if connection:
            connection.release()
        resource.channel = None
        super().release(resource)


class PoolGroup(EqualityDict):
    """Collection of resource pools, one per distinct connection."""

    def __init__(self, limit: Any = None, close_after_fork: bool = True) -> None:
        self.limit = limit
        self.close_after_fork = close_after_fork
        self._lock = threading.RLock()
        if self.close_after_fork:
            register_after_fork(self, _after_fork_cleanup_group)

    def create(self, resource: Any, limit: int | None) -> Any:
        raise NotImplementedError('PoolGroups must define ``create``')

    def __missing__(self, resource: Any) -> Any:
        # Two threads asking for a new key must get the same pool.
        with self._lock:
            key = eqhash(resource)
            if dict.__contains__(self, key):
                return dict.__getitem__(self, key)
            limit = self.limit
            if limit is use_global_limit:
                limit = get_limit()
            pool = self[resource] = self.create(resource, limit)
            return pool


def register_group(group: PoolGroup) -> PoolGroup:
    """Register ``group`` so that :func:`set_limit` and :func:`reset` reach it."""
    _groups.append(group)
    return group


class Connections(PoolGroup):
    """Collection of connection pools."""

    def create(self, connection: Any, limit: int | None) -> Any:
        return connection.Pool(limit=limit)


connections = register_group(Connections(limit=use_global_limit))


class Producers(PoolGroup):
    """Collection of producer pools."""

    def create(self, connection: Any, limit: int | None) -> Any:
        return ProducerPool(connections[connection], limit=limit)


producers = register_group(Producers(limit=use_global_limit))


def _all_pools() -> Iterator[Any]:
    return chain(*(list(group.values()) for group in _groups if group))


def get_limit() -> int:
    """Get the current global pool limit."""
    return _limit[0]


def set_limit(limit: int | None, force: bool = False, reset_after: bool = False,
              ignore_errors: bool = False) -> int:
    """Set the global pool limit and resize the existing pools to it."""
    if isinstance(limit, bool):
        raise TypeError('limit must be an int, not bool')
    limit = limit or 0
    glimit = _limit[0] or 0
    if limit != glimit:
        _limit[0] = limit
        for pool in _all_pools():
            pool.resize(limit, force=force, ignore_errors=ignore_errors)
    return limit


def reset(*args: Any, **kwargs: Any) -> None:
    """Reset all pools: drop their resources and forget them."""
    for pool in _all_pools():
        try:
            pool.force_close_all()
        except Exception:
            pass
    for group in _groups:
        group.clear()
