"""Translation of a client library's exceptions into :mod:`kombu.exceptions`, at the boundary.

Each transport builds one :class:`ErrorTranslator` naming which of its client
library's exception classes mean what, and wraps every call into the library
with it::

    errors = ErrorTranslator(
        'mybroker',
        connection=(client.ConnectionError, client.Timeout),
        auth=(client.AuthError,),
        not_found=(client.NoSuchQueue,),
    )

    class Channel(virtual.Channel):
        def _get(self, queue, timeout=None):
            with errors('receive', queue):
                return self.client.receive(queue)

    class Transport(virtual.Transport):
        connection_errors = errors.connection_errors
        channel_errors = errors.channel_errors

The raised error chains the original (``raise ... from exc``), so nothing of the
library's detail is lost, and callers catch by kind: a lost connection is a
:class:`~kombu.exceptions.ConnectionError` (retried by ``Connection.ensure``),
refused credentials a :class:`~kombu.exceptions.AccessRefused` (also a connection
error, never retried), a missing queue a :class:`~kombu.exceptions.ChannelError`
with code 404, a size limit :class:`~kombu.exceptions.LimitExceeded`.  Exceptions
that are already kombu's pass through unchanged.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from kombu.exceptions import (
    AccessRefused,
    ChannelError,
    ConnectionError,
    KombuError,
    LimitExceeded,
)

__all__ = ('ErrorTranslator',)

ErrorTypes = tuple[type[BaseException], ...]

#: refines the kind of a declared error from its content (e.g. an HTTP status):
#: returns one of 'connection', 'auth', 'not_found', 'limit', 'channel', or None
#: to let the declared classes decide.
Classifier = Callable[[BaseException], 'str | None']

_KINDS = frozenset({'connection', 'auth', 'not_found', 'limit', 'channel'})


class ErrorTranslator:
    """Which client-library exceptions mean what; used as ``with translator(op, name):``."""

    def __init__(self, transport_name: str, *,
                 connection: ErrorTypes = (), auth: ErrorTypes = (),
                 channel: ErrorTypes = (), not_found: ErrorTypes = (),
                 limit: ErrorTypes = (), classify: Classifier | None = None) -> None:
        self.transport_name = transport_name
        self.classify = classify
        self.connection = tuple(connection)
        self.auth = tuple(auth)
        self.channel = tuple(channel)
        self.not_found = tuple(not_found)
        self.limit = tuple(limit)
        self._all = self.auth + self.not_found + self.limit + self.connection + self.channel

    #: for ``Transport.connection_errors`` (the translated kinds and the raw ones).
    @property
    def connection_errors(self) -> ErrorTypes:
        return (ConnectionError, OSError) + self.connection + self.auth

    #: for ``Transport.channel_errors``.
    @property
    def channel_errors(self) -> ErrorTypes:
        return (ChannelError,) + self.channel + self.not_found

    def translate(self, exc: BaseException, operation: str = '',
                  name: str | None = None) -> BaseException | None:
        """The kombu error for ``exc``, or None when ``exc`` is none of the declared kinds."""
        if isinstance(exc, KombuError) or not isinstance(exc, self._all):
            return None
        where = f'{self.transport_name}'
        if operation:
            where += f' {operation}'
        if name is not None:
            where += f' {name!r}'
        text = f'{where}: {type(exc).__name__}: {exc}'
        kind = self.classify(exc) if self.classify is not None else None
        if kind is None:
            kind = self._declared_kind(exc)
        elif kind not in _KINDS:
            raise ValueError(f'classify returned {kind!r}, not one of {sorted(_KINDS)}')
        return self._make(kind, text)

    def _declared_kind(self, exc: BaseException) -> str:
        for kind, types in (('auth', self.auth), ('not_found', self.not_found),
                            ('limit', self.limit), ('connection', self.connection)):
            if isinstance(exc, types):
                return kind
        return 'channel'

    @staticmethod
    def _make(kind: str, text: str) -> BaseException:
        if kind == 'auth':
            return AccessRefused(text)
        if kind == 'not_found':
            return ChannelError(text, None, None, 404)
        if kind == 'limit':
            return LimitExceeded(text)
        if kind == 'connection':
            return ConnectionError(text)
        return ChannelError(text)

    @contextmanager
    def __call__(self, operation: str = '', name: str | None = None) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            translated = self.translate(exc, operation, name)
            if translated is None:
                raise
            raise translated from exc
