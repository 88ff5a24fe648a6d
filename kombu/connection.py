"""Client connection to a broker (:class:`Connection`) and its pools.

Every blocking path here is bounded: connection retries follow one
:class:`RetryPolicy` value (the retry budget *and* a total deadline), and
while a deadline runs each single attempt is given at most the time that is
left (through ``connect_timeout``, which transports use for the TCP connect
and the protocol handshake).
"""
from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from itertools import count, cycle
from operator import itemgetter
from ssl import CERT_NONE
from time import monotonic
from typing import TYPE_CHECKING, Any, Callable

from . import exceptions
from .brokerurl import format_host, from_url, mask_url, split_alternates
from .brokerurl import scheme_of as _scheme_of
from .resource import ChannelPool, ConnectionPool, Resource  # noqa: F401 (Kombu exports it here)
from .retry import RetryPolicy, remaining, sleep_for
from .retry import policy_of as _policy
from .transport import get_transport_cls, supports_librabbitmq
from .utils.collections import HashedSeq
from .utils.functional import shufflecycle
from .utils.objects import cached_property
from .utils.url import as_url, quote, safequote

ssl_available = True

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ('Connection', 'ConnectionPool', 'ChannelPool')

logger = logging.getLogger(__name__)

roundrobin_failover = cycle

resolve_aliases = {
    'pyamqp': 'amqp',
    'librabbitmq': 'amqp',
}

failover_strategies = {
    'round-robin': roundrobin_failover,
    'shuffle': shufflecycle,
}

_log_channel = os.environ.get('KOMBU_LOG_CHANNEL', False)

