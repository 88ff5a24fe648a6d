"""redis-py's exceptions as :mod:`kombu.exceptions` kinds, at the transport boundary.

The channel's command funnels (``_execute``, ``_run``, the BRPOP and LISTEN
reads, the first PING) raise what :data:`errors` makes of a redis-py error:

* refused credentials or permissions (``AuthenticationError``, ``WRONGPASS``,
  ``NOAUTH``, ``NOPERM``) -> :class:`~kombu.exceptions.AccessRefused`: a
  connection error that retrying cannot fix, so ``ensure`` gives up at once;
* a lost, timed-out, loading (``LOADING``) or read-only (``READONLY``: a
  demoted master after a failover) server -> :class:`RedisConnectionError`,
  a :class:`~kombu.exceptions.ConnectionError` and an
  :class:`~kombu.exceptions.OperationalError`, so a new connection is tried;
* ``OOM`` (``maxmemory`` reached) -> :class:`~kombu.exceptions.LimitExceeded`,
  a channel error: the connection is fine, the write was refused.

Other Redis replies (``WRONGTYPE``, a script error...) stay redis-py's
``ResponseError``, one of the transport's ``channel_errors`` as in Kombu.
The original is chained (``raise ... from exc``).
"""
from __future__ import annotations

import socket
from typing import NoReturn

from redis import exceptions as rexc

from kombu.exceptions import (
    AccessRefused,
    ChannelError,
    ConnectionError,
    InconsistencyError,
    LimitExceeded,
    OperationalError,
)
from kombu.transport.virtual.errors import ErrorTranslator, ErrorTypes

__all__ = ('RedisConnectionError', 'RedisErrorTranslator', 'errors', 'LOST', 'reraise',
           'connection_errors', 'channel_errors')


class RedisConnectionError(ConnectionError, OperationalError):
    """The connection to Redis failed (lost, timed out, server loading or read-only)."""


#: reply prefixes that mean the credentials or permissions are refused
_AUTH_REPLIES = ('WRONGPASS', 'NOAUTH', 'NOPERM', 'invalid password', 'invalid username')
#: reply prefixes that mean "ask another (or a later) server"
_RECONNECT_REPLIES = ('READONLY', 'LOADING', 'MASTERDOWN')


class RedisErrorTranslator(ErrorTranslator):
    """:class:`ErrorTranslator` that also reads the error code of a Redis reply."""

    def translate(self, exc: BaseException, operation: str = '',
                  name: str | None = None) -> BaseException | None:
        if type(exc) is rexc.ResponseError:  # a reply redis-py did not classify
            text = str(exc)
            if text.startswith(_AUTH_REPLIES):
                return AccessRefused(self._describe(exc, operation, name))
            if text.startswith(_RECONNECT_REPLIES):
                return RedisConnectionError(self._describe(exc, operation, name))
            if text.startswith('OOM'):
                return LimitExceeded(self._describe(exc, operation, name))
            return None
        translated = super().translate(exc, operation, name)
        if type(translated) is ConnectionError:
            return RedisConnectionError(str(translated))
        return translated

    def _describe(self, exc: BaseException, operation: str, name: str | None) -> str:
        where = self.transport_name + (f' {operation}' if operation else '')
        if name is not None:
            where += f' {name!r}'
        return f'{where}: {type(exc).__name__}: {exc}'


errors = RedisErrorTranslator(
    'redis',
    auth=(rexc.AuthenticationError, rexc.AuthorizationError, rexc.NoPermissionError,
          rexc.AuthenticationWrongNumberOfArgsError),
    connection=(rexc.ConnectionError, rexc.TimeoutError, rexc.ReadOnlyError,
                rexc.MasterDownError),
    limit=(rexc.OutOfMemoryError,),
)

#: a failed connection, raw (redis-py, the socket) or translated: what code
#: that keeps work for the next connection (acks) catches.
LOST: ErrorTypes = (rexc.ConnectionError, rexc.TimeoutError, OSError, ConnectionError)

#: the raw redis-py kinds still reach callers from paths outside the
#: channel's funnels (the lease thread's pooled client, redis-py's own pub/sub
#: bookkeeping), so they stay listed next to the translated ones.
_RAW_CONNECTION: ErrorTypes = (
    InconsistencyError, socket.error, IOError, OSError, rexc.ConnectionError,
    rexc.BusyLoadingError, rexc.AuthenticationError, rexc.TimeoutError,
    # a stale fd firing for a dropped channel after a broker restart must make
    # the consumer reconnect, not die
    KeyError,
)
_RAW_CHANNEL: ErrorTypes = (
    getattr(rexc, 'InvalidData', rexc.DataError), rexc.InvalidResponse, rexc.ResponseError,
)


def reraise(exc: BaseException, operation: str = '') -> NoReturn:
    """Raise kombu's kind of ``exc`` (chained), or ``exc`` itself if it has none."""
    translated = errors.translate(exc, operation)
    if translated is None:
        raise exc
    raise translated from exc


def connection_errors(base: ErrorTypes) -> ErrorTypes:
    """``Transport.connection_errors``: ``base``, the translated kinds, the raw ones."""
    return _unique(base + (RedisConnectionError, AccessRefused) + _RAW_CONNECTION)


def channel_errors(base: ErrorTypes) -> ErrorTypes:
    """``Transport.channel_errors``: ``base``, ``LimitExceeded`` (OOM), the raw ones."""
    return _unique(base + (ChannelError, LimitExceeded) + _RAW_CHANNEL)


def _unique(kinds: ErrorTypes) -> ErrorTypes:
    return tuple(dict.fromkeys(kinds))
