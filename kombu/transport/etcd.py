"""etcd transport (virtual), on python-etcd (etcd's v2 HTTP API).

Connection string::

    etcd://[USER:PASSWORD@]HOST[:PORT]

etcd 3.x serves the v2 API only when started with ``--enable-v2=true``.

Storage
=======
Queues, messages, claims and bindings are keys under ``prefix`` (default
``kombu``), laid out as :mod:`kombu.transport.virtual.kv` describes.  A
message is appended with an in-order key (etcd assigns increasing indexes),
one directory per priority level.  A consumer claims a message by creating
its claim key with ``prevExist=false`` (one consumer wins) and a TTL of
``visibility_timeout`` seconds, which it refreshes while it polls: the
messages a vanished consumer held come back once its claims expire.

Features
========
* Type: Virtual
* Supports Direct, Topic, Fanout, Headers: Yes (bindings stored in etcd,
  shared by every process)
* Supports Priority: Yes (queues declared with ``x-max-priority``)
* Supports TTL: Yes (message and queue TTL, dead-lettering, ``x-max-length``)

Consumers wait with an etcd watch on ``prefix`` (from the index of their last
listing), so a published message wakes them at once; ``polling_interval`` only
bounds how long one wait lasts.

Proved by ``t/integration/test_conformance_etcd.py`` against a real etcd.

Transport Options
=================
* ``prefix`` - first segment of every key (default ``kombu``).
* ``visibility_timeout`` - seconds a claim outlives its consumer (default 3600).
* ``timeout`` - seconds to wait for an answer of etcd (default 10).
* ``polling_interval`` - longest wait on the watch between polls (default 3, as Kombu).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import socket
from importlib import metadata
from typing import Any, ClassVar

from kombu.exceptions import AccessRefused
from kombu.utils.objects import cached_property

from . import virtual
from .virtual.errors import ErrorTranslator
from .virtual.kv import KVChannel, ThrottledProbe, translated
from .virtual.options import TransportOptions
from .virtual.shared_policies import PolicyCache

try:
    import etcd
except ImportError:  # pragma: no cover - the client library is optional
    etcd = None

__all__ = ('Channel', 'Transport', 'EtcdOptions', 'DEFAULT_HOST', 'DEFAULT_PORT')

logger = logging.getLogger(__name__)

DEFAULT_PORT = 2379
DEFAULT_HOST = 'localhost'

if etcd is not None:
    errors = ErrorTranslator(
        'etcd',
        connection=(etcd.EtcdConnectionFailed, etcd.EtcdLeaderElectionInProgress),
        auth=(etcd.EtcdInsufficientPermissions,),
        channel=(etcd.EtcdException,),
    )
    _NotFound: tuple[type[BaseException], ...] = (etcd.EtcdKeyNotFound,)
    _Exists: tuple[type[BaseException], ...] = (etcd.EtcdAlreadyExist,)
else:  # pragma: no cover
    errors = ErrorTranslator('etcd')
    _NotFound = _Exists = ()


@dataclasses.dataclass(frozen=True)
class EtcdOptions(TransportOptions):
    """``transport_options`` of the etcd transport."""

    transport_name: ClassVar[str] = 'etcd'

    #: first segment of every key.
    prefix: str = 'kombu'
    #: seconds a claim (an unacked message) outlives its consumer.
    visibility_timeout: float = 3600.0
    #: seconds to wait for an answer of etcd.
    timeout: float = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require(self.visibility_timeout >= 1, 'visibility_timeout must be >= 1 (etcd TTLs '
                     'are whole seconds)')
        self.require(self.timeout > 0, 'timeout must be > 0')
        self.require(bool(self.prefix) and '/' not in self.prefix.strip('/'),
                     f'prefix must be one key segment, not {self.prefix!r}')


class Channel(KVChannel):
    """etcd channel: one python-etcd client per channel."""

    Options = EtcdOptions
    options: EtcdOptions

    prefix = 'kombu'
    index = None
    timeout = 10
    session_ttl = 30
    lock_ttl = 10

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if etcd is None:
            raise ImportError('Missing python-etcd library')
        super().__init__(*args, **kwargs)
        self.prefix = self.options.prefix.strip('/')
        self.timeout = self.options.timeout  # type: ignore[assignment]
        conninfo = self.connection.client
        self.client = etcd.Client(
            host=conninfo.hostname or DEFAULT_HOST,
            port=int(conninfo.port or DEFAULT_PORT),
            username=conninfo.userid or None, password=conninfo.password or None,
            read_timeout=self.options.timeout)

    @cached_property
    def lock_value(self) -> str:
        """Value of this process's claims (who holds them, for people reading etcd)."""
        return f'{socket.gethostname()}.{os.getpid()}'

    @property
    def _ttl(self) -> int:
        return max(1, round(self.visibility_timeout))

    def _key(self, *parts: str) -> str:
        return '/' + super()._key(*parts)

    @translated(errors, 'get')
    def kv_get(self, key: str) -> str | None:
        try:
            return self.client.read(key).value  # type: ignore[no-any-return]
        except _NotFound:
            return None

    @translated(errors, 'list')
    def kv_list(self, prefix: str) -> list[tuple[str, str]]:
        try:
            result = self.client.read(prefix, recursive=True, sorted=True)
        except _NotFound as exc:
            self._seen_index((getattr(exc, 'payload', None) or {}).get('index'))
            return []
        self._seen_index(result.etcd_index)
        return [(leaf.key, leaf.value) for leaf in result.leaves
                if not leaf.dir and leaf.key != prefix]

    def _seen_index(self, index: Any) -> None:
        # The etcd index a listing saw: a watch from there wakes on any change after it.
        transport = self.connection
        if isinstance(index, int) and index > (transport.last_index or 0):
            transport.last_index = index

    @translated(errors, 'put')
    def kv_put(self, key: str, value: str) -> None:
        self.client.write(key, value)

    @translated(errors, 'publish')
    def kv_append(self, prefix: str, value: str) -> None:
        self.client.write(prefix, value, append=True)

    @translated(errors, 'delete')
    def kv_delete(self, key: str) -> None:
        try:
            self.client.delete(key)
        except _NotFound:
            pass

    @translated(errors, 'delete')
    def kv_delete_tree(self, prefix: str) -> None:
        try:
            self.client.delete(prefix, recursive=True)
        except _NotFound:
            pass

    @translated(errors, 'claim')
    def kv_claim(self, key: str) -> bool:
        try:
            self.client.write(key, self.lock_value, ttl=self._ttl, prevExist=False)
        except _Exists:
            return False
        return True

    @translated(errors, 'renew')
    def kv_renew(self, keys: list[str]) -> None:
        for key in keys:
            try:
                self.client.write(key, None, ttl=self._ttl, refresh=True, prevExist=True)
            except _NotFound:
                logger.warning('etcd claim %s expired before it was renewed: its message '
                               'may be delivered twice', key)


