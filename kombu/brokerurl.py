"""From broker URLs to :class:`kombu.Connection` parameters, and back for display.

Parsing the URL itself is :func:`kombu.utils.url.parse_url`'s job; this module
decides what the parts mean for a connection: which transport (a
``transport+driver://`` prefix, or a transport that takes the URL whole),
which query options are connection parameters and which are transport
options, and the failover list of a ``;``-separated string or a list.
"""
from __future__ import annotations

import re
from typing import Any, Callable, NamedTuple, Sequence

from .transport import get_transport_cls
from .utils.functional import dictfilter
from .utils.url import maybe_sanitize_url, parse_url, urlparse

__all__ = ('ConnectionURL', 'PARAM_KEYS', 'from_url', 'scheme_of', 'split_alternates',
           'mask_url', 'check_url_transport', 'transport_parses_url', 'format_host')

#: Keyword arguments of ``Connection._init_params``; other query options of a
#: URL are transport options.
PARAM_KEYS = ('hostname', 'userid', 'password', 'virtual_host', 'port', 'insist',
              'ssl', 'transport', 'connect_timeout', 'login_method', 'heartbeat',
              'credential_provider')

_PARAM_COERCE: dict[str, Callable[[Any], Any]] = {
    'connect_timeout': float, 'heartbeat': float,
}

# Schemes of Kombu transports that take the URL whole (can_parse_url), for
# when the transport's client library is not installed.
_WHOLE_URL_SCHEMES = frozenset(['mongodb', 'sqla', 'sqlalchemy', 'azureservicebus', 'gcpubsub'])

_USERINFO = re.compile(r'(?P<head>://[^/@:]*):(?P<password>[^/@]*)@')


class ConnectionURL(NamedTuple):
    """What a URL says about a connection."""

    params: dict[str, Any]       # connection parameters (always transport and hostname)
    uri_prefix: str | None       # 'sqla' of 'sqla+postgresql://...'
    options: dict[str, Any]      # query options for the transport


def check_url_transport(name: str) -> str:
    """Reject a URL scheme that is an import path.

    Otherwise the URL alone would choose which module gets imported; import
    paths stay available through the explicit ``transport`` argument.
    """
    if '.' in name or ':' in name:
        raise ValueError(f'Invalid transport scheme: {name!r}')
    return name


def transport_parses_url(transport: Any) -> bool:
    """True if the transport takes the whole URL (``Transport.can_parse_url``)."""
    try:
        return bool(get_transport_cls(transport).can_parse_url)
    except ImportError as exc:
        if isinstance(exc, KeyError):  # unknown transport name: say so now
            raise
        # client library missing: the error surfaces when connecting
        return isinstance(transport, str) and transport in _WHOLE_URL_SCHEMES


def coerce_query_value(value: Any) -> Any:
    """URL query values are strings: give transports the obvious types."""
    if not isinstance(value, str):
        return value
    lowered = value.lower()
    if lowered in ('true', 'yes', 'on'):
        return True
    if lowered in ('false', 'no', 'off'):
        return False
    for convert in (int, float):
        try:
            return convert(value)
        except ValueError:
            pass
    return value


def scheme_of(url: Any) -> str | None:
    """The scheme of a URL, lower case (``None`` for a plain host name)."""
    if isinstance(url, str) and '://' in url:
        return url[:url.index('://')].lower()
    return None


def from_url(url: str, transport: Any = None) -> ConnectionURL:
    """Connection parameters from ``url`` (a transport given explicitly wins)."""
    if '://' not in url:
        return ConnectionURL({'hostname': url}, None, {})
    scheme = url[:url.index('://')]
    if '+' in scheme:
        # e.g. sqla+postgresql://..., redis+socket://...: the transport gets
        # the rest of the URL whole.
        prefix, rest = url.split('+', 1)
        return ConnectionURL({'transport': check_url_transport(prefix), 'hostname': rest},
                             prefix, {})
    transport = transport or check_url_transport(scheme.lower())
    if transport_parses_url(transport):
        return ConnectionURL({'transport': transport, 'hostname': url}, None, {})
    params: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, value in dictfilter(parse_url(url)).items():
        if key not in PARAM_KEYS:
            options[key] = coerce_query_value(value)
        elif key in _PARAM_COERCE:
            params[key] = _PARAM_COERCE[key](value)
        elif key in ('insist', 'ssl'):
            params[key] = coerce_query_value(value)
        else:
            params[key] = value
    params['transport'] = transport
    params['hostname'] = params.get('hostname')
    return ConnectionURL(params, None, options)


def split_alternates(hostname: Any, alternates: Sequence[str] | None) -> tuple[Any, list[str]]:
    """The primary host/URL and the failover list (which starts with the primary).

    ``hostname`` may be a URL, ``;``-separated URLs or a list of URLs. A
    single URL with no ``alternates`` has no failover list.
    """
    alt = list(alternates or ())
    if hostname and not isinstance(hostname, str):
        alt = list(hostname) + [url for url in alt if url not in hostname]
        hostname = alt[0] if alt else 'localhost'
    if hostname and ';' in hostname:
        urls = [url.strip() for url in hostname.split(';') if url.strip()]
        alt = urls + [url for url in alt if url not in urls]
        hostname = alt[0]
    elif hostname and alt and '://' in hostname and hostname not in alt:
        alt.insert(0, hostname)  # the primary is tried first
    for url in alt:  # fail now, not in the middle of a failover
        if isinstance(url, str) and '://' in url:
            check_url_transport(urlparse(url).scheme.split('+', 1)[0])
    return hostname, alt


def mask_url(url: Any, mask: str = '**') -> Any:
    """``url`` with its password replaced by ``mask``; never raises."""
    try:
        return maybe_sanitize_url(url, mask)
    except ValueError:  # e.g. several host:port pairs, which urllib rejects
        return _USERINFO.sub(lambda m: f"{m.group('head')}:{mask}@", url)


def format_host(hostname: str) -> str:
    """``hostname`` as it goes in a URL (IPv6 literals in brackets)."""
    if ':' in hostname and not hostname.startswith('['):
        return f'[{hostname}]'
    return hostname
