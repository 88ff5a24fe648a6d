"""SQLAlchemy transport (virtual): a SQL database as the message store.

Connection string: ``sqla+`` or ``sqlalchemy+`` followed by a SQLAlchemy URL::

    sqla+postgresql+psycopg://user:password@localhost/mydb
    sqla+mysql+pymysql://user:password@localhost/mydb
    sqla+sqlite:////var/lib/app/broker.db

Storage
=======
Tables ``kombu_queue`` and ``kombu_message`` (Kombu's names; options
``queue_tablename`` and ``message_tablename``) and ``kombu_binding``
(``binding_tablename``), created when missing (see
:mod:`kombu.transport.sqlalchemy.models` for the columns).  Tables upstream
Kombu created get the columns this transport adds, so both can share them.

Delivery
========
* A consumer claims a message with ``SELECT ... FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, MariaDB 10.6+, MySQL 8 and Oracle (a plain ``FOR UPDATE``
  elsewhere, ``BEGIN IMMEDIATE`` on SQLite) and an ``UPDATE`` that succeeds
  only while the row is still ready: one message never reaches two consumers.
* A claimed message stays in the table, invisible, until it is acked (then
  deleted).  Rejected with requeue, or still unacked when its channel
  closes, it becomes visible again in its old place, marked redelivered.
* The messages of a consumer that died come back once their claim is older
  than ``visibility_timeout`` seconds; a live consumer renews the claims of
  the messages it holds whenever it polls, so they do not.
* Queue ``x-`` arguments and exchange bindings are stored in the database:
  priorities, TTL, dead-lettering and fanout/topic/headers routing hold
  across processes.

Features
========
* Type: Virtual
* Supports Direct, Topic, Fanout, Headers: Yes
* Supports Priority: Yes (queues declared with ``x-max-priority``)
* Supports TTL: Yes (message and queue TTL, dead-lettering, ``x-max-length``)

Proved by ``t/integration/test_conformance_sqlalchemy.py`` on PostgreSQL,
MariaDB and SQLite.

Transport Options
=================
* ``queue_tablename`` (``kombu_queue``), ``message_tablename``
  (``kombu_message``), ``binding_tablename`` (``kombu_binding``).
* ``visibility_timeout`` - seconds before an unacked message of a vanished
  consumer is delivered again (default 3600).
* ``polling_interval`` - seconds between polls of empty queues (default 1).
* Any other option is passed to :func:`sqlalchemy.create_engine`.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from contextlib import contextmanager
from queue import Empty
from typing import Any, ClassVar, Iterator

import sqlalchemy
from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection as SAConnection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from kombu.exceptions import AccessRefused
from kombu.transport import virtual
from kombu.transport.virtual import ttl
from kombu.transport.virtual.claims import SettlesFreshClaims, SettlingQoS
from kombu.transport.virtual.errors import ErrorTranslator
from kombu.transport.virtual.options import COMMON_PASSTHROUGH, TransportOptions
from kombu.transport.virtual.shared_policies import PolicyCache, SharedPoliciesMixin
from kombu.utils.json import dumps, loads

from . import engine as _engine
from . import models
from .models import Tables

__all__ = ('Channel', 'Transport', 'QoS', 'SQLAlchemyOptions', 'VERSION')

VERSION = (2, 0, 0)
__version__ = '.'.join(map(str, VERSION))

logger = logging.getLogger(__name__)

#: Texts in driver errors that mean the credentials were refused.
_AUTH_MARKERS = ('password authentication failed', 'access denied for user',
                 'authentication failed', 'no password supplied', 'role "')

#: Keys of Kombu's ``transport_options`` that are no ``create_engine`` argument.
_NOT_ENGINE_OPTIONS = frozenset({
    'callback', 'errback', 'retry_errors', 'body_encoding', 'deadletter_queue',
    'honor_expiration',
})


class _Errors(ErrorTranslator):
    """OperationalError is a lost or refused connection; refused logins are AccessRefused."""

    def translate(self, exc: BaseException, operation: str = '',
                  name: str | None = None) -> BaseException | None:
        if isinstance(exc, OperationalError):
            text = str(getattr(exc, 'orig', None) or exc).lower()
            if any(marker in text for marker in _AUTH_MARKERS):
                return AccessRefused(f'sqlalchemy {operation}: {type(exc).__name__}: '
                                     f'{exc.orig}')
        return super().translate(exc, operation, name)


errors = _Errors(
    'sqlalchemy',
    connection=(OperationalError,),
    channel=(SQLAlchemyError,),
)


@dataclasses.dataclass(frozen=True)
class SQLAlchemyOptions(TransportOptions):
    """``transport_options`` of the SQLAlchemy transport."""

    transport_name: ClassVar[str] = 'sqlalchemy'
    passthrough: ClassVar[frozenset[str]] = _NOT_ENGINE_OPTIONS | frozenset({
        # common create_engine() arguments (any other is passed on too, with a warning)
        'pool_size', 'max_overflow', 'pool_recycle', 'pool_pre_ping', 'pool_timeout',
        'pool_use_lifo', 'poolclass', 'echo', 'echo_pool', 'connect_args',
        'isolation_level', 'execution_options', 'future', 'hide_parameters',
    })

    #: table of queues.
    queue_tablename: str = models.DEFAULT_QUEUE_TABLENAME
    #: table of messages.
    message_tablename: str = models.DEFAULT_MESSAGE_TABLENAME
    #: table of exchange bindings (not in Kombu, whose bindings are per process).
    binding_tablename: str = models.DEFAULT_BINDING_TABLENAME
    #: seconds a claimed message of a vanished consumer stays invisible.
    visibility_timeout: float = 3600.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require(self.visibility_timeout > 0, 'visibility_timeout must be > 0')
        for name in ('queue_tablename', 'message_tablename', 'binding_tablename'):
            value = getattr(self, name)
            self.require(isinstance(value, str) and value.isidentifier(),
                         f'{name} must be a plain table name, not {value!r}')

    def engine_options(self) -> dict[str, Any]:
        """The options to pass to ``create_engine``: every key that is no field of ours."""
        names = self.field_names() | _NOT_ENGINE_OPTIONS
        return {k: v for k, v in self.raw.items()
                if k not in names and k not in COMMON_PASSTHROUGH}


class QoS(SettlingQoS):
    """Deletes a message's row once it is acked or rejected."""

    channel: Channel


