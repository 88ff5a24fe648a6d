"""What each part of the Redis channel needs from the rest of it.

:class:`~kombu.transport.redis.Channel` is assembled from parts with one job
each (consuming, restoring, shared queue arguments, shared exchange
declarations), mixed into the virtual channel.  Each part declares here, as a
:class:`typing.Protocol`, the members of the Redis channel it relies on;
under type checking the part is checked against the virtual channel plus its
protocol, and the assembled channel against every protocol at once, so a
renamed attribute or a changed signature fails ``mypy`` instead of a
consumer at run time.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn, Protocol

if TYPE_CHECKING:
    import threading

    import redis
    from redis.connection import AbstractConnection

    from kombu.transport.virtual.state import QueuePolicy
    from kombu.utils.scheduling import round_robin_cycle

__all__ = ('RedisCommands', 'UnackedStore', 'ConsumeHost', 'QueueArgsHost',
           'ExchangeDeclHost')

#: A command as the channel sends it: name, then arguments.
Command = tuple


class RedisCommands(Protocol):
    """The channel's command execution on its dedicated connection."""

    global_keyprefix: str
    sep: str
    binding_cache_ttl: float
    #: the connection errors of the transport (caught around best-effort calls).
    connection_errors: tuple[type[BaseException], ...]

    def _execute(self, *args: Any) -> Any: ...
    def _run(self, commands: list[Command]) -> list[Any]: ...
    def _execute_many(self, commands: list[Command]) -> list[Any]: ...
    def _refused(self, exc: redis.exceptions.ResponseError, operation: Any) -> NoReturn: ...
    def _script(self, name: str, keys: list[str], args: list[Any]) -> Any: ...
    def _script_cmd(self, name: str, keys: list[str], args: list[Any]) -> Command: ...
    def _qkey(self, queue: str, pri: int) -> str: ...


class UnackedStore(RedisCommands, Protocol):
    """What restoring and recording unacked messages use."""

    ack_emulation: bool
    _unacked: str
    _unacked_index: str

    @property
    def _sync(self) -> redis.Redis: ...
    def _q_for_pri(self, queue: str, pri: int) -> str: ...
    def _send_deferred(self, commands: list[Command], tags: list[str] | None = None) -> None: ...


class ConsumeHost(UnackedStore, Protocol):
    """What batch pops, BRPOP and the fanout subscription use."""

    brpop_timeout: float
    health_check_interval: float
    _hot: AbstractConnection | None
    _hot_lock: threading.RLock
    _pool: redis.ConnectionPool | None
    consume_batch_size: int
    fanout_patterns: bool
    keyprefix_fanout: str
    _closing: bool
    _teardown_failed: bool
    _queue_cycle: round_robin_cycle
    _no_ack_queues: set[str]
    active_fanout_queues: set[str]
    _fanout_queues: dict[str, tuple[str, str]]
    _fanout_to_queue: dict[str, str]
    _topic_queues: dict[str, list[str]]

    @property
    def active_queues(self) -> list[str]: ...
    @property
    def client(self) -> redis.Redis: ...
    @property
    def subclient(self) -> redis.client.PubSub: ...
    def _consume_keys(self, queues: list[str]) -> list[str]: ...
    def _touch_expires(self, queues: list[str]) -> None: ...
    def _update_queue_cycle(self) -> None: ...
    def _acks_unconfirmed(self, tags: list[str], sent_at: float | None = None) -> None: ...
    def _record_commands(self, tag: str, payload: dict, exchange: str,
                         routing_key: str) -> list[Command]: ...
    def _remove_unacked(self, tags: list[str], client: Any = None) -> None: ...


class QueueArgsHost(RedisCommands, Protocol):
    """What storing and loading queue arguments use."""

    _expires: dict[str, int]
    _loaded_policies: dict[str, tuple[float, QueuePolicy | None]]

    def _get_queue_expire(self, args: Any) -> int | None: ...


class ExchangeDeclHost(RedisCommands, Protocol):
    """What storing and loading exchange declarations use."""

    _routes: dict[tuple[str, str], tuple[int, float, list]]

    def get_table(self, exchange: str) -> list[tuple[str, ...]]: ...
