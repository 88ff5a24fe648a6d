"""Queue arguments kept in the broker, so that one process's declaration applies in another.

A queue declared with ``x-message-ttl``, ``x-dead-letter-exchange``, ``x-max-priority``,
... by one process must be honoured by a process that only publishes to it or consumes
from it.  Stores that can hold the arguments next to the queue mix this in before the
virtual :class:`~kombu.transport.virtual.Channel` and implement one hook,
:meth:`_stored_queue_arguments`; what it reads is reused for :attr:`policy_max_age`
seconds per connection, so the store is not asked on every publish.
"""
from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple

from .state import QueuePolicy

__all__ = ('SharedPoliciesMixin', 'PolicyCache')

#: per connection: queue -> (when read, the policy or None)
PolicyCache = Dict[str, Tuple[float, Optional[QueuePolicy]]]

if TYPE_CHECKING:
    from .base import Channel as _ChannelBase
else:
    _ChannelBase = object


class SharedPoliciesMixin(_ChannelBase):
    """``_queue_policy`` from the process's own declarations, else from the store."""

    #: seconds a policy read from the store is reused (declared elsewhere meanwhile:
    #: seen after at most this long).
    policy_max_age = 1.0

    def _stored_queue_arguments(self, queue: str) -> Mapping[str, Any] | None:
        """The arguments ``queue`` was declared with, as the store keeps them."""
        raise NotImplementedError

    def _policy_cache(self) -> PolicyCache:
        """The connection-wide cache (created on first use)."""
        connection: Any = self.connection
        cache: PolicyCache | None = getattr(connection, '_shared_policies', None)
        if cache is None:
            cache = connection._shared_policies = {}
        return cache

    def _forget_policy(self, queue: str) -> None:
        """Drop what was read of ``queue`` (deleted or declared again here)."""
        self._policy_cache().pop(queue, None)

    def _queue_policy(self, queue: str) -> QueuePolicy | None:
        policy = self.state.policies.get(queue)
        if policy is not None:
            return policy
        cache = self._policy_cache()
        now = monotonic()
        hit = cache.get(queue)
        if hit is not None and now - hit[0] < self.policy_max_age:
            return hit[1]
        arguments = self._stored_queue_arguments(queue)
        policy = QueuePolicy.from_arguments(arguments) if arguments else None
        cache[queue] = (now, policy)
        return policy
