"""Consul transport (virtual), on python-consul: Consul's KV store with session locks.

Connection string::

    consul://HOST[:PORT]

An ACL token, if Consul needs one, is the ``token`` transport option (masked in
reprs) or the URL's password (``consul://:TOKEN@HOST:8500``).

Storage
=======
Queues, messages, claims and bindings are keys under ``prefix`` (default
``kombu``), laid out as :mod:`kombu.transport.virtual.kv` describes; a message
key is a nanosecond timestamp and a random suffix, so a queue is FIFO (per
priority level) within a process and in clock order across processes.  A
consumer claims a message by *acquiring* its claim key with the connection's
session (``?acquire=``: one session wins).  The session's TTL is
``visibility_timeout`` (Consul allows 10 s to 24 h) and it is renewed while the
connection polls; it is created with ``Behavior: delete``, so when a consumer
vanishes Consul invalidates its session after the TTL, deletes its claims, and
the messages are delivered again.  A connection that closes destroys its
session.

Limits
======
Consul keeps values up to 512 KiB: a larger message raises
:class:`~kombu.exceptions.LimitExceeded` and is not sent.

Features
========
* Type: Virtual
* Supports Direct, Topic, Fanout, Headers: Yes (bindings stored in Consul,
  shared by every process)
* Supports Priority: Yes (queues declared with ``x-max-priority``)
* Supports TTL: Yes (message and queue TTL, dead-lettering, ``x-max-length``)

Consumers wait with a blocking query on ``prefix`` (from the index of their
last listing), so a published message wakes them at once; ``polling_interval``
only bounds how long one wait lasts.

Proved by ``t/integration/test_conformance_consul.py`` against
``t/fakes/consul_server.py``, a stand-in for the KV and session endpoints (no
Consul server can be installed on the CI machines).

Transport Options
=================
* ``prefix`` - first segment of every key (default ``kombu``).
* ``visibility_timeout`` - the session TTL, seconds (default 3600, 10 to 86400).
* ``token`` - ACL token.
* ``polling_interval`` - longest blocking query between polls (default 1).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from importlib import metadata
from typing import Any, ClassVar

from kombu.exceptions import LimitExceeded

from . import virtual
from .virtual.errors import ErrorTranslator
from .virtual.kv import KVChannel, ThrottledProbe, translated
from .virtual.options import TransportOptions
from .virtual.shared_policies import PolicyCache

try:
    import consul
    import consul.base
    import requests
except ImportError:  # pragma: no cover - the client library is optional
    consul = None

__all__ = ('Channel', 'Transport', 'ConsulOptions', 'LockError', 'DEFAULT_HOST',
           'DEFAULT_PORT')

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8500
DEFAULT_HOST = 'localhost'

#: Consul's limit for one value.
MAX_VALUE_SIZE = 512 * 1024


class LockError(Exception):
    """A claim (session lock) could not be taken for a reason other than a rival."""


if consul is not None:
    errors = ErrorTranslator(
        'consul',
        connection=(requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    consul.base.Timeout),
        auth=(consul.base.ACLPermissionDenied, consul.base.ACLDisabled),
        channel=(consul.base.ConsulException,),
    )
else:  # pragma: no cover
    errors = ErrorTranslator('consul')


class _OrderedIds:
    """Strictly increasing nanosecond timestamps within a process."""

    def __init__(self) -> None:
        self.last = 0
        self.lock = threading.Lock()

    def __call__(self) -> str:
        with self.lock:
            self.last = max(time.time_ns(), self.last + 1)
            return f'{self.last:020d}-{uuid.uuid4().hex[:8]}'


_next_id = _OrderedIds()


@dataclasses.dataclass(frozen=True)
class ConsulOptions(TransportOptions):
    """``transport_options`` of the Consul transport."""

    transport_name: ClassVar[str] = 'consul'
    secret_fields: ClassVar[frozenset[str]] = frozenset({'token'})

    #: first segment of every key.
    prefix: str = 'kombu'
    #: TTL of the connection's session: how long claims outlive their consumer.
    visibility_timeout: float = 3600.0
    #: ACL token (None: the URL's password, if any).
    token: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require(10 <= self.visibility_timeout <= 86400,
                     'visibility_timeout must be within 10..86400 (Consul session TTLs)')
        self.require(bool(self.prefix) and '/' not in self.prefix.strip('/'),
                     f'prefix must be one key segment, not {self.prefix!r}')


class Channel(KVChannel):
    """Consul channel: one python-consul client per channel, the session per connection."""

    Options = ConsulOptions
    options: ConsulOptions

    prefix = 'kombu'
    index = None
    timeout = '10s'
    session_ttl = 30

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if consul is None:
            raise ImportError('Missing python-consul library')
        super().__init__(*args, **kwargs)
        self.prefix = self.options.prefix.strip('/')
        self.session_ttl = round(self.options.visibility_timeout)
        conninfo = self.connection.client
        self.client = consul.Consul(
            host=conninfo.hostname or DEFAULT_HOST, port=int(conninfo.port or DEFAULT_PORT),
            token=self.options.token or conninfo.password or None)

    @property
    def lock_name(self) -> str:
        """Name of this process's session (who holds the claims, for people reading Consul)."""
        return f'kombu:{socket.gethostname()}.{os.getpid()}'

    # -- the connection's session -------------------------------------------------

    def _session(self) -> str:
        transport = self.connection
        with transport.session_lock:
            if transport.session_id is None:
                transport.session_id = self.client.session.create(
                    name=self.lock_name, behavior='delete', lock_delay=0,
                    ttl=self.session_ttl)
                transport.session_client = self.client
            return transport.session_id  # type: ignore[no-any-return]

    def _forget_session(self, sid: str) -> None:
        transport = self.connection
        with transport.session_lock:
            if transport.session_id == sid:
                transport.session_id = None

    # -- the store ----------------------------------------------------------------

    @translated(errors, 'get')
    def kv_get(self, key: str) -> str | None:
        _, data = self.client.kv.get(key)
        if data is None:
            return None
        value = data.get('Value')
        return value.decode() if value is not None else ''

    @translated(errors, 'list')
    def kv_list(self, prefix: str) -> list[tuple[str, str]]:
        index, data = self.client.kv.get(f'{prefix}/', recurse=True)
        transport = self.connection
        try:
            if int(index) > (transport.last_index or 0):
                transport.last_index = int(index)  # where a blocking query starts
        except (TypeError, ValueError):
            pass
        return [(item['Key'], (item.get('Value') or b'').decode()) for item in data or ()]

    @translated(errors, 'put')
    def kv_put(self, key: str, value: str) -> None:
        self.client.kv.put(key, value)

    @translated(errors, 'publish')
    def kv_append(self, prefix: str, value: str) -> None:
        data = value.encode()
        if len(data) > MAX_VALUE_SIZE:
            raise LimitExceeded(f'consul: message of {len(data)} bytes is above the '
                                f'{MAX_VALUE_SIZE} bytes Consul keeps in one value')
        self.client.kv.put(f'{prefix}/{_next_id()}', data, cas=0)

    @translated(errors, 'delete')
    def kv_delete(self, key: str) -> None:
        self.client.kv.delete(key)

    @translated(errors, 'delete')
    def kv_delete_tree(self, prefix: str) -> None:
        self.client.kv.delete(f'{prefix}/', recurse=True)

    @translated(errors, 'claim')
    def kv_claim(self, key: str) -> bool:
        for attempt in range(2):
            sid = self._session()
            try:
                return bool(self.client.kv.put(key, self.lock_name, acquire=sid))
            except consul.base.ConsulException as exc:
                if attempt or 'session' not in str(exc).lower():
                    raise
                # our session expired (nothing renewed it in time): start a new one
                logger.warning('Consul session %s was invalidated: its claims are lost', sid)
                self._forget_session(sid)
        raise LockError(key)  # pragma: no cover

    @translated(errors, 'renew')
    def kv_renew(self, keys: list[str]) -> None:
        sid = self.connection.session_id
        if sid is None:
            return
        try:
            self.client.session.renew(sid)
        except consul.base.NotFound:
            logger.warning('Consul session %s expired before it was renewed: its %d '
                           'message(s) may be delivered twice', sid, len(keys))
            self._forget_session(sid)


