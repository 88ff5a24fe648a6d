"""Queue arguments shared through Redis, mixed into the channel.

The virtual transport keeps a queue's ``x-`` arguments (message TTL,
``x-expires``, dead-lettering, ``x-max-length``...) in the declaring process
only.  On Redis other processes publish to and consume from the same queue,
so a declaration with arguments also stores them in Redis, under
``_kombu.queue_args.<queue>`` (after ``global_keyprefix``), and a process
that did not declare the queue loads them from there, cached for
``binding_cache_ttl`` seconds like the binding tables.  Upstream Kombu never
reads that key, so sharing one Redis with it stays compatible.
"""
from __future__ import annotations

import logging
from time import monotonic
from typing import TYPE_CHECKING, Any, Mapping

from kombu.transport.virtual.state import QueuePolicy

from . import keys as K

logger = logging.getLogger('kombu.transport.redis')

if TYPE_CHECKING:
    from kombu.transport.virtual import Channel as _VirtualChannel

    from .contracts import QueueArgsHost

    class _ChannelBase(_VirtualChannel, QueueArgsHost):
        """Checked as part of the virtual channel, with what it needs of Redis's."""
else:
    _ChannelBase = object  # the Redis channel supplies the rest


class QueueArgsMixin(_ChannelBase):
    """Store queue arguments in Redis on declare; load them where missing."""

    keyprefix_queue_args = '_kombu.queue_args.%s'
    _get_no_ack: bool  # the channel's: set while a _get is not a delivery

    def _queue_args_key(self, queue: str) -> str:
        return self.global_keyprefix + self.keyprefix_queue_args % (queue,)

    def _declare_policy(self, queue: str, arguments: Mapping[str, Any] | None) -> None:
        super()._declare_policy(queue, arguments)
        policy = QueuePolicy.from_arguments(arguments)
        if policy is None or arguments is None:
            # declaring without arguments (e.g. a publisher's plain Queue)
            # keeps what another process declared
            return
        key = self._queue_args_key(queue)
        commands: list[tuple] = [('SET', key, K.dumps(dict(arguments)))]
        if policy.expires is not None:
            commands.append(('PEXPIRE', key, self._queue_args_ttl(policy)))
        self._run(commands)
        self._loaded_policies[queue] = (monotonic() + self.binding_cache_ttl, policy)

    def _queue_args_ttl(self, policy: QueuePolicy) -> int:
        # an x-expires queue's arguments go some time after the queue would
        expires_ms = int((policy.expires or 0) * 1000)
        return max(expires_ms * K.BINDING_EXPIRES_FACTOR, K.MIN_BINDING_TTL)

    def _queue_policy(self, queue: str) -> QueuePolicy | None:
        policy = self.connection.state.policies.get(queue)
        if policy is not None:
            return policy
        cached = self._loaded_policies.get(queue)
        if cached is not None and monotonic() < cached[0]:
            return cached[1]
        return self._load_policy(queue)

    def _load_policy(self, queue: str) -> QueuePolicy | None:
        raw = self._execute('GET', self._queue_args_key(queue))
        policy = None
        if raw is not None:
            try:
                arguments = K.loads(raw)
                policy = QueuePolicy.from_arguments(arguments)
            except (TypeError, ValueError) as exc:
                logger.warning('Ignoring unreadable arguments of queue %r: %r', queue, exc)
            else:
                expires = self._get_queue_expire({'arguments': arguments})
                if expires is not None:
                    self._expires[queue] = expires
        if len(self._loaded_policies) > 4096:
            self._loaded_policies.clear()
        self._loaded_policies[queue] = (monotonic() + self.binding_cache_ttl, policy)
        return policy

    def _forget_queue_args(self, queue: str) -> list[tuple]:
        """Commands deleting ``queue``'s stored arguments (with the queue)."""
        self._loaded_policies.pop(queue, None)
        return [('DEL', self._queue_args_key(queue))]

    def _put_with_policy(self, queue: str, message: dict, policy: QueuePolicy,
                         **kwargs: Any) -> None:
        # x-max-length drops heads with _get: those are not deliveries, so
        # they must not be recorded as unacked (they would come back)
        saved, self._get_no_ack = self._get_no_ack, True
        try:
            return super()._put_with_policy(queue, message, policy, **kwargs)
        finally:
            self._get_no_ack = saved
