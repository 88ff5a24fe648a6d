"""Consumer recovery: an :class:`~kombu.asyncio.AsyncConsumer` whose
connection is lost reconnects and carries on, as :class:`kombu.mixins.ConsumerMixin`
does for the sync API.

On a lost connection (or native channel) the consumer reconnects within its
retry policy -- the connection's ``ensure_connection`` policy unless told
otherwise, failing over to the next alternate URL -- declares its queues,
exchanges and bindings again (``auto_declare``), sets its prefetch again and
resumes consuming.  A refused login or permission
(:exc:`~kombu.exceptions.AccessRefused`) is raised at once.

Messages delivered before the loss and not acked come back to their queues:
the AMQP broker redelivers them (``redelivered`` set); on Redis the consumer
gives them back on the new connection (marked redelivered) -- after a
failover to another server they come back on the old one once its visibility
timeout passes.  Settling such a message afterwards (it is
:attr:`~kombu.asyncio.AsyncMessage.stale`) does nothing: its delivery tag
means nothing, or another delivery, on the new connection; the redelivered
copy is the one to ack.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Callable, Mapping

from kombu.retry import RetryPolicy

if TYPE_CHECKING:
    from .connection import AsyncChannel, AsyncConnection

__all__ = ('Recovery', 'recovery_policy')

logger = logging.getLogger(__name__)

#: transport options that tune the connection's ensure_connection policy
_OPTION_KEYS = ('max_retries', 'interval_start', 'interval_step', 'interval_max')


def recovery_policy(connection: AsyncConnection,
                    retry_policy: RetryPolicy | Mapping[str, Any] | None = None,
                    ) -> tuple[RetryPolicy, Callable[[Exception, float], Any] | None]:
    """The policy (and ``errback``) a consumer reconnects by.

    ``ensure_connection``'s defaults (no limit, waits of 2 s growing to
    30 s), then the connection's transport options (``max_retries``,
    ``interval_*``, ``connect_retries_timeout``, ``errback``), then
    ``retry_policy``.
    """
    options = connection.sync.transport_options or {}
    base: dict[str, Any] = {k: options[k] for k in _OPTION_KEYS if k in options}
    if 'connect_retries_timeout' in options:
        base['timeout'] = options['connect_retries_timeout']
    errback = options.get('errback')
    if isinstance(retry_policy, Mapping):
        errback = retry_policy.get('errback', errback)
    return RetryPolicy.from_dict(retry_policy, **base), errback


class Recovery:
    """A consumer's view of its connection: lost (and why) or not."""

    def __init__(self, enabled: bool,
                 retry_policy: RetryPolicy | Mapping[str, Any] | None) -> None:
        self.enabled = enabled
        self.retry_policy = retry_policy
        #: why the connection is lost, until the consumer recovered
        self.pending: BaseException | None = None
        #: the sync channel that was lost with it
        self._lost: Any = None
        self._lock = asyncio.Lock()

    def noticed(self, channel: AsyncChannel, exc: BaseException) -> bool:
        """Whether ``exc`` means a lost connection the consumer will recover from."""
        if not (self.enabled and channel.connection.lost(exc)):
            return False
        if self.pending is None:
            logger.warning('Consumer lost its connection (%r); reconnecting', exc)
            self.pending, self._lost = exc, channel.channel
        return True

    async def reconnect(self, channel: AsyncChannel) -> None:
        """Reconnect ``channel`` (unless another of its users did it since)."""
        async with self._lock:
            if self.pending is None:
                return
            policy, errback = recovery_policy(channel.connection, self.retry_policy)
            await channel.connection.recover(channel, self._lost, policy, errback)
            self.pending = self._lost = None
