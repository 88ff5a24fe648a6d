"""Broker URL parsing and formatting.

``parse_url`` returns the mapping :class:`kombu.Connection` feeds from: the
scheme is kept whole (``'redis+socket'``, ``'sqla+postgresql'``) so the
connection can split off a transport prefix itself. Error messages never
contain the password.
"""
from __future__ import annotations

import ssl
from functools import partial
from typing import Any, Mapping, NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlparse

from kombu.exceptions import MalformedURL

__all__ = (
    'urlparts', 'parse_url', 'url_to_parts', 'as_url', 'sanitize_url',
    'maybe_sanitize_url', 'parse_ssl_cert_reqs', 'urlparse', 'safequote',
)

safequote = partial(quote, safe='')
ssl_available = True

_CONNECTION_KEYS = frozenset(
    ['transport', 'hostname', 'port', 'userid', 'password', 'virtual_host'])

# Both spellings: Python's ssl constant names and redis-py's short names.
_CERT_REQS = {
    'cert_required': ssl.CERT_REQUIRED, 'required': ssl.CERT_REQUIRED,
    'cert_optional': ssl.CERT_OPTIONAL, 'optional': ssl.CERT_OPTIONAL,
    'cert_none': ssl.CERT_NONE, 'none': ssl.CERT_NONE,
}


class urlparts(NamedTuple):
    """The parts of a broker URL, decoded."""

    scheme: str
    hostname: str | None
    port: int | None
    username: str | None
    password: str | None
    path: str | None
    query: Mapping[str, Any]


class InvalidCertReqs(KeyError, MalformedURL):
    """``ssl_cert_reqs`` has a value we do not know (a KeyError for Kombu compatibility)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def url_to_parts(url: str) -> urlparts:
    """Split ``url`` into :class:`urlparts` (percent-decoded).

    The first ``/`` of the path is dropped, so ``amqp://h//`` has path ``/``
    and ``redis://h/1`` has path ``1``. Raises
    :exc:`~kombu.exceptions.MalformedURL` (a :exc:`ValueError`) for a missing
    ``://``, a port that is not an integer in 0-65535 or a broken IPv6 literal.
    """
    scheme, sep, rest = url.partition('://')
    if not sep:
        raise MalformedURL(f'Malformed URL: missing "://" after the scheme in {_shape(url)!r}')
    scheme = scheme.lower()
    try:
        # Everything after the scheme is parsed with HTTP semantics so that
        # unusual schemes still get a netloc.
        parts = urlparse('http://' + rest)
        port = parts.port
    except ValueError as exc:
        raise MalformedURL(
            f'Malformed {scheme}:// URL: {_describe(exc)} (the port must be an integer '
            f'0-65535; escape "/", "?", "#" and "@" in user names and passwords '
            f'with %XX)') from None
    path = parts.path or ''
    if path[:1] == '/':
        path = path[1:]
    return urlparts(
        scheme,
        unquote(parts.hostname or '') or None,
        port,
        unquote(parts.username or '') or None,
        unquote(parts.password or '') or None,
        unquote(path) or None,
        dict(parse_qsl(parts.query)),
    )


#: Celery imports this name.
_parse_url = url_to_parts


def _describe(exc: ValueError) -> str:
    # urllib's messages can quote the bad port, which may be a piece of an
    # unescaped password: say what is wrong, never what was there.
    text = str(exc)
    if 'out of range' in text:
        return 'port out of range'
    if 'IPv6' in text:
        return 'invalid IPv6 address'
    return 'invalid port'


def _shape(url: str) -> str:
    # Show where a URL went wrong without showing credentials.
    return url.rpartition('@')[2] if '@' in url else url


def parse_url(url: str) -> dict[str, Any]:
    """Parse a broker URL into the keyword arguments of :class:`kombu.Connection`.

    Query options are merged in; ``ssl_*`` options are gathered into an
    ``ssl`` dict (``ssl_cert_reqs`` becomes an :mod:`ssl` constant and
    ``ssl_check_hostname`` a bool).

    Example:
        >>> parse_url('amqp://user:pass@localhost:5672//')['virtual_host']
        '/'
    """
    scheme, host, port, user, password, path, query = url_to_parts(url)
    options: dict[str, Any] = {}
    for key, value in query.items():
        if key in _CONNECTION_KEYS:
            raise MalformedURL(f'URL query option {key!r} clashes with a part of the URL')
        if key.startswith('ssl_'):
            options.setdefault('ssl', {})[key] = _ssl_option(key, value)
        else:
            options[key] = value
    return dict(transport=scheme, hostname=host, port=port, userid=user,
                password=password, virtual_host=path, **options)


def _ssl_option(key: str, value: str) -> Any:
    if key == 'ssl_check_hostname':
        return value.lower() != 'false'
    if key == 'ssl_cert_reqs':
        return parse_ssl_cert_reqs(value)
    return value


def parse_ssl_cert_reqs(query_value: str) -> Any:
    """Map an ``ssl_cert_reqs`` URL value to an :mod:`ssl` constant.

    Accepts ``CERT_REQUIRED``/``CERT_OPTIONAL``/``CERT_NONE`` and redis-py's
    ``required``/``optional``/``none`` (any case).
    """
    try:
        return _CERT_REQS[query_value.lower()]
    except (KeyError, AttributeError):
        raise InvalidCertReqs(
            f'Invalid ssl_cert_reqs {query_value!r}: use one of CERT_REQUIRED, '
            f'CERT_OPTIONAL, CERT_NONE (or required, optional, none)') from None


def as_url(scheme: str, host: str | None = None, port: int | str | None = None,
           user: str | None = None, password: str | None = None,
           path: str | None = None, query: Mapping[str, Any] | None = None,
           sanitize: bool = False, mask: str = '**') -> str:
    """Build a URL from its parts (the inverse of :func:`url_to_parts`).

    With ``sanitize`` the password is replaced by ``mask`` and the query
    (which may carry secrets) is left out.
    """
    parts = [f'{scheme}://']
    if user or password:
        if user:
            parts.append(safequote(user))
        if password:
            if sanitize:
                parts.extend([':', mask] if mask else [':'])
            else:
                parts.extend([':', safequote(password)])
        parts.append('@')
    parts.append(safequote(host) if host else '')
    if port:
        parts.extend([':', str(port)])
    parts.extend(['/', path or ''])
    if query and not sanitize:
        parts.extend(['?', '&'.join(f'{safequote(str(k))}={safequote(str(v))}'
                                    for k, v in query.items())])
    return ''.join(parts)


def sanitize_url(url: str, mask: str = '**') -> str:
    """Return ``url`` with the password replaced by ``mask``."""
    return as_url(*url_to_parts(url), sanitize=True, mask=mask)


def maybe_sanitize_url(url: Any, mask: str = '**') -> Any:
    """Sanitize ``url`` if it is a URL string; return anything else unchanged."""
    if isinstance(url, str) and '://' in url:
        return sanitize_url(url, mask)
    return url
