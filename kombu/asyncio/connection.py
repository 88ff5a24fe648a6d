"""``AsyncConnection``: a :class:`kombu.Connection` driven from asyncio.

The URL, alternates, failover strategy, transport options and the retry
policy are the sync connection's (one parser, one :class:`RetryPolicy`);
only the waiting differs: retries sleep with ``asyncio.sleep`` and each
attempt runs on the connection's runner (see :mod:`kombu.asyncio.runner`).
"""
from __future__ import annotations

import asyncio
import logging
from itertools import count
from types import TracebackType
from typing import Any, Callable

from kombu import exceptions
from kombu.brokerurl import scheme_of
from kombu.connection import Connection
from kombu.retry import RetryPolicy, remaining

from .runner import Runner, runner_for

__all__ = ('AsyncConnection', 'AsyncChannel')

logger = logging.getLogger(__name__)


def _refused(exc: BaseException) -> bool:
    """A client library's refused login (redis-py's is not a kombu AccessRefused)."""
    try:
        from redis.exceptions import AuthenticationError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, AuthenticationError)


class AsyncChannel:
    """A sync channel plus the runner its calls go through."""

    def __init__(self, connection: AsyncConnection, channel: Any, driver: Any = None) -> None:
        self.connection = connection
        self.channel = channel
        self.runner = connection.runner
        #: native I/O for the message path (``None``: everything on the runner)
        self.driver = driver
        #: the connection's generation this channel was opened in
        self.generation = connection._generation
        self._closed = False

    @property
    def native(self) -> bool:
        """True when messages move without a thread hop."""
        return self.driver is not None or self.runner.native

    async def run(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self.runner.run(fun, *args, **kwargs)

    async def close(self) -> None:
        """Close the channel: messages it received and did not ack come back."""
        if not self._closed:
            self._closed = True
            try:
                if self.driver is not None:
                    await self.driver.close(self)
                await self.run(self.channel.close)
            except Exception as exc:
                if not self.connection.lost(exc):
                    raise
                # the broker gives back what it delivered on it
                logger.debug('closing a channel of a lost connection: %r', exc)

    async def __aenter__(self) -> AsyncChannel:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class AsyncConnection:
    """Connection to a broker for asyncio code.

    Takes the arguments of :class:`kombu.Connection` (``'redis://a;redis://b'``
    or ``alternates=[...]`` for failover).  ``await conn.ensure_connection()``
    connects (retrying as :meth:`kombu.Connection.ensure_connection`);
    ``async with AsyncConnection(url) as conn`` connects and closes.
    """

    def __init__(self, hostname: Any = 'localhost', *args: Any,
                 runner: Runner | None = None, native: bool = True, **kwargs: Any) -> None:
        self.sync = Connection(hostname, *args, **kwargs)
        self.runner = runner or runner_for(self.transport_name, *(
            scheme for scheme in map(scheme_of, self.sync.alt) if scheme))
        #: False: no native driver, every transport call on the runner
        self.use_native = native
        self._channels: list[AsyncChannel] = []
        #: the aiormq connection shared by the native amqp:// channels
        self._amqp: Any = None
        self._closed = False
        #: one recovery at a time (a producer and a consumer may share a channel)
        self._recovering: asyncio.Lock | None = None
        #: bumped at each new transport connection made by a recovery
        self._generation = 0

    @property
    def transport_name(self) -> str:
        return str(self.sync.transport.driver_type)

    @property
    def connected(self) -> bool:
        return self.sync.connected

    async def connect(self) -> AsyncConnection:
        return await self.ensure_connection(max_retries=1)

    async def ensure_connection(
            self, errback: Callable[[Exception, float], Any] | None = None,
            max_retries: int | None = None, interval_start: float = 2,
            interval_step: float = 2, interval_max: float = 30,
            timeout: float | None = None,
            retry_policy: RetryPolicy | dict[str, Any] | None = None) -> AsyncConnection:
        """Connect, retrying (and failing over to alternates) by the policy.

        ``errback(exc, interval)`` is called before each wait; ``timeout``
        bounds all attempts and waits together.
        """
        if self.connected:
            return self
        if retry_policy is None:
            policy = RetryPolicy(max_retries, interval_start, interval_step,
                                 interval_max, timeout)
        else:
            policy = RetryPolicy.from_dict(retry_policy)
        try:
            await self._connect_with(policy, errback)
        except exceptions.KombuError:
            raise
        except self.sync.recoverable_connection_errors as exc:
            raise exceptions.OperationalError(str(exc)) from exc
        return self

    async def _connect_with(self, policy: RetryPolicy,
                            errback: Callable[[Exception, float], Any] | None,
                            deadline: float | None = None) -> None:
        sync = self.sync
        if deadline is None:
            deadline = policy.deadline()
        intervals = policy.intervals()
        for retries in count():
            try:
                await asyncio.wait_for(self.runner.run(sync._connection_factory),
                                       remaining(deadline))
                return
            except exceptions.AccessRefused:
                raise  # wrong credentials stay wrong
            except (asyncio.TimeoutError, *sync.recoverable_connection_errors) as exc:
                if policy.gives_up(retries, deadline):
                    raise
                interval = next(intervals) if sync.completes_cycle(retries) else 0.0
                left = remaining(deadline)
                if left is not None:
                    interval = min(interval, left)
                logger.debug('Cannot connect to %s: %s; retrying in %.2fs',
                             sync._safe_uri(), exc, interval)
                try:
                    if errback:
                        errback(exc, interval)
                finally:
                    await self.runner.run(sync.maybe_switch_next)
                if interval:
                    await asyncio.sleep(interval)

    async def channel(self) -> AsyncChannel:
        """A new channel (connecting first if needed)."""
        if not self.connected:
            await self.ensure_connection(**self._failover_opts())
        sync_channel = await self.runner.run(self.sync.channel)
        channel = AsyncChannel(self, sync_channel, await self._driver_for(sync_channel))
        self._channels.append(channel)
        return channel

    async def _driver_for(self, sync_channel: Any) -> Any:
        if not self.use_native:
            return None
        name = self.transport_name
        if name == 'redis':
            from .native_redis import native_redis_for
            return native_redis_for(sync_channel)
        if name == 'amqp':
            try:
                from . import native_amqp
            except ImportError:  # aiormq not installed: the adapter
                return None
            if self._amqp is None:
                self._amqp = await native_amqp.connect(self.sync)
                if self._amqp is None:
                    return None
            return await native_amqp.native_amqp_for(self._amqp)
        return None

    async def _reconnect_native(self, channel: AsyncChannel, policy: RetryPolicy,
                                deadline: float | None,
                                errback: Callable[[Exception, float], Any] | None) -> None:
        """After ``channel``'s aiormq connection or channel was lost: reconnect
        (failing over to the next alternate as ``ensure_connection`` does)
        within ``policy`` and ``deadline``, and give ``channel`` a new sync
        channel and driver.  Another channel that already reconnected this
        connection leaves only a new channel to open."""
        from . import native_amqp
        stale = channel.driver.connection if channel.driver is not None else None
        if stale is self._amqp or not native_amqp.is_open(self._amqp):
            old, self._amqp = self._amqp, None
            if old is not None:
                try:
                    await old.close()
                except Exception as exc:  # it is gone: that is why we are here
                    logger.debug('closing lost aiormq connection: %r', exc)
            await self.runner.run(self.sync.collect)
            await self._connect_with(policy, errback, deadline)
            self._amqp = await native_amqp.connect(self.sync)
        elif not self.connected:
            await self._connect_with(policy, errback, deadline)
        channel.channel = await self.runner.run(self.sync.channel)
        channel.driver = await native_amqp.native_amqp_for(self._amqp)

    def lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the connection (or a native channel) is gone,
        so that a new one may help: never a refused login or permission."""
        from .republish import ConnectionLost
        if isinstance(exc, exceptions.AccessRefused) or _refused(exc):
            return False
        return isinstance(exc, (ConnectionLost, *self._lost_errors))

    @property
    def _lost_errors(self) -> tuple[type[BaseException], ...]:
        # KeyError is among the Redis transport's (Kombu's) recoverable errors;
        # here it would turn a bug into a reconnect loop
        return tuple(e for e in self.sync.recoverable_connection_errors
                     if not issubclass(e, LookupError))

    async def recover(self, channel: AsyncChannel, lost: Any, policy: RetryPolicy,
                      errback: Callable[[Exception, float], Any] | None = None,
                      deadline: float | None = None) -> None:
        """Give ``channel`` a working sync channel and driver after its
        connection was lost while it used the sync channel ``lost``.

        Reconnects within ``policy`` (and ``deadline``), failing over to the
        next alternate as ``ensure_connection`` does; what the old native
        driver held and nobody settled is given back on the new connection.
        A channel recovered meanwhile by another of its users is left as it is.
        Raises :exc:`~kombu.exceptions.OperationalError` when the policy gives
        up, :exc:`~kombu.exceptions.AccessRefused` at once.
        """
        if self._recovering is None:
            self._recovering = asyncio.Lock()
        async with self._recovering:
            if channel.channel is not lost:
                return
            if self._closed or channel._closed:
                raise exceptions.OperationalError('connection closed while recovering')
            old = channel.driver
            try:
                if old is not None and old.native_connection:
                    await self._reconnect_native(channel, policy, deadline, errback)
                else:
                    await self._reconnect_sync(channel, policy, deadline, errback)
            except exceptions.KombuError:
                raise
            except (asyncio.TimeoutError, *self.sync.recoverable_connection_errors) as exc:
                raise exceptions.OperationalError(str(exc)) from exc
            if old is not None:
                await old.abandon(channel)

    async def _reconnect_sync(self, channel: AsyncChannel, policy: RetryPolicy,
                              deadline: float | None,
                              errback: Callable[[Exception, float], Any] | None) -> None:
        # a new transport connection (the server may have moved: the next
        # alternate), unless another channel made one since this one's
        if channel.generation == self._generation:
            self._generation += 1
            await self.runner.run(self.sync.collect)
            await self._connect_with(policy, errback, deadline)
        elif not self.connected:
            await self._connect_with(policy, errback, deadline)
        channel.channel = await self.runner.run(self.sync.channel)
        channel.driver = await self._driver_for(channel.channel)
        channel.generation = self._generation

    def _failover_opts(self) -> dict[str, Any]:
        opts = self.sync._extract_failover_opts()
        opts.pop('callback', None)
        return opts

    def Producer(self, channel: AsyncChannel | None = None, **kwargs: Any) -> Any:
        from .messaging import AsyncProducer
        return AsyncProducer(channel or self, **kwargs)

    def Consumer(self, queues: Any = None, channel: AsyncChannel | None = None,
                 **kwargs: Any) -> Any:
        from .messaging import AsyncConsumer
        return AsyncConsumer(channel or self, queues, **kwargs)

    def SimpleQueue(self, name: Any, **kwargs: Any) -> Any:
        from .simple import AsyncSimpleQueue
        return AsyncSimpleQueue(self, name, **kwargs)

    async def close(self) -> None:
        """Close every channel (unacked messages come back), then the connection."""
        if self._closed:
            return
        self._closed = True
        for channel in self._channels:
            try:
                await channel.close()
            except Exception as exc:  # the connection may already be gone
                logger.debug('closing channel: %r', exc)
        self._channels.clear()
        if self._amqp is not None:
            amqp, self._amqp = self._amqp, None
            try:
                await amqp.close()
            except Exception as exc:  # already lost
                logger.debug('closing aiormq connection: %r', exc)
        await self.runner.run(self.sync.release)
        self.runner.close()

    release = close

    async def __aenter__(self) -> AsyncConnection:
        await self.ensure_connection(**self._failover_opts())
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f'<AsyncConnection: {self.sync.as_uri()} ({self.runner.name})>'
