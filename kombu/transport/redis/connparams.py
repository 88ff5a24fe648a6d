"""Connection parameters for redis-py, from a Kombu connection and its options."""
from __future__ import annotations

import numbers
import ssl
import warnings
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, unquote, urlparse

import redis

from .keys import DEFAULT_DB

_CERT_REQS = {
    'required': ssl.CERT_REQUIRED, 'cert_required': ssl.CERT_REQUIRED,
    'optional': ssl.CERT_OPTIONAL, 'cert_optional': ssl.CERT_OPTIONAL,
    'none': ssl.CERT_NONE, 'cert_none': ssl.CERT_NONE,
}


def warn_unknown_options(options: Mapping[str, Any], known: Iterable[str] = ()) -> list[str]:
    """The keys of ``options`` no Redis option declares, warned about (every call).

    The transport itself warns once per key through :class:`RedisOptions`;
    this is the same test for code holding a plain dict.
    """
    from kombu.transport.virtual.options import COMMON_PASSTHROUGH

    from .options import SentinelOptions
    declared = (SentinelOptions.field_names() | SentinelOptions.passthrough
                | COMMON_PASSTHROUGH | frozenset(known))
    unknown = sorted(set(options) - declared)
    if unknown:
        warnings.warn(
            f'unknown Redis transport option(s) ignored: {", ".join(unknown)}',
            UserWarning, stacklevel=2)
    return unknown


def parse_cert_reqs(value: Any) -> Any:
    """Accept ``CERT_REQUIRED``, ``required``, ``ssl.CERT_REQUIRED`` alike."""
    if isinstance(value, str):
        key = value.strip().lower()
        if key not in _CERT_REQS:
            raise ValueError(f'invalid ssl_cert_reqs value: {value!r}')
        return _CERT_REQS[key]
    return value


def prepare_virtual_host(vhost: Any) -> int:
    """The Redis database number from a Kombu virtual host (``/3``, ``3``)."""
    if isinstance(vhost, numbers.Integral):
        return int(vhost)
    if not vhost or vhost == '/':
        return DEFAULT_DB
    if vhost.startswith('/'):
        vhost = vhost[1:]
    try:
        return int(vhost)
    except ValueError:
        raise ValueError(f'Database is int between 0 and limit - 1, not {vhost}') from None


def _socket_params(hostname: str) -> dict[str, Any]:
    """Parameters for ``socket:///path/to/redis.sock?db=1`` host strings."""
    parts = urlparse(hostname)
    params: dict[str, Any] = {
        'connection_class': redis.UnixDomainSocketConnection,
        'path': parts.path if parts.path.startswith('/') else '/' + parts.path,
    }
    if parts.username:
        params['username'] = unquote(parts.username)
    if parts.password:
        params['password'] = unquote(parts.password)
    for key, value in parse_qsl(parts.query):
        params[key] = value
    return params


def build_connparams(conninfo: Any, options: Mapping[str, Any], default_port: int,
                     connection_class: type, connection_class_ssl: type) -> dict[str, Any]:
    """Keyword arguments for ``redis.ConnectionPool`` (``db`` resolved).

    ``options`` holds the :data:`~.options.CONNECTION_KEYS` values.
    """
    params: dict[str, Any] = {
        'host': conninfo.hostname or '127.0.0.1',
        'port': conninfo.port or default_port,
        'username': conninfo.userid,
        'password': conninfo.password,
        'max_connections': options['max_connections'],
        'socket_timeout': options['socket_timeout'],
        'socket_connect_timeout': options['socket_connect_timeout'],
        'socket_keepalive': options['socket_keepalive'],
        'socket_keepalive_options': options['socket_keepalive_options'],
        'health_check_interval': options['health_check_interval'],
        'retry_on_timeout': options['retry_on_timeout'],
        'client_name': options['client_name'],
        'connection_class': connection_class,
    }
    vhost = conninfo.virtual_host
    ssl_opts = getattr(conninfo, 'ssl', None)
    if ssl_opts:
        params['connection_class'] = connection_class_ssl
        if isinstance(ssl_opts, Mapping):
            for key, value in ssl_opts.items():
                params[key] = parse_cert_reqs(value) if key == 'ssl_cert_reqs' else value
    host = params['host']
    if '://' in host:
        for key in ('host', 'port', 'socket_connect_timeout', 'socket_keepalive',
                    'socket_keepalive_options'):
            params.pop(key, None)
        sock = _socket_params(host)
        vhost = sock.pop('db', None) or sock.pop('virtual_host', None) or vhost
        params.update(sock)
    provider = getattr(conninfo, 'credential_provider', None) or params.pop(
        'credential_provider', None)
    if provider:
        if isinstance(provider, str):
            from kombu.utils.imports import symbol_by_name
            provider = symbol_by_name(provider)()
        if not isinstance(provider, redis.CredentialProvider):
            raise ValueError('Credential provider is not an instance of a '
                             'redis.CredentialProvider or a subclass')
        params['credential_provider'] = provider
        params.pop('username', None)
        params.pop('password', None)
    params['db'] = prepare_virtual_host(vhost)
    return params


#: connection-pool parameters never logged as they are.
_SECRET_PARAMS = frozenset({'password', 'credential_provider', 'ssl_password'})


def redacted(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` safe to log: credentials masked."""
    return {k: ('**' if k in _SECRET_PARAMS and v else v) for k, v in params.items()}
