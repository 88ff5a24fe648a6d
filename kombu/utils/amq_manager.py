"""Client for the RabbitMQ management HTTP API (``Connection.get_manager()``).

Upstream Kombu returns a ``pyrabbit.Client``; :class:`ManagementClient` offers
the same method names for the common calls using only the standard library,
so no extra dependency is needed.  The management plugin must be enabled on
the broker (``rabbitmq-plugins enable rabbitmq_management``); when it cannot
be reached every call raises :class:`ManagementUnavailable`.

Where to connect comes from the arguments, else ``transport_options``
(``manager_hostname``, ``manager_port``, ``manager_userid``,
``manager_password``), else the connection's host and credentials, on port
15672.
"""
from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
from typing import Any, Iterable
from urllib.parse import quote

from kombu.exceptions import OperationalError

__all__ = ('get_manager', 'ManagementClient', 'ManagementError', 'ManagementUnavailable')

DEFAULT_MANAGER_PORT = 15672


class ManagementError(OperationalError):
    """The management API answered with an error status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ManagementUnavailable(ManagementError):
    """The management API could not be reached at all."""


def _q(value: str) -> str:
    return quote(value, safe='')


class ManagementClient:
    """Small, dependency-free ``pyrabbit.Client`` look-alike."""

    def __init__(self, host: str, user: str, passwd: str, timeout: float = 5.0,
                 scheme: str = 'http') -> None:
        self.host = host
        self.user = user
        self.timeout = timeout
        self.base_url = f'{scheme}://{host}/api'
        token = base64.b64encode(f'{user}:{passwd}'.encode()).decode('ascii')
        self._auth = f'Basic {token}'  # kept out of repr() and error messages

    def __repr__(self) -> str:
        return f'<ManagementClient {self.base_url} user={self.user!r}>'

    # -- transport

    def http(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request to ``/api/<path>``; return the decoded JSON (or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f'{self.base_url}/{path}', data=data, method=method)
        request.add_header('Authorization', self._auth)
        if data is not None:
            request.add_header('Content-Type', 'application/json')
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise ManagementError(
                f'RabbitMQ management API: {method} /api/{path} -> {exc.code} {exc.reason}',
                status=exc.code) from None
        except (urllib.error.URLError, socket.timeout, OSError) as exc:
            reason = getattr(exc, 'reason', exc)
            raise ManagementUnavailable(
                f'RabbitMQ management API not reachable at {self.base_url}/ ({reason}); '
                f'is the rabbitmq_management plugin enabled and the port right?') from None
        return json.loads(payload) if payload else None

    def _get(self, path: str) -> Any:
        return self.http('GET', path)

    @staticmethod
    def _scoped(collection: str, vhost: str | None) -> str:
        return collection if vhost is None else f'{collection}/{_q(vhost)}'

    # -- server

    def is_alive(self, vhost: str = '/') -> bool:
        try:
            return self._get(f'aliveness-test/{_q(vhost)}').get('status') == 'ok'
        except ManagementUnavailable:
            return False
        except ManagementError as exc:
            if exc.status == 404:  # removed in RabbitMQ 4: reachable is alive enough
                return self.get_overview() is not None
            raise

    def get_overview(self) -> dict:
        return self._get('overview')

    def get_nodes(self) -> list:
        return self._get('nodes')

    def get_whoami(self) -> dict:
        return self._get('whoami')

    # -- vhosts

    def get_all_vhosts(self) -> list:
        return self._get('vhosts')

    def get_vhost_names(self) -> list[str]:
        return [v['name'] for v in self.get_all_vhosts()]

    def get_vhost(self, vname: str) -> dict:
        return self._get(f'vhosts/{_q(vname)}')

    # -- exchanges, queues, bindings

    def get_exchanges(self, vhost: str | None = None) -> list:
        return self._get(self._scoped('exchanges', vhost))

    def get_exchange(self, vhost: str, name: str) -> dict:
        return self._get(f'exchanges/{_q(vhost)}/{_q(name)}')

    def get_queues(self, vhost: str | None = None) -> list:
        return self._get(self._scoped('queues', vhost))

    def get_queue(self, vhost: str, name: str) -> dict:
        return self._get(f'queues/{_q(vhost)}/{_q(name)}')

    def get_queue_depth(self, vhost: str, name: str) -> int:
        return self.get_queue(vhost, name).get('messages', 0)

    def get_queue_depths(self, vhost: str, names: Iterable[str] | None = None) -> dict:
        queues = self.get_queues(vhost)
        wanted = None if names is None else set(names)
        return {q['name']: q.get('messages', 0) for q in queues
                if wanted is None or q['name'] in wanted}

    def purge_queue(self, vhost: str, name: str) -> None:
        self.http('DELETE', f'queues/{_q(vhost)}/{_q(name)}/contents')

    def delete_queue(self, vhost: str, qname: str) -> None:
        self.http('DELETE', f'queues/{_q(vhost)}/{_q(qname)}')

    def get_bindings(self) -> list:
        return self._get('bindings')

    def get_queue_bindings(self, vhost: str, qname: str) -> list:
        return self._get(f'queues/{_q(vhost)}/{_q(qname)}/bindings')

    # -- connections and channels

    def get_connections(self) -> list:
        return self._get('connections')

    def get_connection(self, name: str) -> dict:
        return self._get(f'connections/{_q(name)}')

    def delete_connection(self, name: str) -> None:
        self.http('DELETE', f'connections/{_q(name)}')

    def get_channels(self) -> list:
        return self._get('channels')


def get_manager(client: Any, hostname: str | None = None, port: int | None = None,
                userid: str | None = None, password: str | None = None) -> ManagementClient:
    """Management API client for the broker of a :class:`kombu.Connection`."""
    opt = (getattr(client, 'transport_options', None) or {}).get

    def pick(name: str, given: Any, default: Any) -> Any:
        if given is not None:
            return given
        return opt(f'manager_{name}') or getattr(client, name, None) or default

    host = pick('hostname', hostname, 'localhost')
    port = port if port is not None else (opt('manager_port') or DEFAULT_MANAGER_PORT)
    userid = pick('userid', userid, 'guest')
    password = pick('password', password, 'guest')
    if callable(password):
        password = password()
    return ManagementClient(f'{host}:{port}', userid, password)