_UNREACHABLE: tuple[type[BaseException], ...] = (AccessRefused, *errors.connection_errors)


class Transport(virtual.Transport):
    """etcd transport."""

    Channel = Channel

    default_port = DEFAULT_PORT
    driver_type = 'etcd'
    driver_name = 'python-etcd'
    polling_interval = 3

    connection_errors = errors.connection_errors
    channel_errors = errors.channel_errors

    implements = virtual.Transport.implements.extend(
        asynchronous=False,
        exchange_type=frozenset(['direct', 'topic', 'fanout', 'headers']),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if etcd is None:
            raise ImportError('Missing python-etcd library')
        super().__init__(*args, **kwargs)
        self.claims: dict[Any, tuple[str, str]] = {}
        self.policies: PolicyCache = {}
        #: etcd index of the newest listing: a watch from there wakes consumers.
        self.last_index: int | None = None
        self._watch_client: Any = None
        self._reachable = ThrottledProbe()

    # -- waiting: an etcd watch on the prefix instead of sleeping --------------------

    def _wakeup_token(self) -> Any:
        return self.last_index

    def _wait_for_messages(self, timeout: float, token: Any) -> None:
        """Return when anything under ``prefix`` changed after ``token``, or after
        ``polling_interval`` (claims are renewed between polls), at most ``timeout``."""
        if token is None:
            return super()._wait_for_messages(timeout, token)
        options = self.options
        assert isinstance(options, EtcdOptions)
        wait = min(timeout, max(self.polling_interval or 0, 0.01))
        if self._watch_client is None:
            conninfo = self.client
            self._watch_client = etcd.Client(
                host=conninfo.hostname or DEFAULT_HOST, port=int(conninfo.port or DEFAULT_PORT),
                username=conninfo.userid or None, password=conninfo.password or None,
                read_timeout=options.timeout)
        try:
            self._watch_client.read(f'/{options.prefix.strip("/")}', wait=True,
                                    waitIndex=token + 1, recursive=True, timeout=wait)
        except (etcd.EtcdWatchTimedOut, etcd.EtcdEventIndexCleared):
            return None  # nothing changed / too far behind: poll again
        except etcd.EtcdException as exc:
            translated = errors.translate(exc, 'watch')
            if translated is None:
                raise
            raise translated from exc
        return None

    def establish_connection(self) -> Transport:
        super().establish_connection()
        channel = self._avail_channels[-1]
        with errors('connect'):
            channel.client.read('/', timeout=self.options.timeout)  # type: ignore[attr-defined]
        return self

    def verify_connection(self, connection: Any) -> bool:
        return self._reachable(lambda: self._probe(connection))

    def _probe(self, connection: Any) -> bool:
        try:
            with errors('connect'):
                etcd.Client(host=connection.client.hostname or DEFAULT_HOST,
                            port=int(connection.client.port or DEFAULT_PORT)).read('/')
        except _UNREACHABLE:
            return False
        return True

    def driver_version(self) -> str:
        try:
            return metadata.version('python-etcd')
        except metadata.PackageNotFoundError:  # pragma: no cover
            return 'Unknown'
