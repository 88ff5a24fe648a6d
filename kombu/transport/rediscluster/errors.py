"""The Redis Cluster client's exceptions, sorted into Kombu's connection and channel errors."""
from __future__ import annotations

from kombu.transport.virtual.errors import ErrorTranslator

try:
    from redis import exceptions as rexc
except ImportError:  # pragma: no cover - the transport reports it on use
    rexc = None  # type: ignore[assignment]

__all__ = ('errors', 'REDIRECTS')


def _errors() -> ErrorTranslator:
    if rexc is None:  # pragma: no cover
        return ErrorTranslator('rediscluster')
    return ErrorTranslator(
        'rediscluster',
        # ClusterError: redirections or TRYAGAIN (a slot in migration) exhausted.
        connection=(rexc.ConnectionError, rexc.TimeoutError, rexc.ClusterError,
                    rexc.TryAgainError, rexc.MasterDownError),
        auth=(rexc.AuthenticationError, rexc.AuthenticationWrongNumberOfArgsError),
        channel=(rexc.ResponseError, rexc.RedisClusterException, rexc.DataError),
    )


errors = _errors()

#: Replies a node gives for a key it does not serve (now): MOVED (and ASK,
#: its parent) while or after a slot moves, TRYAGAIN, CLUSTERDOWN.
REDIRECTS: tuple[type[BaseException], ...] = (
    (rexc.AskError, rexc.TryAgainError, rexc.ClusterDownError) if rexc is not None else ())
