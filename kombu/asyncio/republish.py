"""``publish(retry=True)`` on the native ``amqp://`` and ``redis://`` paths.

The semantics are :meth:`kombu.Producer.publish`'s (``Connection.ensure``):
the ``retry_policy`` keys and defaults (unlimited retries, waits of 1 s),
its ``errback(exc, interval)``, and on a lost connection a reconnect --
failing over to the next alternate URL as ``ensure_connection`` does --
within what is left of the policy, then the entities declared again and the
message published again.  A refused login or permission
(:exc:`~kombu.exceptions.AccessRefused`) and a broker nack
(:exc:`~kombu.exceptions.MessageNacked`) are raised at once, never retried.

A message whose confirm was lost with the connection is published again:
the broker may then hold it twice (at least once, as the sync API).
"""
from __future__ import annotations

from itertools import count
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, Sequence

from kombu import exceptions
from kombu.retry import RetryPolicy

if TYPE_CHECKING:
    from kombu.messaging import Producer

    from .connection import AsyncChannel

__all__ = ('ConnectionLost', 'publish_policy', 'publish_retrying')

#: ``Connection.ensure``'s defaults, which ``Producer.publish(retry=True)`` uses.
PUBLISH_DEFAULTS = {'interval_start': 1, 'interval_step': 1, 'interval_max': 1}


class ConnectionLost(exceptions.OperationalError, ConnectionError):
    """A native driver's connection or channel is gone (``publish(retry=True)``
    and a recovering consumer reconnect)."""


def publish_policy(retry_policy: RetryPolicy | Mapping[str, Any] | None) -> RetryPolicy:
    """The policy ``publish(retry=True, retry_policy=...)`` retries by."""
    return RetryPolicy.from_dict(retry_policy, **PUBLISH_DEFAULTS)


async def publish_retrying(channel: AsyncChannel, producer: Producer,
                           attempt: Callable[[], Awaitable[Any]], declare: Sequence[Any],
                           retry_policy: RetryPolicy | Mapping[str, Any] | None) -> Any:
    """Run ``attempt`` (one publish on ``channel`` as it is then), and after a
    lost connection reconnect and run it again, as the policy says."""
    policy = publish_policy(retry_policy)
    errback: Callable[[Exception, float], Any] | None = None
    on_revive: Callable[[Any], Any] | None = None
    if isinstance(retry_policy, Mapping):
        errback, on_revive = retry_policy.get('errback'), retry_policy.get('on_revive')
    deadline = policy.deadline()
    connection = channel.connection
    for retries in count():
        lost = channel.channel
        try:
            return await attempt()
        except Exception as exc:
            if not connection.lost(exc) or policy.gives_up(retries, deadline):
                raise
            if errback:
                errback(exc, 0)
            await _revive(channel, lost, producer, declare, policy, retries, deadline, errback)
            if on_revive:
                on_revive(channel.channel)
    raise AssertionError('unreachable')  # pragma: no cover


async def _revive(channel: AsyncChannel, lost: Any, producer: Producer,
                  declare: Sequence[Any], policy: RetryPolicy, retries: int,
                  deadline: float | None,
                  errback: Callable[[Exception, float], Any] | None) -> None:
    # the reconnect may use what is left of the retries (at least one), as
    # Connection.ensure does; AccessRefused from it propagates untouched
    left = None if policy.max_retries is None else max(policy.max_retries - retries, 1)
    connect_policy = RetryPolicy(left, policy.interval_start, policy.interval_step,
                                 policy.interval_max, policy.timeout, policy.jitter)
    await channel.connection.recover(channel, lost, connect_policy, errback, deadline)
    producer.revive(channel.channel)
    entities = producer._entities_to_declare(declare)
    if entities:  # a new broker (failover) or a restarted one may not have them
        from .messaging import _declare_all
        await channel.run(_declare_all, producer, entities)