class Connection:
    """A connection to the broker.

    Example:
        >>> Connection('amqp://guest:guest@localhost:5672//')
        >>> Connection('amqp://foo;amqp://bar', failover_strategy='round-robin')
        >>> Connection('redis://', transport_options={'visibility_timeout': 3000})

    Arguments:
        hostname: a broker URL, several URLs separated by ``;`` or a list of
            URLs (failover), or a plain host name.
        transport: the transport (alias, dotted path or class) when the
            URL does not name it; the default is ``amqp``.
        connect_timeout: seconds allowed to establish one connection.
        transport_options: transport specific options. A URL's query options
            that are not connection parameters are added here.
        heartbeat: heartbeat interval in seconds (transports that support it).
        failover_strategy: ``'round-robin'``, ``'shuffle'`` or a callable
            that returns an iterator over the alternate URLs.
        alternates: the full list of URLs to fail over between.
        credential_provider: handed to transports that fetch credentials
            dynamically.

    The connection is established lazily when first needed; call
    :meth:`connect` to do it now, and :meth:`release` (or use ``with``) to
    close it.
    """

    port: int | None = None
    virtual_host: str = '/'
    connect_timeout: float = 5

    _closed: bool | None = None
    _connection: Any = None
    _default_channel: Any = None
    _transport: Any = None
    _logger = False
    uri_prefix: str | None = None

    #: Entities declared on this connection (cleared when it reconnects,
    #: as the broker may have lost them).
    declared_entities: set[Any] = None  # type: ignore[assignment]  # set per instance

    #: Retries of a nacked publish when the retry policy has no ``max_retries``.
    unbounded_nack_retries: int = 5

    #: Iterator over the next URLs to try after a connection failure.
    cycle: Iterator[str] | None = None

    transport_options: dict[str, Any] | None = None
    failover_strategy: Any = 'round-robin'
    heartbeat: float | None = None

    resolve_aliases = resolve_aliases
    failover_strategies = failover_strategies

    hostname = userid = password = ssl = login_method = None

    def __init__(self, hostname: Any = 'localhost', userid: str | None = None,
                 password: str | None = None, virtual_host: str | None = None,
                 port: int | None = None, insist: bool = False, ssl: Any = False,
                 transport: Any = None, connect_timeout: float = 5,
                 transport_options: Mapping[str, Any] | None = None,
                 login_method: str | None = None, uri_prefix: str | None = None,
                 heartbeat: float = 0, failover_strategy: Any = 'round-robin',
                 alternates: list[str] | None = None, credential_provider: Any = None,
                 **kwargs: Any) -> None:
        params = self._initial_params = {
            'hostname': hostname, 'userid': userid, 'password': password,
            'virtual_host': virtual_host, 'port': port, 'insist': insist,
            'ssl': ssl, 'transport': transport, 'connect_timeout': connect_timeout,
            'login_method': login_method, 'heartbeat': heartbeat,
            'credential_provider': credential_provider,
        }
        hostname, alt = split_alternates(hostname, alternates)
        #: what the caller passed, before the primary URL filled it in: an
        #: alternate URL of another scheme starts from these (see switch)
        self._explicit_params = dict(params)
        self._primary_scheme = _scheme_of(hostname)
        url_options: dict[str, Any] = {}
        if hostname:
            url = from_url(hostname, transport)
            params.update(url.params)
            url_options = url.options
            if url.uri_prefix:
                self.uri_prefix = url.uri_prefix
        self._init_params(**params)
        self.alt = alt
        # the text form is kept for info() (a callable can't be cloned by name)
        self._failover_strategy = failover_strategy or 'round-robin'
        self.failover_strategy = self.failover_strategies.get(
            self._failover_strategy) or self._failover_strategy
        if self.alt:
            self.cycle = self.failover_strategy(self.alt)
            next(self.cycle)  # the first entry is the current host

        if transport_options is None:
            transport_options = {}
        if url_options:  # explicit transport options win over the URL's query
            transport_options = dict(url_options, **transport_options)
        self.transport_options = transport_options  # type: ignore[assignment]
        if transport_options.get('opentelemetry'):
            from . import otel  # tracing for this connection (kombu[opentelemetry])
            otel.enable_for_connection(transport_options['opentelemetry'])
        if uri_prefix:
            self.uri_prefix = uri_prefix
        self.declared_entities = set()

    def switch(self, conn_str: str) -> None:
        """Switch to another URL or host name (does not reconnect)."""
        self.close()
        self.declared_entities.clear()
        self._closed = False
        scheme = _scheme_of(conn_str)
        if scheme is None or scheme == self._primary_scheme:
            # a plain host name, or the primary's scheme: the primary URL's
            # transport, credentials and port carry over
            base, transport = self._initial_params, self._initial_params.get('transport')
        else:
            # another scheme (``redis://a;memory://``): its own transport and
            # none of the primary URL's host, port or credentials (as Kombu)
            base, transport = self._explicit_params, None
        url = from_url(conn_str, transport)
        if url.uri_prefix or transport is None:
            self.uri_prefix = url.uri_prefix
        params = dict(base, **url.params)
        self._init_params(**params)
        logger.info('Switched to broker %s', self._safe_uri())

    def maybe_switch_next(self) -> None:
        """Switch to the next URL given by the failover strategy."""
        if self.cycle:
            self.switch(next(self.cycle))

    def _init_params(self, hostname: str | None, userid: str | None, password: str | None,
                     virtual_host: str | None, port: int | None, insist: bool, ssl: Any,
                     transport: Any, connect_timeout: float, login_method: str | None,
                     heartbeat: float | None, credential_provider: Any = None) -> None:
        transport = transport or 'amqp'
        if transport == 'amqp' and supports_librabbitmq():
            transport = 'librabbitmq'
        if transport == 'rediss' and ssl_available and not ssl:
            logger.warning(
                'Secure redis scheme specified (rediss) with no ssl options, '
                'defaulting to insecure SSL behaviour (add ssl_cert_reqs to the URL).')
            ssl = {'ssl_cert_reqs': CERT_NONE}
        if transport != getattr(self, 'transport_cls', None):
            for name in ('connection_errors', 'channel_errors',
                         'recoverable_connection_errors', 'recoverable_channel_errors'):
                self.__dict__.pop(name, None)
        self.hostname = hostname
        self.userid = userid
        self.password = password
        self.login_method = login_method
        self.virtual_host = virtual_host or type(self).virtual_host
        self.port = port or type(self).port
        self.insist = insist
        self.connect_timeout = connect_timeout
        self.ssl = ssl
        self.transport_cls = transport
        self.heartbeat = heartbeat and float(heartbeat)
        self.credential_provider = credential_provider

    # -- connecting --------------------------------------------------------------

    def connect(self) -> Any:
        """Establish the connection now (one retry, transport errors as they are)."""
        return self._ensure_connection(max_retries=1, reraise_as_library_errors=False)

    def channel(self) -> Any:
        """Create and return a new channel (reconnecting a closed connection)."""
        self._debug('create channel')
        connection = self.connection
        if connection is None:  # closed: Kombu would pass None to the transport
            connection = self._ensure_connection(max_retries=1, reraise_as_library_errors=False)
        chan = self.transport.create_channel(connection)
        if _log_channel:  # pragma: no cover
            from .utils.debug import Logwrapped
            return Logwrapped(chan, 'kombu.channel', '[Kombu channel:{0.channel_id}] ')
        return chan

    def ensure_connection(self, *args: Any, **kwargs: Any) -> Connection:
        """Connect, retrying as told; returns this connection.

        Arguments are those of :meth:`_ensure_connection`: ``errback(exc,
        interval)``, ``max_retries``, ``interval_start``, ``interval_step``,
        ``interval_max``, ``callback()`` (called about every second while
        waiting), ``reraise_as_library_errors`` (translate transport errors
        into :exc:`~kombu.exceptions.OperationalError`) and ``timeout``: the
        total deadline in seconds, honoured even when the broker accepts a
        connection but never answers.
        """
        self._ensure_connection(*args, **kwargs)
        return self

    def _ensure_connection(self, errback: Callable[[Exception, float], Any] | None = None,
                           max_retries: int | None = None, interval_start: float = 2,
                           interval_step: float = 2, interval_max: float = 30,
                           callback: Callable[[], Any] | None = None,
                           reraise_as_library_errors: bool = True,
                           timeout: float | None = None) -> Any:
        if self.connected:
            return self._connection
        policy = _policy(max_retries, interval_start, interval_step, interval_max, timeout)
        ctx = self._reraise_as_library_errors if reraise_as_library_errors else nullcontext
        with ctx():
            return self._connect_with(policy, errback, callback)

    def _connect_with(self, policy: RetryPolicy,
                      errback: Callable[[Exception, float], Any] | None = None,
                      callback: Callable[[], Any] | None = None,
                      deadline: float | None = None) -> Any:
        """Retry :meth:`_connection_factory` until it succeeds or ``policy`` gives up."""
        if deadline is None:
            deadline = policy.deadline()
        intervals = policy.intervals()
        for retries in count():
            try:
                with self._attempt_bounded_by(deadline):
                    return self._connection_factory()
            except exceptions.AccessRefused:
                raise  # wrong credentials stay wrong: never retried
            except self.recoverable_connection_errors as exc:
                if policy.gives_up(retries, deadline):
                    raise
                interval = next(intervals) if self.completes_cycle(retries) else 0.0
                left = remaining(deadline)
                if left is not None:
                    interval = min(interval, left)
                # the caller's errback usually logs; don't say it twice
                logger.log(logging.DEBUG if errback else logging.WARNING,
                           'Cannot connect to %s: %s.%s', self._safe_uri(), exc,
                           f' Trying again in {interval:.2f} seconds...' if interval else '')
                try:
                    if errback:
                        errback(exc, interval)
                finally:
                    # after errback, so that it can still see the failing host
                    self.maybe_switch_next()
                if interval:
                    sleep_for(interval, callback)
        raise AssertionError('unreachable')  # pragma: no cover

    @contextmanager
    def _attempt_bounded_by(self, deadline: float | None) -> Iterator[None]:
        # Transports use connect_timeout for the connect and the handshake:
        # lower it so that one attempt cannot outlive the total deadline.
        left = remaining(deadline)
        if left is None:
            yield
            return
        original = self.connect_timeout
        self.connect_timeout = max(min(original or left, left), 0.001)
        try:
            yield
        finally:
            self.connect_timeout = original

    @contextmanager
    def _reraise_as_library_errors(
            self, ConnectionError: type[Exception] = exceptions.OperationalError,
            ChannelError: type[Exception] = exceptions.OperationalError,
    ) -> Iterator[None]:
        try:
            yield
        except (ConnectionError, ChannelError):
            raise
        except self.recoverable_connection_errors as exc:
            raise ConnectionError(str(exc)) from exc
        except self.recoverable_channel_errors as exc:
            raise ChannelError(str(exc)) from exc

    def completes_cycle(self, retries: int) -> bool:
        """Return true if the alternates were all tried after ``retries`` retries."""
        return not (retries + 1) % len(self.alt) if self.alt else True

    def _connection_factory(self) -> Any:
        self.declared_entities.clear()
        self._default_channel = None
        self._connection = self._establish_connection()
        self._closed = False
        return self._connection

    def _establish_connection(self) -> Any:
        self._debug('establishing connection...')
        conn = self.transport.establish_connection()
        self._debug('connection established: %r', self)
        return conn

    def _extract_failover_opts(self) -> dict[str, Any]:
        opts: dict[str, Any] = {'timeout': self.connect_timeout}
        options = self.transport_options or {}
        for key in ('max_retries', 'interval_start', 'interval_step', 'interval_max',
                    'errback', 'callback'):
            if key in options:
                opts[key] = options[key]
        if 'connect_retries_timeout' in options:
            opts['timeout'] = options['connect_retries_timeout']
        return opts

    # -- retrying operations -------------------------------------------------------

    def revive(self, new_channel: Any) -> None:
        """Forget the default channel after the connection was re-established."""
        if self._default_channel and new_channel is not self._default_channel:
            self.maybe_close_channel(self._default_channel)
            self._default_channel = None

    def ensure(self, obj: Any, fun: Callable[..., Any],
               errback: Callable[[Exception, float], Any] | None = None,
               max_retries: int | None = None, interval_start: float = 1,
               interval_step: float = 1, interval_max: float = 1,
               on_revive: Callable[[Any], Any] | None = None,
               retry_errors: tuple[type[BaseException], ...] | None = None,
               timeout: float | None = None) -> Callable[..., Any]:
        """Wrap ``fun`` so that connection and channel errors are retried.

        On a connection error the connection is re-established (within the
        same budget), ``obj.revive(channel)`` and ``on_revive(channel)`` are
        called with the new default channel, and ``fun`` is called again.
        ``retry_errors`` are retried as well (``max_retries`` is then
        required). A publisher-confirm nack
        (:exc:`~kombu.exceptions.MessageNacked`) is retried on a new channel,
        within the policy but at most :attr:`unbounded_nack_retries` times
        when the policy sets no ``max_retries``: RabbitMQ can nack every
        publish of a channel that first published to a quorum queue while the
        queue elected a new leader, and a full ``reject-publish`` queue would
        refuse forever. ``timeout`` bounds the total time of all attempts and
        waits. Errors that outlast the budget are raised as
        :exc:`~kombu.exceptions.OperationalError`.

        Example:
            >>> publish = conn.ensure(producer, producer.publish, max_retries=3)
            >>> publish({'hello': 'world'}, routing_key='dest')
        """
        if retry_errors is None:
            retry_errors = ()
        elif max_retries is None:
            raise ValueError('max_retries must be specified if retry_errors is specified')
        policy = _policy(max_retries, interval_start, interval_step, interval_max, timeout)

        def _ensured(*args: Any, **kwargs: Any) -> Any:
            return self._call_ensured(obj, fun, args, kwargs, policy,
                                      errback, on_revive, retry_errors)
        _ensured.__name__ = f'{getattr(fun, "__name__", "fun")}(ensured)'
        _ensured.__doc__ = getattr(fun, '__doc__', None)
        _ensured.__module__ = getattr(fun, '__module__', __name__)
        return _ensured

    def _call_ensured(self, obj: Any, fun: Callable[..., Any], args: tuple[Any, ...],
                      kwargs: dict[str, Any], policy: RetryPolicy,
                      errback: Callable[[Exception, float], Any] | None,
                      on_revive: Callable[[Any], Any] | None,
                      retry_errors: tuple[type[BaseException], ...]) -> Any:
        got_connection = 0
        nacks: Iterator[float] | None = None
        conn_errors = self.recoverable_connection_errors
        chan_errors = self.recoverable_channel_errors
        deadline = policy.deadline()
        max_retries = policy.max_retries
        # _reraise_as_library_errors, spelled out: this runs once per publish
        # with retry (Celery's default) and the context manager costs more
        # than the publish's own bookkeeping.
        try:
            if not self.connected:
                # Connect under the caller's policy: otherwise fun's first
                # access to default_channel would retry under the transport
                # options instead (Kombu #1024).
                self._connect_with(policy, errback, deadline=deadline)
            for retries in count(0):
                try:
                    return fun(*args, **kwargs)
                except exceptions.AccessRefused:
                    raise  # not transient (and an OperationalError already)
                except exceptions.MessageNacked as exc:
                    if nacks is None:
                        nacks = policy.intervals()
                    if policy.gives_up(retries, deadline) or (
                            max_retries is None and retries >= self.unbounded_nack_retries):
                        raise
                    interval = next(nacks)
                    left = remaining(deadline)
                    if left is not None:
                        interval = min(interval, left)
                    self._debug('ensure nack: %r', exc)
                    if errback:
                        errback(exc, interval)
                    self._renew_channel(obj, on_revive)
                    if interval:
                        sleep_for(interval, None)
                except retry_errors as exc:
                    if policy.gives_up(retries, deadline):
                        raise
                    self._debug('ensure retry policy error: %r', exc, exc_info=1)
                except conn_errors as exc:
                    if got_connection and not hasattr(self.get_transport_cls(),
                                                      'recoverable_connection_errors'):
                        # the transport can't tell recoverable errors apart:
                        # an error right after reconnecting is not transient
                        raise
                    if policy.gives_up(retries, deadline):
                        raise
                    self._debug('ensure connection error: %r', exc, exc_info=1)
                    self._revive_after(exc, obj, policy, retries, deadline, errback, on_revive)
                    got_connection += 1
                except chan_errors as exc:
                    if max_retries is not None and retries > max_retries:
                        raise
                    if deadline is not None and monotonic() >= deadline:
                        raise
                    self._debug('ensure channel error: %r', exc, exc_info=1)
                    if errback:
                        errback(exc, 0)
        except exceptions.OperationalError:
            raise
        except self.recoverable_connection_errors + self.recoverable_channel_errors as exc:
            raise exceptions.OperationalError(str(exc)) from exc
        raise AssertionError('unreachable')  # pragma: no cover

    def _revive_after(self, exc: Exception, obj: Any, policy: RetryPolicy, retries: int,
                      deadline: float | None,
                      errback: Callable[[Exception, float], Any] | None,
                      on_revive: Callable[[Any], Any] | None) -> None:
        """Reconnect within what is left of the budget, then revive ``obj``."""
        self.collect()
        if errback:
            errback(exc, 0)
        max_retries = policy.max_retries
        retries_left = None if max_retries is None else max(max_retries - retries, 1)
        self._connect_with(
            _policy(retries_left, policy.interval_start, policy.interval_step,
                    policy.interval_max, policy.timeout),
            errback, deadline=deadline)
        channel = self.default_channel
        obj.revive(channel)
        if on_revive:
            on_revive(channel)

    def _renew_channel(self, obj: Any, on_revive: Callable[[Any], Any] | None) -> None:
        """Move ``obj`` off a channel that nacked, to the (new) default channel.

        The default channel is closed and replaced when ``obj`` used it (or
        cannot tell); a channel of ``obj``'s own is left to its owner.
        """
        stale = self._default_channel
        if stale is not None and getattr(obj, 'channel', stale) is stale:
            self.maybe_close_channel(stale)
            self._default_channel = None
        channel = self.default_channel
        obj.revive(channel)
        if on_revive:
            on_revive(channel)

    def autoretry(self, fun: Callable[..., Any], channel: Any = None,
                  **ensure_options: Any) -> Callable[..., Any]:
        """Wrap ``fun(*args, channel=...)`` to retry on connection/channel errors.

        The wrapper returns ``(retval, channel)``: the channel may be a new
        one after a reconnect (close it when done).
        """
        channels = [channel]
        connection = self

        class Revival:
            __name__ = getattr(fun, '__name__', 'fun')
            __module__ = getattr(fun, '__module__', 'kombu.connection')
            __doc__ = getattr(fun, '__doc__', None)

            def revive(self, channel: Any) -> None:
                channels[0] = channel

            def __call__(self, *args: Any, **kwargs: Any) -> Any:
                if channels[0] is None:
                    self.revive(connection.default_channel)
                return fun(*args, channel=channels[0], **kwargs), channels[0]

        revive = Revival()
        return self.ensure(revive, revive, **ensure_options)

    # -- closing -------------------------------------------------------------------

    def maybe_close_channel(self, channel: Any) -> None:
        """Close ``channel``, ignoring connection and channel errors."""
        try:
            channel.close()
        except (self.connection_errors + self.channel_errors):
            pass

    def _do_close_self(self) -> None:
        # Close the connection and its default channel, not the transport.
        self.declared_entities.clear()
        if self._default_channel:
            self.maybe_close_channel(self._default_channel)
            self._default_channel = None
        if self._connection:
            try:
                self.transport.close_connection(self._connection)
            except self.connection_errors + (AttributeError, OSError):
                pass
            self._connection = None

    def _do_close_transport(self) -> None:
        if self._transport:
            self._transport.client = None
            self._transport = None

    def _close(self) -> None:
        """Really close, even when the connection belongs to a pool."""
        self._do_close_self()
        self._do_close_transport()
        self._debug('closed')
        self._closed = True

    def collect(self, socket_timeout: float | None = None) -> None:
        """Drop the connection's resources, talking to the server as little as possible."""
        gc_transport = getattr(self._transport, '_collect', None)
        if gc_transport is None:
            previous = socket.getdefaulttimeout()
            socket.setdefaulttimeout(socket_timeout)
            try:
                self._do_close_self()
            except socket.timeout:
                pass
            finally:
                socket.setdefaulttimeout(previous)
        else:
            gc_transport(self._connection)
        self._do_close_transport()
        self.declared_entities.clear()
        self._connection = None
        self._default_channel = None

    def release(self) -> None:
        """Close the connection (if open); calling it again does nothing."""
        self._close()

    close = release

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc_val: BaseException | None,
                 exc_tb: TracebackType | None) -> None:
        self.release()

    # -- events and heartbeats -----------------------------------------------------

    def drain_events(self, **kwargs: Any) -> Any:
        """Wait for one event on any channel; raises :exc:`socket.timeout` after ``timeout``."""
        # What the ``connection`` property does, without its property chain
        # when the connection is up (the common case: once per message).
        transport, connection = self._transport, self._connection
        if (transport is not None and connection is not None and not self._closed
                and transport.verify_connection(connection)):
            return transport.drain_events(connection, **kwargs)
        return self.transport.drain_events(self.connection, **kwargs)

    def heartbeat_check(self, rate: int = 2) -> Any:
        """Let the transport send/check heartbeats; call about once a second."""
        return self.transport.heartbeat_check(self.connection, rate=rate)

    def get_heartbeat_interval(self) -> float:
        return self.transport.get_heartbeat_interval(self.connection)

    def register_with_event_loop(self, loop: Any) -> None:
        self.transport.register_with_event_loop(self.connection, loop)

    # -- description -----------------------------------------------------------------

    def create_transport(self) -> Any:
        return self.get_transport_cls()(client=self)

    def get_transport_cls(self) -> Any:
        """Get the transport class in use."""
        transport_cls = self.transport_cls
        if not transport_cls or isinstance(transport_cls, str):
            transport_cls = get_transport_cls(transport_cls)
        return transport_cls

    def clone(self, **kwargs: Any) -> Connection:
        """Create a copy of the connection with the same settings (not connected)."""
        return self.__class__(**dict(self._info(resolve=False), **kwargs))

    def _info(self, resolve: bool = True) -> tuple[tuple[str, Any], ...]:
        transport_cls = self.transport_cls
        if resolve:
            transport_cls = self.resolve_aliases.get(transport_cls, transport_cls)
        transport = self._transport_or_none()
        D = transport.default_connection_params if transport is not None else {}
        hostname = self.hostname
        if not hostname and D.get('hostname'):
            # debug, not warning: this runs for every repr() and pooled copy
            logger.debug("No hostname was supplied. Reverting to default '%s'",
                         D.get('hostname'))
            hostname = D.get('hostname')
        if self.uri_prefix:
            hostname = f'{self.uri_prefix}+{hostname}'
        return (
            ('hostname', hostname),
            ('userid', self.userid or D.get('userid')),
            ('password', self.password or D.get('password')),
            ('virtual_host', self.virtual_host or D.get('virtual_host')),
            ('port', self.port or D.get('port')),
            ('insist', self.insist),
            ('ssl', self.ssl),
            ('transport', transport_cls),
            ('connect_timeout', self.connect_timeout),
            ('transport_options', self.transport_options),
            ('login_method', self.login_method or D.get('login_method')),
            ('uri_prefix', self.uri_prefix),
            ('heartbeat', self.heartbeat),
            ('failover_strategy', self._failover_strategy),
            ('alternates', self.alt),
            ('credential_provider', self.credential_provider),
        )

    def info(self, mask: str | None = None) -> dict[str, Any]:
        """Connection settings, as keyword arguments ``Connection`` accepts.

        Like Kombu this includes the password (``Connection(**conn.info())``
        must reconnect, and Celery reads it); pass ``mask`` (e.g. ``'**'``)
        for a copy that is safe to log.
        """
        info = dict(self._info())
        if mask is None:
            return info
        if info['password']:
            info['password'] = mask
        if isinstance(info['hostname'], str):
            info['hostname'] = mask_url(info['hostname'], mask)
        info['alternates'] = [mask_url(url, mask) for url in info['alternates']]
        return info

    def __eqhash__(self) -> HashedSeq:
        return HashedSeq(self.transport_cls, self.hostname, self.userid,
                         self.password, self.virtual_host, self.port,
                         repr(self.transport_options))

    def as_uri(self, include_password: bool = False, mask: str = '**',
               getfields: Callable[[Mapping[str, Any]], Any] = itemgetter(
                   'port', 'userid', 'password', 'virtual_host', 'transport')) -> str:
        """The connection as a URL; the password is masked unless ``include_password``."""
        hostname = self.hostname or 'localhost'
        transport = self._transport_or_none()
        if transport is None:  # client library missing: format what we know
            if not self.uri_prefix and '://' in hostname:
                return hostname if include_password else mask_url(hostname, mask)
        if transport is not None and transport.can_parse_url:
            try:
                return transport.as_uri(self.hostname, include_password, mask)
            except NotImplementedError:
                pass
            uri = f'{self.uri_prefix}+{hostname}' if self.uri_prefix else hostname
            return uri if include_password else mask_url(uri, mask)
        if self.uri_prefix:
            uri = f'{self.uri_prefix}+{hostname}'
            return uri if include_password else mask_url(uri, mask)
        port, userid, password, vhost, transport = getfields(dict(self._info()))
        if callable(password):
            password = password() if include_password else mask
        url = as_url(transport, hostname, port, userid, password, quote(vhost or ''),
                     sanitize=not include_password, mask=mask)
        if ':' in hostname:
            url = url.replace(safequote(hostname), format_host(hostname), 1)
        return url

    def _transport_or_none(self) -> Any:
        # Describing a connection must work without the transport's client library.
        try:
            return self.transport
        except ImportError:
            return None

    def _safe_uri(self) -> str:
        # For reprs and log messages: never the password, never an exception
        # (e.g. when the transport's client library is missing).
        try:
            return self.as_uri()
        except Exception:
            pass
        if self.uri_prefix:
            return mask_url(f'{self.uri_prefix}+{self.hostname}')
        if isinstance(self.hostname, str) and '://' in self.hostname:
            return mask_url(self.hostname)
        try:
            return as_url(str(self.transport_cls), self.hostname, self.port, self.userid,
                          self.password, quote(self.virtual_host or ''), sanitize=True)
        except Exception:
            return f'{self.transport_cls}://{self.hostname}'

    def __repr__(self) -> str:
        return f'<{type(self).__name__}: {self._safe_uri()} at {id(self):#x}>'

    def __copy__(self) -> Connection:
        return self.clone()

    def __reduce__(self) -> Any:
        return self.__class__, tuple(value for _, value in self._info(resolve=False)), None

    def _debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(f'[Kombu connection:{id(self):#x}] {msg}', *args, **kwargs)

    # -- factories -------------------------------------------------------------------

    def Pool(self, limit: int | None = None, **kwargs: Any) -> ConnectionPool:
        """Pool of (at most ``limit``) connections like this one."""
        return ConnectionPool(self, limit=limit, **kwargs)

    def ChannelPool(self, limit: int | None = None, **kwargs: Any) -> ChannelPool:
        """Pool of (at most ``limit``) channels of this connection."""
        return ChannelPool(self, limit, **kwargs)

    def Producer(self, channel: Any = None, *args: Any, **kwargs: Any) -> Any:
        from .messaging import Producer
        return Producer(channel or self, *args, **kwargs)

    def Consumer(self, queues: Any = None, channel: Any = None,
                 *args: Any, **kwargs: Any) -> Any:
        from .messaging import Consumer
        return Consumer(channel or self, queues, *args, **kwargs)

    def SimpleQueue(self, name: Any, no_ack: bool | None = None,
                    queue_opts: Mapping[str, Any] | None = None,
                    queue_args: Mapping[str, Any] | None = None,
                    exchange_opts: Mapping[str, Any] | None = None,
                    channel: Any = None, **kwargs: Any) -> Any:
        """Simple persistent queue API on this connection (see :mod:`kombu.simple`)."""
        from .simple import SimpleQueue
        return SimpleQueue(channel or self, name, no_ack, queue_opts, queue_args,
                           exchange_opts, **kwargs)

    def SimpleBuffer(self, name: Any, no_ack: bool | None = None,
                     queue_opts: Mapping[str, Any] | None = None,
                     queue_args: Mapping[str, Any] | None = None,
                     exchange_opts: Mapping[str, Any] | None = None,
                     channel: Any = None, **kwargs: Any) -> Any:
        """Simple ephemeral (non-durable, no-ack) queue API on this connection."""
        from .simple import SimpleBuffer
        return SimpleBuffer(channel or self, name, no_ack, queue_opts, queue_args,
                            exchange_opts, **kwargs)

    # -- properties ------------------------------------------------------------------

    def supports_exchange_type(self, exchange_type: str) -> bool:
        return exchange_type in self.transport.implements.exchange_type

    @property
    def qos_semantics_matches_spec(self) -> bool:
        return self.transport.qos_semantics_matches_spec(self.connection)

    @property
    def connected(self) -> bool:
        """True if the connection is established (and the transport says it's alive)."""
        return (not self._closed and self._connection is not None
                and self.transport.verify_connection(self._connection))

    @property
    def connection(self) -> Any:
        """The transport's own connection object (connects if needed; None once closed)."""
        if not self._closed:
            if not self.connected:
                return self._ensure_connection(max_retries=1, reraise_as_library_errors=False)
            return self._connection
        return None

    @property
    def default_channel(self) -> Any:
        """A channel created on first access and closed with the connection.

        Connecting here retries as configured by ``transport_options``
        (``max_retries``, ``interval_*``, ``connect_retries_timeout``) within
        ``connect_timeout`` seconds in total, and raises
        :exc:`~kombu.exceptions.OperationalError` when that fails.
        """
        self._ensure_connection(**self._extract_failover_opts())
        if self._default_channel is None:
            self._default_channel = self.channel()
        return self._default_channel

    @property
    def host(self) -> str:
        """The host as ``host:port``."""
        return ':'.join([str(self.hostname), str(self.port)])

    @property
    def transport(self) -> Any:
        if self._transport is None:
            self._transport = self.create_transport()
        return self._transport

    @cached_property
    def manager(self) -> Any:
        """The broker management API (not available for all transports)."""
        return self.transport.manager

    def get_manager(self, *args: Any, **kwargs: Any) -> Any:
        return self.transport.get_manager(*args, **kwargs)

    @cached_property
    def recoverable_connection_errors(self) -> tuple[type[BaseException], ...]:
        """Errors after which the connection must be re-established."""
        try:
            return self.get_transport_cls().recoverable_connection_errors
        except AttributeError:
            # transports without the distinction: everything is recoverable
            return self.connection_errors + self.channel_errors

    @cached_property
    def recoverable_channel_errors(self) -> tuple[type[BaseException], ...]:
        """Errors that can be retried without reconnecting."""
        try:
            return self.get_transport_cls().recoverable_channel_errors
        except AttributeError:
            return ()

    @cached_property
    def connection_errors(self) -> tuple[type[BaseException], ...]:
        return self.get_transport_cls().connection_errors

    @cached_property
    def channel_errors(self) -> tuple[type[BaseException], ...]:
        return self.get_transport_cls().channel_errors

    @property
    def supports_heartbeats(self) -> bool:
        return self.transport.implements.heartbeats

    @property
    def is_evented(self) -> bool:
        return self.transport.implements.asynchronous


BrokerConnection = Connection


class PooledConnection(Connection):
    """A connection handed out by :class:`ConnectionPool`.

    Leaving a ``with`` block by an exception discards it from the pool (it
    may be broken) instead of handing it to the next user.
    """

    def __init__(self, pool: ConnectionPool, **kwargs: Any) -> None:
        self._pool = pool
        super().__init__(**kwargs)

    def __enter__(self) -> PooledConnection:
        return self

    def clone(self, **kwargs: Any) -> Connection:
        # a copy is not part of the pool
        return Connection(**dict(self._info(resolve=False), **kwargs))

    def __reduce__(self) -> Any:
        return Connection, tuple(value for _, value in self._info(resolve=False)), None

    def __exit__(self, exc_type: type[BaseException] | None, exc_val: BaseException | None,
                 exc_tb: TracebackType | None) -> None:
        if exc_type is not None and self._pool.limit:
            self._pool.replace(self)
        return super().__exit__(exc_type, exc_val, exc_tb)


def maybe_channel(channel: Any) -> Any:
    """Return the default channel of a connection, or the channel given."""
    if is_connection(channel):
        return channel.default_channel
    return channel


def is_connection(obj: Any) -> bool:
    return isinstance(obj, Connection)
