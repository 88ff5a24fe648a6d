"""redis-py glue: error classes, key-prefixing clients and a non-blocking mutex."""
from __future__ import annotations

from collections import namedtuple
from contextlib import contextmanager
from typing import Any, Iterator

import redis
from redis import client as _rclient
from redis import exceptions

error_classes_t = namedtuple('error_classes_t', ('connection_errors', 'channel_errors'))


def get_redis_error_classes() -> error_classes_t:
    """Return ``(connection_errors, channel_errors)`` for redis-py.

    Both list kombu's kinds (what the transport raises, see
    :mod:`kombu.transport.redis.errors`) and redis-py's own.
    """
    from kombu.transport import virtual

    from .errors import channel_errors, connection_errors
    return error_classes_t(
        connection_errors(tuple(virtual.Transport.connection_errors)),
        channel_errors(tuple(virtual.Transport.channel_errors)),
    )


def get_redis_ConnectionError() -> type[Exception]:
    """Return redis-py's ConnectionError class."""
    return exceptions.ConnectionError


class MutexHeld(Exception):
    """Raised when another party holds the lock."""


@contextmanager
def Mutex(client: redis.Redis, name: str, expire: int) -> Iterator[None]:
    """Hold Redis lock ``name`` for the block, or raise :exc:`MutexHeld` at once."""
    lock = client.lock(name, timeout=expire)
    acquired = lock.acquire(blocking=False)
    if not acquired:
        raise MutexHeld()
    try:
        yield
    finally:
        try:
            lock.release()
        except exceptions.LockNotOwnedError:  # expired while held
            pass


class GlobalKeyPrefixMixin:
    """Prefix the keys of the commands Kombu sends with ``global_keyprefix``.

    Done at ``execute_command`` level, the one funnel every command goes
    through, rather than by overriding each command method.
    """

    global_keyprefix: str = ''

    PREFIXED_SIMPLE_COMMANDS = [
        'HDEL', 'HGET', 'HLEN', 'HSET', 'LLEN', 'LPUSH', 'PUBLISH', 'RPUSH',
        'RPOP', 'SADD', 'SREM', 'SET', 'SMEMBERS', 'ZADD', 'ZRANGE', 'ZREM',
        'PEXPIRE', 'EXISTS', 'HMGET', 'ZSCORE', 'SCARD',
    ]

    PREFIXED_COMPLEX_COMMANDS: dict[str, dict[str, int | None]] = {
        'DEL': {'args_start': 0, 'args_end': None},
        'BRPOP': {'args_start': 0, 'args_end': -1},
        'EVALSHA': {'args_start': 2, 'args_end': 3},
        'WATCH': {'args_start': 0, 'args_end': None},
    }

    def _prefix_args(self, args: Any) -> list[Any]:
        command, *rest = args
        prefix = self.global_keyprefix
        if command in self.PREFIXED_SIMPLE_COMMANDS:
            rest[0] = prefix + _text(rest[0])
        elif command in self.PREFIXED_COMPLEX_COMMANDS:
            spec = self.PREFIXED_COMPLEX_COMMANDS[command]
            start, end = spec['args_start'] or 0, spec['args_end']
            stop = len(rest) if end is None else len(rest) + end if end < 0 else end
            for i in range(start, stop):
                rest[i] = prefix + _text(rest[i])
        return [command, *rest]

    def parse_response(self, connection: Any, command_name: Any, **options: Any) -> Any:
        ret = super().parse_response(connection, command_name, **options)  # type: ignore[misc]
        if command_name == 'BRPOP' and ret:
            key, value = ret
            return key[len(self.global_keyprefix):], value
        return ret

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return super().execute_command(*self._prefix_args(args), **kwargs)  # type: ignore[misc]

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> PrefixedRedisPipeline:
        return PrefixedRedisPipeline(
            self.connection_pool, self.response_callbacks,  # type: ignore[attr-defined]
            transaction, shard_hint, global_keyprefix=self.global_keyprefix)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class PrefixedStrictRedis(GlobalKeyPrefixMixin, redis.Redis):
    """A ``redis.Redis`` client that prefixes the keys it uses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.global_keyprefix = kwargs.pop('global_keyprefix', '')
        redis.Redis.__init__(self, *args, **kwargs)

    def pubsub(self, **kwargs: Any) -> PrefixedRedisPubSub:
        return PrefixedRedisPubSub(
            self.connection_pool, global_keyprefix=self.global_keyprefix, **kwargs)


class PrefixedRedisPipeline(GlobalKeyPrefixMixin, _rclient.Pipeline):
    """Pipeline of a :class:`PrefixedStrictRedis`, prefixing the same way."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.global_keyprefix = kwargs.pop('global_keyprefix', '')
        _rclient.Pipeline.__init__(self, *args, **kwargs)


class PrefixedRedisPubSub(_rclient.PubSub):
    """PubSub whose channel and pattern names carry ``global_keyprefix``."""

    PUBSUB_COMMANDS = ('SUBSCRIBE', 'UNSUBSCRIBE', 'PSUBSCRIBE', 'PUNSUBSCRIBE')

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.global_keyprefix = kwargs.pop('global_keyprefix', '')
        super().__init__(*args, **kwargs)

    def _prefix_args(self, args: Any) -> list[Any]:
        command, *rest = args
        if command in self.PUBSUB_COMMANDS:
            rest = [self.global_keyprefix + _text(arg) for arg in rest]
        return [command, *rest]

    def parse_response(self, *args: Any, **kwargs: Any) -> Any:
        ret = super().parse_response(*args, **kwargs)
        if ret is None:
            return ret
        # [type, channel, data] or [type, pattern, channel, data]
        message_type, *channels, message = ret
        cut = len(self.global_keyprefix)
        return [message_type, *[c[cut:] for c in channels], message]

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return super().execute_command(*self._prefix_args(args), **kwargs)
