"""Engines of the SQLAlchemy transport: one per URL and options per process.

Also what the transport needs to know of the database behind an engine:
whether ``SELECT ... FOR UPDATE SKIP LOCKED`` is available, and, for SQLite,
transactions that take the write lock when they begin (``BEGIN IMMEDIATE``)
so that two consumers never both read the same message as ready.
"""
from __future__ import annotations

import threading
from typing import Any, Mapping

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine

from .models import Tables

__all__ = ('get_engine', 'ensure_tables', 'supports_skip_locked', 'dispose_all')

_lock = threading.Lock()
_engines: dict[tuple[str, str], Engine] = {}
_created: set[tuple[int, str, str, str]] = set()


def _sqlite_immediate(engine: Engine) -> None:
    # pysqlite begins transactions lazily and in deferred mode; a deferred
    # transaction that reads and then writes can fail at once with "database
    # is locked" when another writer is active.  Take the lock up front.
    @event.listens_for(engine, 'connect')
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, 'begin')
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql('BEGIN IMMEDIATE')


def get_engine(url: str, options: Mapping[str, Any]) -> Engine:
    """The process's engine for ``url`` with ``create_engine`` keyword ``options``."""
    key = (url, repr(sorted(options.items())))
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            kwargs = dict(options)
            if url.startswith('sqlite'):
                kwargs.setdefault('connect_args', {}).setdefault('timeout', 30)
            # No pool_pre_ping by default (a round trip per transaction): a
            # connection the server dropped fails once, SQLAlchemy empties the
            # pool, and the next call connects again.
            engine = create_engine(url, **kwargs)
            if engine.dialect.name == 'sqlite':
                _sqlite_immediate(engine)
            _engines[key] = engine
        return engine


def ensure_tables(engine: Engine, t: Tables) -> None:
    """Create the tables ``t`` in the database of ``engine`` (once per process).

    Tables made by upstream Kombu get the columns it lacks (``ALTER TABLE ...
    ADD COLUMN``, all nullable or defaulted), so both libraries can share them.
    """
    key = (id(engine), t.queue.name, t.message.name, t.binding.name)
    if key in _created:
        return
    t.metadata.create_all(engine, checkfirst=True)
    _add_missing_columns(engine, t)
    _created.add(key)


#: columns this transport adds to Kombu's tables: table attribute -> column names.
_ADDED_COLUMNS = (('queue', ('arguments',)), ('message', ('priority', 'claimed_at')))


def _add_missing_columns(engine: Engine, t: Tables) -> None:
    inspector = inspect(engine)
    dialect = engine.dialect
    quote = dialect.identifier_preparer.quote
    for attr, names in _ADDED_COLUMNS:
        table = getattr(t, attr)
        have = {column['name'] for column in inspector.get_columns(table.name)}
        for name in names:
            if name in have:
                continue
            column = table.c[name]
            ddl = (f'ALTER TABLE {quote(table.name)} ADD COLUMN {quote(name)} '
                   f'{column.type.compile(dialect=dialect)}')
            if column.server_default is not None:
                ddl += f' NOT NULL DEFAULT {column.server_default.arg}'  # type: ignore[attr-defined]
            with engine.begin() as conn:
                conn.exec_driver_sql(ddl)


def supports_skip_locked(engine: Engine) -> bool:
    """True if the database behind ``engine`` has ``FOR UPDATE SKIP LOCKED``."""
    dialect = engine.dialect
    version = getattr(dialect, 'server_version_info', None) or ()
    name = dialect.name
    if name == 'postgresql':
        return tuple(version) >= (9, 5)
    if name in ('mysql', 'mariadb'):
        if getattr(dialect, 'is_mariadb', False):
            return tuple(version) >= (10, 6)
        return tuple(version) >= (8, 0, 1)
    return name == 'oracle'


def dispose_all() -> None:
    """Close the pooled connections of every engine (tests, forked children)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _created.clear()
