"""The Redis Cluster poller: one blocking connection per node that owns consumed queues.

BRPOP cannot name keys of two slots, and every queue has a slot of its own,
so a channel's consumed queues are grouped by the node owning their slot and
each node's group gets one BRPOP, on a connection of its own.  All those
sockets are registered with the poll (or the Hub) of :mod:`redis's poller
<kombu.transport.redis.poller>`, whose loop this reuses: held messages first,
then a non-blocking batch pop, then the wait on every socket.

Fairness: a BRPOP waits on one queue of its node's group, the next one of the
group each time (when the group has several, with a short timeout, so the
others are swept soon); batches of several queues or nodes are interleaved
one message each before they are handed over, one per ``drain_events`` call.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from itertools import chain, zip_longest
from typing import Any, Callable, Hashable, Iterable, Sequence, TypeVar

from kombu.transport.redis.poller import MultiChannelPoller

logger = logging.getLogger('kombu.transport.rediscluster')

__all__ = ('ClusterPoller', 'group_by_node', 'interleave', 'next_turn', 'BRPOP', 'SLISTEN')

T = TypeVar('T')
N = TypeVar('N', bound=Hashable)

#: the poll types of a node's sockets: ``BRPOP <node name>``, ``SLISTEN <node name>``.
BRPOP = 'BRPOP '
SLISTEN = 'SLISTEN '
_GAP = object()


def group_by_node(queues: Iterable[str], node_of: Callable[[str], N]) -> dict[N, list[str]]:
    """``queues`` grouped by the node owning their slot (first-seen order kept)."""
    groups: dict[N, list[str]] = {}
    for queue in queues:
        group = groups.setdefault(node_of(queue), [])
        if queue not in group:
            group.append(queue)
    return groups


def interleave(batches: Iterable[Sequence[T]]) -> list[T]:
    """One item of each batch in turn, until all are used up (order kept in each)."""
    items: Iterable[Any] = chain.from_iterable(zip_longest(*batches, fillvalue=_GAP))
    return [item for item in items if item is not _GAP]


def next_turn(turns: dict[Any, int], key: Any, choices: Sequence[T]) -> T:
    """The next of ``choices`` for ``key`` (round robin, remembered in ``turns``)."""
    turn = turns.get(key, -1) + 1
    turns[key] = turn
    return choices[turn % len(choices)]


def by_queue(items: Iterable[tuple[Any, str]]) -> list[list[tuple[Any, str]]]:
    """``(message, queue)`` items split into one list per queue (first-seen order)."""
    groups: dict[str, list[tuple[Any, str]]] = defaultdict(list)
    for item in items:
        groups[item[1]].append(item)
    return list(groups.values())


class ClusterPoller(MultiChannelPoller):
    """:class:`~kombu.transport.redis.poller.MultiChannelPoller` over cluster nodes.

    A channel registers one socket per node (poll type ``BRPOP <node>``);
    the readable ones are read in one round and only the first hands a
    message over (the others' messages are held), so that each
    ``drain_events`` delivers exactly one.
    """

    def __init__(self) -> None:
        super().__init__()
        #: a message was handed over in the current poll round.
        self._handed_over = False
        #: a BRPOP failed (redirected, connection lost) in the last round: the
        #: transport sleeps a polling interval rather than spin on the error.
        self.failed = False

    def get(self, callback: Any, timeout: float | None = None) -> None:
        self._handed_over = False
        self.failed = False
        for channel in list(self._channels):
            channel._sweep_if_due()  # busy consumers never reach the idle sweep below
        super().get(callback, timeout)

    def _register_BRPOP(self, channel: Any) -> None:
        groups = channel._consume_groups()
        channel._drop_idle_waits(groups)
        for node, queues, wait in self._node_sockets(
                channel, BRPOP, groups, channel._wait_on):
            if wait.queue is None:
                channel._brpop_start(node, queues)

    def _register_LISTEN(self, channel: Any) -> None:
        groups = channel._fanout_groups()
        channel._drop_stale_subs(groups)
        for node, names, _ in self._node_sockets(
                channel, SLISTEN, groups, channel._subscription_on):
            channel._ssubscribe(node, names)

    def _node_sockets(self, channel: Any, kind: str, groups: dict[str, list[str]],
                      open_on: Callable[[str], Any]) -> list[tuple[str, list[str], Any]]:
        """Each group's node connection (opened by ``open_on``), registered with the poll."""
        ready = []
        for node, names in groups.items():
            try:
                holder = open_on(node)
            except channel.connection_errors:
                logger.debug('cannot connect to cluster node %s', node, exc_info=True)
                channel._slots_changed(moved=True)  # also: wait a polling interval
                continue
            if not self._client_registered(channel, holder, kind + node):
                self._register(channel, holder, kind + node)
            ready.append((node, names, holder))
        return ready

    def forget(self, channel: Any, holder: Any) -> None:
        """Unregister the socket of a node connection (BRPOP or SLISTEN) going away."""
        for key in [k for k in self._chan_to_sock if k[0] is channel and k[1] is holder]:
            self._forget_sock(self._chan_to_sock.pop(key))

    def on_readable(self, fileno: int) -> Any:
        chan_type = self._fd_to_chan.get(fileno)
        if chan_type is None:
            return super().on_readable(fileno)
        channel, kind = chan_type
        hand_over = not self._handed_over
        if kind.startswith(BRPOP):
            delivered = channel._brpop_read(kind[len(BRPOP):], hand_over=hand_over)
        elif kind.startswith(SLISTEN):
            delivered = channel._slisten_read(kind[len(SLISTEN):], hand_over=hand_over)
        else:
            return super().on_readable(fileno)
        self._handed_over = self._handed_over or delivered
        return delivered

    def maybe_check_subclient_health(self) -> None:
        for channel in list(self._channels):
            channel._check_subscriptions()

    def maybe_check_brpop_health(self) -> None:
        for channel in list(self._channels):
            channel._drop_silent_waits()

    def maybe_restore_messages(self) -> Any:
        for channel in list(self._channels):
            if channel.active_queues:
                try:  # the unacked records are shared: one channel sweeps for all
                    return channel._sweep_if_due()
                except channel.connection_errors:
                    logger.debug('restore_visible: connection error', exc_info=True)
                    return None
        return None

