"""Tables of the SQLAlchemy transport, and ORM classes mapped on them.

The transport works on the :class:`Tables` (SQLAlchemy Core) built by
:func:`tables` for the table names its options give.  :class:`Queue` and
:class:`Message` are ORM classes on the default names (``kombu_queue``,
``kombu_message``), registered in :data:`class_registry` with
:data:`ModelBase`, as in Kombu; :func:`mapped_classes` maps classes of the
same shape on other names.

Columns beyond Kombu's: ``kombu_queue.arguments`` (the queue's ``x-``
arguments as JSON, so TTL, priority and dead-lettering apply in every
process), ``kombu_message.priority`` and ``kombu_message.claimed_at``
(when a consumer took the message; its visibility deadline counts from
there), and the ``kombu_binding`` table (exchange bindings, shared by
every process, so fanout and topic routing work across them).
"""
from __future__ import annotations

import datetime
import threading
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import declarative_base, registry, relationship

__all__ = (
    'DialectSpecificInteger', 'ModelBase', 'class_registry', 'metadata', 'Queue', 'Message',
    'Tables', 'tables', 'mapped_classes',
    'DEFAULT_QUEUE_TABLENAME', 'DEFAULT_MESSAGE_TABLENAME', 'DEFAULT_BINDING_TABLENAME',
)

DEFAULT_QUEUE_TABLENAME = 'kombu_queue'
DEFAULT_MESSAGE_TABLENAME = 'kombu_message'
DEFAULT_BINDING_TABLENAME = 'kombu_binding'

#: 64-bit ids, except on SQLite where only INTEGER PRIMARY KEY autoincrements.
DialectSpecificInteger = BigInteger().with_variant(Integer(), 'sqlite')

# MySQL's TEXT holds 64 KiB: messages need more.
_Payload = Text().with_variant(mysql.LONGTEXT(), 'mysql').with_variant(
    mysql.LONGTEXT(), 'mariadb')

_TABLE_KW: dict[str, Any] = {'sqlite_autoincrement': True, 'mysql_engine': 'InnoDB'}


class Tables(NamedTuple):
    """The three tables of one set of table names (and their MetaData)."""

    metadata: MetaData
    queue: Table
    message: Table
    binding: Table


def _now() -> datetime.datetime:
    return datetime.datetime.now()


def _sequence(table_name: str, default_table: str, kombu_name: str) -> Sequence:
    # Kombu's sequences for Kombu's table names, so that both libraries can
    # share the tables (on PostgreSQL, MariaDB and Oracle ids come from them).
    return Sequence(kombu_name if table_name == default_table else f'{table_name}_id_sequence')


def _define(meta: MetaData, queue_name: str, message_name: str, binding_name: str) -> Tables:
    queue = Table(
        queue_name, meta,
        Column('id', Integer,
               _sequence(queue_name, DEFAULT_QUEUE_TABLENAME, 'queue_id_sequence'),
               primary_key=True,
               autoincrement=True),
        Column('name', String(200), unique=True),
        Column('arguments', Text, nullable=True),
        **_TABLE_KW,
    )
    message = Table(
        message_name, meta,
        Column('id', DialectSpecificInteger,
               _sequence(message_name, DEFAULT_MESSAGE_TABLENAME, 'message_id_sequence'),
               primary_key=True, autoincrement=True),
        Column('visible', Boolean, default=True, index=True),
        Column('timestamp', DateTime, nullable=True, index=True, default=_now),
        Column('payload', _Payload, nullable=False),
        Column('version', SmallInteger, nullable=False, default=1),
        Column('queue_id', Integer,
               ForeignKey(f'{queue_name}.id', name=f'FK_{message_name}_queue')),
        # server default: Kombu's producers do not know the column
        Column('priority', SmallInteger, nullable=False, default=0, server_default='0'),
        # FLOAT(53): double precision everywhere (MySQL's FLOAT is 4 bytes)
        Column('claimed_at', Float(precision=53), nullable=True),
        **_TABLE_KW,
    )
    # The consume query: ready messages of a queue, by priority then age.
    Index(f'ix_{message_name}_fetch', message.c.queue_id, message.c.visible,
          message.c.priority, message.c.id)
    binding = Table(
        binding_name, meta,
        Column('id', Integer, Sequence(f'{binding_name}_id_sequence'), primary_key=True,
               autoincrement=True),
        Column('exchange', String(200), nullable=False, index=True),
        Column('exchange_type', String(32), nullable=False, default='direct'),
        Column('routing_key', String(255), nullable=False, default=''),
        Column('pattern', Text, nullable=True),
        Column('queue', String(200), nullable=False, index=True),
        **_TABLE_KW,
    )
    return Tables(meta, queue, message, binding)