class Channel(SharedPoliciesMixin, SettlesFreshClaims, virtual.Channel):
    """SQLAlchemy channel."""

    QoS = QoS
    Options = SQLAlchemyOptions
    options: SQLAlchemyOptions

    supports_fanout = True

    _session: Session | None = None

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        opts = self.options
        self.queue_tablename = opts.queue_tablename
        self.message_tablename = opts.message_tablename
        self.tables: Tables = models.tables(
            opts.queue_tablename, opts.message_tablename, opts.binding_tablename)
        self.engine: Engine = connection.engine
        self._skip_locked = _engine.supports_skip_locked(self.engine)
        self._fresh_claims: list[Any] = []
        self._last_sweep = 0.0

    # -- plumbing ------------------------------------------------------------

    @property
    def _claims(self) -> dict[Any, int]:
        # delivery tag -> row id of the claimed message, shared by the
        # channels of a connection (a requeue may go through another one).
        return self.connection.claims  # type: ignore[no-any-return]

    @contextmanager
    def _begin(self, operation: str, name: str | None = None) -> Iterator[SAConnection]:
        """A transaction, with the client's errors translated."""
        with errors(operation, name), self.engine.begin() as conn:
            yield conn

    @property
    def session(self) -> Session:
        """An ORM session on the transport's engine (Kombu's API; the channel uses Core)."""
        if self._session is None:
            self._session = sessionmaker(bind=self.engine)()
        return self._session

    @property
    def queue_cls(self) -> type:
        return models.mapped_classes(self.tables)[0]

    @property
    def message_cls(self) -> type:
        return models.mapped_classes(self.tables)[1]

    # -- queues --------------------------------------------------------------

    def _queue_id(self, conn: SAConnection, queue: str) -> int | None:
        cache = self.connection.queue_ids
        qid = cache.get(queue)
        if qid is None:
            q = self.tables.queue
            qid = conn.execute(select(q.c.id).where(q.c.name == queue)).scalar()
            if qid is not None:
                cache[queue] = qid
        return qid

    def _get_or_create(self, queue: str, arguments: Any = None) -> int:
        q = self.tables.queue
        args = dumps(dict(arguments)) if arguments else None
        with self._begin('declare', queue) as conn:
            qid = self._queue_id(conn, queue)
            if qid is not None:
                if args is not None:
                    conn.execute(update(q).where(q.c.id == qid).values(arguments=args))
                return qid
        try:
            with self._begin('declare', queue) as conn:
                conn.execute(insert(q).values(name=queue, arguments=args))
        except errors.channel_errors as exc:  # declared meanwhile by another process
            if not isinstance(exc.__cause__, IntegrityError):
                raise
        with self._begin('declare', queue) as conn:
            qid = self._queue_id(conn, queue)
        if qid is None:  # pragma: no cover - deleted right after being created
            raise Empty()
        return qid

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        self._get_or_create(queue, kwargs.get('arguments'))
        self.connection.policies.pop(queue, None)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        self.connection.queue_ids.pop(queue, None)
        with self._begin('queue_declare', queue) as conn:
            return self._queue_id(conn, queue) is not None

    def _policy_cache(self) -> PolicyCache:
        return self.connection.policies  # type: ignore[no-any-return]

    def _stored_queue_arguments(self, queue: str) -> Any:
        q = self.tables.queue
        with self._begin('queue_declare', queue) as conn:
            raw = conn.execute(select(q.c.arguments).where(q.c.name == queue)).scalar()
        return loads(raw) if raw else None

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        t = self.tables
        with self._begin('queue_delete', queue) as conn:
            qid = self._queue_id(conn, queue)
            if qid is not None:
                conn.execute(delete(t.message).where(t.message.c.queue_id == qid))
                conn.execute(delete(t.queue).where(t.queue.c.id == qid))
            conn.execute(delete(t.binding).where(t.binding.c.queue == queue))
        self.connection.queue_ids.pop(queue, None)
        self.connection.policies.pop(queue, None)

    def _purge(self, queue: str) -> int:
        m = self.tables.message
        with self._begin('queue_purge', queue) as conn:
            qid = self._queue_id(conn, queue)
            if qid is None:
                return 0
            result = conn.execute(delete(m).where(m.c.queue_id == qid, m.c.visible.is_(True)))
            return int(result.rowcount or 0)

    def _size(self, queue: str) -> int:
        m = self.tables.message
        with self._begin('queue_declare', queue) as conn:
            qid = self._queue_id(conn, queue)
            if qid is None:
                return 0
            return int(conn.execute(select(func.count()).select_from(m).where(
                m.c.queue_id == qid, m.c.visible.is_(True))).scalar() or 0)

    # -- bindings: in the database, shared by every process -------------------

    def get_table(self, exchange: str) -> list[tuple[str, str, str]]:
        b = self.tables.binding
        with self._begin('get_table', exchange) as conn:
            rows = conn.execute(select(b.c.routing_key, b.c.pattern, b.c.queue).where(
                b.c.exchange == exchange).order_by(b.c.id)).all()
        table: list[tuple[str, str, str]] = []
        for row in rows:
            entry = (row[0] or '', loads(row[1]) if row[1] else '', row[2])
            if entry not in table:
                table.append(entry)
        return table

    def typeof(self, exchange: str, default: str = 'direct') -> Any:
        decl = self.state.exchanges.get(exchange)
        if decl is None and exchange:
            b = self.tables.binding
            with self._begin('exchange_declare', exchange) as conn:
                typ = conn.execute(select(b.c.exchange_type).where(
                    b.c.exchange == exchange).limit(1)).scalar()
            if typ in self.exchange_types:
                return self.exchange_types[typ]
        return super().typeof(exchange, default)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        b = self.tables.binding
        decl = self.state.exchanges.get(exchange) or {}
        pattern_json = dumps(pattern) if pattern else None
        where = and_(b.c.exchange == exchange, b.c.routing_key == (routing_key or ''),
                     b.c.queue == queue)
        with self._begin('queue_bind', queue) as conn:
            rows = conn.execute(select(b.c.pattern).where(where)).all()
            if any((row[0] or None) == pattern_json for row in rows):
                return
            conn.execute(insert(b).values(
                exchange=exchange, exchange_type=decl.get('type', 'direct'),
                routing_key=routing_key or '', pattern=pattern_json, queue=queue))

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        b = self.tables.binding
        with self._begin('queue_unbind', queue) as conn:
            conn.execute(delete(b).where(
                b.c.exchange == exchange, b.c.routing_key == (routing_key or ''),
                b.c.queue == queue))

    # -- messages ------------------------------------------------------------

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        priority = self._queue_priority(self._queue_policy(queue), message)
        m = self.tables.message
        payload = dumps(message)
        for attempt in range(2):
            qid = self.connection.queue_ids.get(queue)
            if qid is None:
                qid = self._get_or_create(queue)
            try:
                with self._begin('publish', queue) as conn:
                    conn.execute(insert(m).values(
                        queue_id=qid, payload=payload, visible=True, priority=priority))
                return
            except errors.channel_errors as exc:
                # the queue was deleted (and maybe declared again) by another process
                if attempt or not isinstance(exc.__cause__, IntegrityError):
                    raise
                self.connection.queue_ids.pop(queue, None)

    def _put_front(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        # A message this connection claimed goes back in its old place (it is
        # older than every message behind it); anything else to the tail.
        tag = message['properties'].get('delivery_tag')
        row = self._claims.pop(tag, None)
        if row is None:
            return self._put(queue, message, **kwargs)
        m = self.tables.message
        with self._begin('restore', queue) as conn:
            conn.execute(update(m).where(m.c.id == row).values(visible=True))
        return None

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        self._renew_claims()
        m = self.tables.message
        with self._begin('consume', queue) as conn:
            qid = self._queue_id(conn, queue)
            if qid is None:
                raise Empty()
            for _ in range(10):  # another consumer may win a candidate: try the next
                stmt = select(m.c.id, m.c.payload, m.c.claimed_at).where(
                    m.c.queue_id == qid, m.c.visible.is_(True),
                ).order_by(m.c.priority.desc(), m.c.id).limit(1)
                if self.engine.dialect.name != 'sqlite':
                    stmt = stmt.with_for_update(skip_locked=self._skip_locked)
                row = conn.execute(stmt).first()
                if row is None:
                    raise Empty()
                claimed = conn.execute(update(m).where(
                    m.c.id == row[0], m.c.visible.is_(True)).values(
                    visible=False, claimed_at=ttl.clock()))
                if claimed.rowcount == 1:
                    break
            else:  # pragma: no cover - lost ten races in a row
                raise Empty()
        payload = loads(row[1])
        if row[2] is not None:  # claimed before: restored or timed out
            payload['redelivered'] = True
            props = payload.setdefault('properties', {})
            props.setdefault('delivery_info', {})['redelivered'] = True
        tag = payload['properties'].get('delivery_tag')
        self._claims[tag] = row[0]
        self._fresh_claims.append(tag)
        return payload

    def _settle(self, tag: Any) -> None:
        """The message ``tag`` is done with: delete its row."""
        row = self._claims.pop(tag, None)
        if row is None:
            return
        m = self.tables.message
        with self._begin('ack') as conn:
            conn.execute(delete(m).where(m.c.id == row))

    # -- visibility ------------------------------------------------------------

    def _renew_claims(self) -> None:
        """Renew this connection's claims and restore timed-out ones (every vt/4)."""
        timeout = self.options.visibility_timeout
        now = ttl.clock()
        if now - self._last_sweep < min(timeout / 4, 30.0):
            return
        self._last_sweep = now
        m = self.tables.message
        rows = list(self._claims.values())
        with self._begin('restore_visible') as conn:
            for start in range(0, len(rows), 500):
                conn.execute(update(m).where(m.c.id.in_(rows[start:start + 500])).values(
                    claimed_at=now))
            restored = conn.execute(update(m).where(
                m.c.visible.is_(False), m.c.claimed_at < now - timeout).values(visible=True))
        if restored.rowcount:
            logger.info('Restored %d message(s) unacked for %ss', restored.rowcount, timeout)


class Transport(virtual.Transport):
    """SQLAlchemy transport."""

    Channel = Channel

    can_parse_url = True
    default_port = 0
    driver_type = 'sql'
    driver_name = 'sqlalchemy'
    polling_interval = 1.0

    connection_errors = errors.connection_errors
    channel_errors = errors.channel_errors + (DBAPIError,)

    implements = virtual.Transport.implements.extend(
        asynchronous=False,
        exchange_type=frozenset(['direct', 'topic', 'fanout', 'headers']),
    )

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.claims: dict[Any, int] = {}
        self.queue_ids: dict[str, int] = {}
        self.policies: PolicyCache = {}
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The engine of this connection's URL (shared by the process)."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    opts = self.options
                    assert isinstance(opts, SQLAlchemyOptions)
                    engine = _engine.get_engine(self.client.hostname, opts.engine_options())
                    with errors('connect'):
                        _engine.ensure_tables(engine, models.tables(
                            opts.queue_tablename, opts.message_tablename,
                            opts.binding_tablename))
                    self._engine = engine
        return self._engine

    def establish_connection(self) -> Transport:
        self.engine  # noqa: B018 - connects and creates the tables, errors translated
        with errors('connect'), self.engine.connect() as conn:
            conn.execute(select(1))
        super().establish_connection()
        return self

    def as_uri(self, uri: str, include_password: bool = False, mask: str = '**') -> str:
        raise NotImplementedError()  # the Connection masks the SQLAlchemy URL itself

    def driver_version(self) -> str:
        return str(sqlalchemy.__version__)

