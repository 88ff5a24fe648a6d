"""Bounded teardown: no read of a closing channel waits for a peer that went silent.

A Redis peer can vanish without a FIN or RST (a suspended VM, a firewall
dropping the flow).  redis-py's sockets have no timeout by default
(``socket_timeout=None``, Kombu's default, kept), so every read a close makes
-- ``CLIENT UNBLOCK`` for a pending BRPOP, that BRPOP's reply, the replies of
acks in flight, the restore of unacked messages -- would wait forever.
When a channel starts closing, the timeouts of the sockets it holds (and of
any it opens while closing) are capped at :func:`teardown_timeout`; normal
operation is never affected.
"""
from __future__ import annotations

import socket
from typing import Any, Iterable

__all__ = ('TEARDOWN_TIMEOUT', 'teardown_timeout', 'cap_connection', 'cap_pool')

#: Longest a single read or connect of a closing channel waits (seconds).
TEARDOWN_TIMEOUT = 2.0


def teardown_timeout() -> float:
    """:data:`TEARDOWN_TIMEOUT`, or less inside ``Connection.collect(socket_timeout=...)``.

    ``collect`` lowers the process's default socket timeout while it closes,
    which only reaches sockets opened from then on: this hands the same bound
    to the sockets already open.
    """
    default = socket.getdefaulttimeout()
    if default is not None and 0 < default < TEARDOWN_TIMEOUT:
        return default
    return TEARDOWN_TIMEOUT


def _capped(current: float | None, limit: float) -> float:
    return limit if current is None or current <= 0 else min(current, limit)


def cap_connection(conn: Any, limit: float) -> None:
    """Cap one redis-py connection's timeouts, its open socket's too."""
    if conn is None:
        return
    # on the connection object: redis-py re-applies socket_timeout after reads
    # with their own timeout, and to the socket of a reconnect
    conn.socket_timeout = _capped(conn.socket_timeout, limit)
    if hasattr(conn, 'socket_connect_timeout'):
        conn.socket_connect_timeout = _capped(conn.socket_connect_timeout, limit)
    sock = getattr(conn, '_sock', None)
    if sock is not None:
        try:
            sock.settimeout(conn.socket_timeout)
        except OSError:  # already closed
            pass


def cap_pool(pool: Any, limit: float) -> None:
    """Cap the timeouts of ``pool``'s connections, and of those it makes later."""
    if pool is None:
        return
    kwargs = getattr(pool, 'connection_kwargs', None)
    if isinstance(kwargs, dict):
        kwargs['socket_timeout'] = _capped(kwargs.get('socket_timeout'), limit)
        if 'path' not in kwargs:  # unix sockets take no connect timeout
            kwargs['socket_connect_timeout'] = _capped(
                kwargs.get('socket_connect_timeout'), limit)
    for conn in _pooled(pool):
        cap_connection(conn, limit)


def _pooled(pool: Any) -> Iterable[Any]:
    # redis-py keeps these private; a pool without them has nothing open to cap
    available = getattr(pool, '_available_connections', None) or ()
    in_use = getattr(pool, '_in_use_connections', None) or ()
    return [*available, *in_use]
