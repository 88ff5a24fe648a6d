"""Acks a failover may undo, kept and sent again: redis://'s late-ack guard, per queue.

An ack is in doubt when its connection failed before the reply came, or when
fewer replicas than ``replica_wait`` acknowledged it: the replica promoted
after its master died may still hold the unacked record, and a visibility
sweep would deliver the message again.  Such tags join redis://'s
process-wide :data:`~kombu.transport.redis.qos.unconfirmed_acks` (the target
names the cluster, the key prefix and the queue) with the time they were
acked.  Every sweep first sends them again through redis://'s
``ACK_IF_OURS`` script (a record newer than the ack is a later delivery of the
same tag and stays) and skips them when restoring.  While a queue has acks
in doubt its further acks skip ``WAIT`` and join them, so a master left
without replicas costs one ``WAIT`` timeout per sweep rather than per ack.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Hashable

from kombu.exceptions import ConnectionError
from kombu.transport.redis.keys import ACK_IF_OURS
from kombu.transport.redis.qos import iter_chunks, unconfirmed_acks

from . import keys as K
from .errors import errors

logger = logging.getLogger(__name__)

__all__ = ('ClusterAcks',)


class ClusterAcks:
    """Sends a channel's acks, keeping those in doubt to send again."""

    def __init__(self, channel: Any, scope: tuple[Hashable, ...]) -> None:
        #: the channel: its ``layout``, ``writer()`` and ``client``
        self.channel = channel
        self.scope = scope
        client = channel.client
        self._ack = client.register_script(K.ACK)
        self._ack_if_ours = client.register_script(ACK_IF_OURS)

    def target(self, queue: str) -> tuple[Hashable, ...]:
        return (*self.scope, queue)

    def in_doubt(self, queue: str, tag: str) -> bool:
        return unconfirmed_acks.holds(self.target(queue), tag)

    def send(self, queue: str, tags: list[str]) -> None:
        """Delete the unacked records of ``tags``; never raises for a lost node or replica."""
        if not tags:
            return
        target = self.target(queue)
        acked_at = time.time()
        # its replicas were missing a moment ago: join the acks in doubt, no WAIT
        in_doubt = bool(unconfirmed_acks.get(target))
        try:
            self._send(queue, self._ack, tags, replicated=not in_doubt)
        except ConnectionError as exc:  # NotReplicated too: the master may have them
            logger.debug('rediscluster: %d acks of %r in doubt, kept: %r',
                         len(tags), queue, exc)
            in_doubt = True
        if in_doubt:
            unconfirmed_acks.add(target, tags, acked_at)

    def resend(self) -> None:
        """Send the acks in doubt again (before a sweep restores anything)."""
        for target in unconfirmed_acks.targets():
            if not isinstance(target, tuple) or target[:-1] != self.scope:
                continue
            # chunked: a master long without replicas may have gathered many
            for chunk in iter_chunks(unconfirmed_acks.get(target), 1000):
                args = [a for tag, acked_at in chunk for a in (tag, repr(acked_at))]
                try:
                    self._send(str(target[-1]), self._ack_if_ours, args, replicated=True)
                except ConnectionError as exc:
                    logger.debug('rediscluster: acks in doubt kept: %r', exc)
                    break
                unconfirmed_acks.confirm(target, [tag for tag, _ in chunk])

    def _send(self, queue: str, script: Any, args: list[str], replicated: bool) -> None:
        channel = self.channel
        keys = [channel.layout.unacked(queue), channel.layout.unacked_index(queue)]
        writer = channel.writer() if replicated else None
        with errors('ack', queue):
            if writer is not None:
                writer.run(keys[0], [writer.evalsha(script.script, keys, args)])
            else:
                script(keys=keys, args=args)
