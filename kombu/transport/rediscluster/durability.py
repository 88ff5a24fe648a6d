"""Writes a master failover cannot take back: the write, then ``WAIT``, on one connection.

Redis replicates asynchronously: a master answers a write before its
replicas have it, and a replica promoted after the master died lacks the
writes it had not received yet.  ``WAIT numreplicas timeout`` blocks until
that many replicas acknowledged every earlier write *of the same
connection*, so it must follow the write on the connection that sent it.
redis-py's cluster pipeline cannot promise that (a command redirected by
``MOVED``/``ASK`` is sent again on its own, and a ``WAIT`` left behind on the
old node answers for nothing), so :class:`ReplicatedWriter` pipelines the
write and its ``WAIT`` on the plain client of the node owning the key's
slot and follows redirections itself.

What it guarantees: a write it returns from reached ``replicas`` replicas,
so the promotion of one of them keeps it.  What it does not: the replicas
may still lose it in a crash of their own (nothing is fsynced), and a write
it raised :exc:`~kombu.exceptions.NotReplicated` for may be kept anyway (the
master has it; it is merely unconfirmed), so sending it again may duplicate.
"""
from __future__ import annotations

import hashlib
import time
from typing import Any, Sequence

from kombu.exceptions import NotReplicated

try:
    from redis import exceptions as rexc
except ImportError:  # pragma: no cover - the transport reports it on use
    rexc = None  # type: ignore[assignment]

__all__ = ('ReplicatedWriter', 'replicas_to_wait_for', 'script_sha')

Command = Sequence[Any]


def script_sha(source: str) -> str:
    """The SHA1 Redis names a script by (``EVALSHA``)."""
    return hashlib.sha1(source.encode()).hexdigest()


def replicas_to_wait_for(setting: int | None, cluster: Any) -> int:
    """``setting``, or when None (automatic) 1 if the cluster has any replica, else 0.

    Read from ``CLUSTER NODES``: ``CLUSTER SLOTS`` (redis-py's slot table)
    leaves out replicas that have not replicated anything yet.  "Any
    replica" rather than "every master has one": the answer must not change
    when a failover leaves the promoted master without a replica (publishes
    to its slots then fail until one is back, which is the point).
    """
    if setting is not None:
        return setting
    nodes = cluster.cluster_nodes()
    return 1 if any('slave' in str(node.get('flags', '')).split(',')
                    for node in nodes.values()) else 0


class ReplicatedWriter:
    """Run commands of one slot on its master and ``WAIT`` for replicas, in one round trip."""

    def __init__(self, cluster: Any, replicas: int, timeout_ms: int,
                 attempts: int = 3, backoff: float = 0.05, backoff_max: float = 1.0) -> None:
        self.cluster = cluster
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self.attempts = attempts
        self.backoff, self.backoff_max = backoff, backoff_max
        #: sha -> source of the scripts run through ``evalsha`` (NOSCRIPT fallback)
        self._sources: dict[str, str] = {}

    def evalsha(self, source: str, keys: Sequence[str], args: Sequence[Any]) -> tuple[Any, ...]:
        """An ``EVALSHA`` command of ``source`` (sent as ``EVAL`` where the node lacks it)."""
        sha = script_sha(source)
        self._sources.setdefault(sha, source)
        return ('EVALSHA', sha, len(keys), *keys, *args)

    def run(self, key: str, commands: Sequence[Command]) -> list[Any]:
        """The replies of ``commands`` (all in ``key``'s slot), once replicated.

        Raises :exc:`~kombu.exceptions.NotReplicated` when fewer replicas than
        asked acknowledged in time, the command's own error when Redis refused
        it, and redis-py's connection error when the slot's master stayed out
        of reach for every attempt.
        """
        node: Any = None
        asking = False
        failure: BaseException | None = None
        for attempt in range(self.attempts + 1):
            if attempt:
                time.sleep(min(self.backoff_max, self.backoff * 2 ** (attempt - 1)))
            try:
                if node is None:
                    node = self.cluster.get_node_from_key(key)
                replies = self._send(node, commands, asking)
            # SlotNotCovered: mid-failover, no master serves the slot for a moment
            except (rexc.ConnectionError, rexc.TimeoutError, rexc.SlotNotCoveredError) as exc:
                failure, node, asking = exc, None, False
                self._refresh()  # the master may be gone: ask who owns the slot now
                continue
            error = next((r for r in replies if isinstance(r, Exception)), None)
            if isinstance(error, rexc.NoScriptError):
                commands = [self._as_eval(c) for c in commands]
                failure = error
                continue
            if isinstance(error, rexc.AskError):  # the slot is moving: this once, there
                failure, asking = error, True
                node = self._node_at(error.host, error.port)
                continue
            if isinstance(error, rexc.MovedError):
                failure, node, asking = error, None, False
                self.cluster.nodes_manager.move_slot(error)  # the slot's new owner, learnt
                continue
            if isinstance(error, (rexc.TryAgainError, rexc.ClusterDownError,
                                  rexc.MasterDownError)):
                failure, node, asking = error, None, False
                continue
            if error is not None:
                raise error
            if not self.replicas:
                return replies
            acked = replies[-1]
            if acked < self.replicas:
                raise NotReplicated(wanted=self.replicas, acked=acked, node=node.name,
                                    timeout_ms=self.timeout_ms)
            return replies[:-1]
        # every failure above is one a later attempt may get past: retried as such
        raise rexc.ConnectionError(
            f'no answer from the master of {key!r} after {self.attempts + 1} attempts: '
            f'{failure!r}') from failure

    def _send(self, node: Any, commands: Sequence[Command], asking: bool) -> list[Any]:
        pipe = self.cluster.get_redis_connection(node).pipeline(transaction=False)
        if asking:
            pipe.execute_command('ASKING')
        for command in commands:
            pipe.execute_command(*command)
        if self.replicas:
            pipe.execute_command('WAIT', self.replicas, self.timeout_ms)
        replies: list[Any] = pipe.execute(raise_on_error=False)
        return replies[1:] if asking else replies

    def _as_eval(self, command: Command) -> Command:
        if command[0] == 'EVALSHA' and command[1] in self._sources:
            return ('EVAL', self._sources[command[1]], *command[2:])
        return command

    def _node_at(self, host: str, port: int) -> Any:
        node = self.cluster.get_node(host=host, port=port)
        if node is None:  # not in the slot table yet (a node just added)
            from redis.cluster import PRIMARY, ClusterNode
            node = ClusterNode(host, port, PRIMARY)
        return node

    def _refresh(self) -> None:
        try:
            self.cluster.nodes_manager.initialize()
        except (rexc.RedisError, OSError):  # mid-failover: the next attempt asks again
            pass
