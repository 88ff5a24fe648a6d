"""The conformance suite over sqla:// on PostgreSQL, MariaDB and SQLite.

Its classes are ConformanceSuite subclasses, through ``ClaimStoreCases``.

PostgreSQL and MariaDB are the servers of this machine (or of CI:
``.ci/servers.d/sqlalchemy.sh`` starts them when they are not listening and
exports ``SQLA_POSTGRES_URL`` / ``SQLA_MARIADB_URL``); SQLite is a file in a
temporary folder.  Every class works on tables of its own (``kombu_conf_*``),
dropped at the end, and the suite deletes the queues it declares.
"""
from __future__ import annotations

import os
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

from kombu import Connection
from t.integration.conformance.claims import ClaimStoreCases
from t.servers import require_server, unique_name

pytest.importorskip('sqlalchemy')

POSTGRES_URL = os.environ.get(
    'SQLA_POSTGRES_URL', 'sqla+postgresql+psycopg://postgres@127.0.0.1:5432/test')
MARIADB_URL = os.environ.get(
    'SQLA_MARIADB_URL', 'sqla+mysql+pymysql://root@127.0.0.1:3306/test')


def _require(url: str, name: str) -> None:
    parts = urlsplit(url.partition('+')[2])
    require_server(name, parts.hostname or '127.0.0.1', parts.port or 0,
                   'bash .ci/servers.d/sqlalchemy.sh')


def _tables(tag: str) -> dict[str, str]:
    return {'queue_tablename': f'kombu_conf_{tag}_queue',
            'message_tablename': f'kombu_conf_{tag}_message',
            'binding_tablename': f'kombu_conf_{tag}_binding'}


def _drop_tables(url: str, options: dict[str, Any]) -> None:
    from kombu.transport.sqlalchemy import engine, models
    eng = engine.get_engine(url.partition('+')[2], {})
    models.tables(options['queue_tablename'], options['message_tablename'],
                  options['binding_tablename']).metadata.drop_all(eng)
    engine.dispose_all()


class SQLAlchemySuite(ClaimStoreCases):
    """Common part: own tables, quick polling, and the one-message-one-consumer check."""

    tag = 'x'
    race_total = 300
    transport_options: dict[str, Any] = {}

    @pytest.fixture(autouse=True, scope='class')
    def _own_tables(self) -> Iterator[None]:
        self.ensure_server()
        options = _tables(self.tag) | {'polling_interval': 0.02}
        type(self).transport_options = options
        yield
        _drop_tables(self.url, options)


class TestSQLAlchemyPostgreSQL(SQLAlchemySuite):
    url = POSTGRES_URL
    tag = 'pg'

    def ensure_server(self) -> None:
        _require(self.url, 'PostgreSQL')


class TestSQLAlchemyMariaDB(SQLAlchemySuite):
    url = MARIADB_URL
    tag = 'maria'

    def ensure_server(self) -> None:
        _require(self.url, 'MariaDB')


class TestSQLAlchemySQLite(SQLAlchemySuite):
    tag = 'lite'
    url = ''

    @pytest.fixture(autouse=True, scope='class')
    def _own_tables(self, tmp_path_factory: Any) -> Iterator[None]:
        path = tmp_path_factory.mktemp('sqla') / 'broker.db'
        type(self).url = f'sqla+sqlite:///{path}'
        type(self).transport_options = _tables(self.tag) | {'polling_interval': 0.02}
        yield
        from kombu.transport.sqlalchemy import engine
        engine.dispose_all()


def test_urls_name_their_own_database() -> None:
    # The URL forms of Kombu: both prefixes pick this transport.
    for prefix in ('sqla', 'sqlalchemy'):
        conn = Connection(f'{prefix}+sqlite:///{unique_name("x")}.db')
        assert conn.transport_cls == prefix
        assert type(conn.transport).__module__ == 'kombu.transport.sqlalchemy'

