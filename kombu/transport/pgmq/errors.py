"""How psycopg's errors become Kombu's at the PGMQ transport's boundary."""
from __future__ import annotations

from ..virtual.errors import ErrorTranslator

try:
    import psycopg
    from psycopg_pool import PoolTimeout
except ImportError:  # pragma: no cover - the client library is optional
    psycopg = None  # type: ignore[assignment]

    class PoolTimeout(Exception):  # type: ignore[no-redef]
        """Stands in for psycopg_pool's timeout when it is not installed."""

__all__ = ('errors',)


def _types(*names: str) -> tuple[type[BaseException], ...]:
    if psycopg is None:
        return ()
    return tuple(getattr(psycopg.errors, n) for n in names)


errors = ErrorTranslator(
    'pgmq',
    connection=((psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
                if psycopg is not None else ()),
    auth=_types('InsufficientPrivilege', 'InvalidPassword', 'InvalidAuthorizationSpecification'),
    not_found=_types('UndefinedTable'),
    channel=(psycopg.Error,) if psycopg is not None else (),
)