class Transport(virtual.Transport):
    """Consul transport."""

    Channel = Channel

    default_port = DEFAULT_PORT
    driver_type = 'consul'
    driver_name = 'consul'

    connection_errors = errors.connection_errors
    channel_errors = errors.channel_errors + (LockError,)

    implements = virtual.Transport.implements.extend(
        asynchronous=False,
        exchange_type=frozenset(['direct', 'topic', 'fanout', 'headers']),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if consul is None:
            raise ImportError('Missing python-consul library')
        super().__init__(*args, **kwargs)
        self.claims: dict[Any, tuple[str, str]] = {}
        self.policies: PolicyCache = {}
        self.session_id: str | None = None
        self.session_client: Any = None
        self.session_lock = threading.Lock()
        #: X-Consul-Index of the newest listing: a blocking query from there wakes
        #: consumers on any change.
        self.last_index: int | None = None
        self._reachable = ThrottledProbe()

    def _wakeup_token(self) -> Any:
        return self.last_index

    def _wait_for_messages(self, timeout: float, token: Any) -> None:
        """A blocking query on ``prefix`` from ``token``: returns on a change, or after
        ``polling_interval`` (claims are renewed between polls), at most ``timeout``."""
        channel = self._avail_channels[-1] if self._avail_channels else (
            self.channels[0] if self.channels else None)
        if token is None or channel is None:
            return super()._wait_for_messages(timeout, token)
        wait = max(min(timeout, self.polling_interval or 0), 0.01)
        with errors('watch'):
            channel.client.kv.get(f'{channel.prefix}/', index=token,  # type: ignore[attr-defined]
                                  wait=f'{int(wait * 1000)}ms', recurse=True, keys=True)
        return None

    def establish_connection(self) -> Transport:
        super().establish_connection()
        with errors('connect'):
            self._avail_channels[-1].client.status.leader()  # type: ignore[attr-defined]
        return self

    def close_connection(self, connection: Any) -> None:
        try:
            super().close_connection(connection)
        finally:
            sid, self.session_id = self.session_id, None
            if sid is not None and self.session_client is not None:
                try:
                    self.session_client.session.destroy(sid)
                except Exception as exc:  # the TTL ends it anyway
                    logger.debug('Cannot destroy Consul session %s: %r', sid, exc)

    def verify_connection(self, connection: Any) -> bool:
        return self._reachable(lambda: self._probe(connection))

    def _probe(self, connection: Any) -> bool:
        try:
            consul.Consul(host=connection.client.hostname or DEFAULT_HOST,
                          port=int(connection.client.port or DEFAULT_PORT)).status.leader()
        except Exception:
            return False
        return True

    def driver_version(self) -> str:
        try:
            return metadata.version('python-consul')
        except metadata.PackageNotFoundError:  # pragma: no cover
            return 'Unknown'