#: MetaData of the default tables.
metadata = MetaData()
#: class name -> ORM class, for the default tables.
class_registry: dict[str, Any] = {}
#: declarative base of :class:`Queue` and :class:`Message`.
ModelBase: Any = declarative_base(metadata=metadata, class_registry=class_registry)

_DEFAULT = _define(metadata, DEFAULT_QUEUE_TABLENAME, DEFAULT_MESSAGE_TABLENAME,
                   DEFAULT_BINDING_TABLENAME)
_tables: dict[tuple[str, str, str], Tables] = {
    (DEFAULT_QUEUE_TABLENAME, DEFAULT_MESSAGE_TABLENAME, DEFAULT_BINDING_TABLENAME): _DEFAULT,
}
_lock = threading.Lock()


def tables(queue_tablename: str = DEFAULT_QUEUE_TABLENAME,
           message_tablename: str = DEFAULT_MESSAGE_TABLENAME,
           binding_tablename: str = DEFAULT_BINDING_TABLENAME) -> Tables:
    """The tables for these names (built once per process)."""
    key = (queue_tablename, message_tablename, binding_tablename)
    try:
        return _tables[key]
    except KeyError:
        pass
    with _lock:
        if key not in _tables:
            _tables[key] = _define(MetaData(), *key)
        return _tables[key]


class _QueueMixin:
    id: Any
    name: Any

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return f'<Queue({self.name})>'


class _MessageMixin:
    id: Any
    queue_id: Any
    payload: Any
    visible: Any

    def __init__(self, payload: str, queue: Any) -> None:
        self.payload = payload
        self.queue = queue

    def __str__(self) -> str:
        return f'<Message({self.visible}, {self.payload}, {self.queue_id})>'


class Queue(_QueueMixin, ModelBase):  # type: ignore[misc,valid-type]
    """A queue (row of ``kombu_queue``)."""

    __table__ = _DEFAULT.queue
    messages = relationship('Message', back_populates='queue')


class Message(_MessageMixin, ModelBase):  # type: ignore[misc,valid-type]
    """A message (row of ``kombu_message``)."""

    __table__ = _DEFAULT.message
    # Kombu's attribute name for the ``timestamp`` column.
    sent_at = _DEFAULT.message.c.timestamp
    queue = relationship('Queue', back_populates='messages')


_mapped: dict[tuple[str, str], tuple[type, type]] = {}


def mapped_classes(t: Tables) -> tuple[type, type]:
    """ORM ``(Queue, Message)`` classes for the tables ``t`` (made once per name pair)."""
    key = (t.queue.name, t.message.name)
    if t.queue is _DEFAULT.queue and t.message is _DEFAULT.message:
        return Queue, Message
    with _lock:
        if key not in _mapped:
            reg = registry()
            queue_cls = type('Queue', (_QueueMixin,), {})
            message_cls = type('Message', (_MessageMixin,), {})
            reg.map_imperatively(queue_cls, t.queue, properties={
                'messages': relationship(message_cls, back_populates='queue')})
            reg.map_imperatively(message_cls, t.message, properties={
                'queue': relationship(queue_cls, back_populates='messages'),
                'sent_at': t.message.c.timestamp})
            _mapped[key] = (queue_cls, message_cls)
        return _mapped[key]
