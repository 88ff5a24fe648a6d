"""sqla://, etcd:// and consul:// publish and consume msg/s, each next to its raw client
doing the least the same job needs, in the same run.

Usage::

    python bench/bench_stores.py [--messages 500] [--rounds 3] [--only sqla-sqlite,etcd]

Targets: ``sqla-postgres`` and ``sqla-mariadb`` (the servers of
``.ci/servers.d/sqlalchemy.sh``, or ``SQLA_POSTGRES_URL``/``SQLA_MARIADB_URL``),
``sqla-sqlite`` (a temporary file), ``etcd`` (``ETCD_URL``, else a private etcd),
``consul`` (``t/fakes/consul_server.py``: no real Consul here).

publish
    ``Producer.publish`` of a Celery-shaped task message (json, default exchange);
    raw: one insert of an envelope of the same shape (SQL: a transaction with an
    ``INSERT``; etcd: an in-order key; Consul: one ``PUT``).
consume
    a pre-filled queue drained by a ``Consumer`` (every message acked); raw: take the
    oldest and delete it (SQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` and ``DELETE`` in
    one transaction; etcd: sorted read and compare-and-delete; Consul: recursive read
    and check-and-set delete).  Kombu does more per message: a claim that survives a
    crash (an ``UPDATE`` or a claim key) and a separate ack.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from _kombu_runs import envelope, kombu_consume, kombu_publish  # noqa: E402

ENVELOPE = json.dumps(envelope())

OPTIONS = {'polling_interval': 0.01}
#: sqla:// works on tables of its own, dropped at the end.
TABLES = {'queue_tablename': 'bench_kombu_queue', 'message_tablename': 'bench_kombu_message',
          'binding_tablename': 'bench_kombu_binding'}


# -- Kombu ---------------------------------------------------------------------------

def options(url: str) -> dict[str, Any]:
    return {**OPTIONS, **TABLES} if url.startswith('sqla') else OPTIONS


def drop_tables(url: str) -> None:
    from kombu.transport.sqlalchemy import engine, models
    eng = engine.get_engine(url.partition('+')[2], {})
    models.tables(TABLES['queue_tablename'], TABLES['message_tablename'],
                  TABLES['binding_tablename']).metadata.drop_all(eng)
    engine.dispose_all()


def publish(url: str, n: int) -> float:
    return kombu_publish(url, n, options(url))


def consume(url: str, n: int) -> float:
    return kombu_consume(url, n, options(url), prefetch_count=10)


# -- raw clients ---------------------------------------------------------------------

class RawSQL:
    def __init__(self, url: str) -> None:
        from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine
        self.engine = create_engine(url.partition('+')[2])
        self.table = Table(f'bench_raw_{uuid.uuid4().hex[:8]}', MetaData(),
                           Column('id', Integer, primary_key=True), Column('payload', Text))
        self.table.create(self.engine)

    def publish(self, n: int) -> float:
        from sqlalchemy import insert
        start = time.perf_counter()
        for _ in range(n):
            with self.engine.begin() as conn:
                conn.execute(insert(self.table).values(payload=ENVELOPE))
        return n / (time.perf_counter() - start)

    def consume(self, n: int) -> float:
        from sqlalchemy import delete, select
        t = self.table
        skip = self.engine.dialect.name != 'sqlite'
        start = time.perf_counter()
        for _ in range(n):
            with self.engine.begin() as conn:
                stmt = select(t.c.id, t.c.payload).order_by(t.c.id).limit(1)
                if skip:
                    stmt = stmt.with_for_update(skip_locked=True)
                row = conn.execute(stmt).first()
                json.loads(row[1])
                conn.execute(delete(t).where(t.c.id == row[0]))
        return n / (time.perf_counter() - start)

    def close(self) -> None:
        self.table.drop(self.engine)
        self.engine.dispose()


class RawEtcd:
    def __init__(self, url: str) -> None:
        import etcd
        host, _, port = url.split('://')[1].partition(':')
        self.client = etcd.Client(host=host, port=int(port or 2379))
        self.dir = f'/bench-raw-{uuid.uuid4().hex[:8]}'

    def publish(self, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            self.client.write(self.dir, ENVELOPE, append=True)
        return n / (time.perf_counter() - start)

    def consume(self, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            leaf = next(iter(self.client.read(self.dir, sorted=True, recursive=True).leaves))
            json.loads(leaf.value)
            self.client.delete(leaf.key, prevIndex=leaf.modifiedIndex)
        return n / (time.perf_counter() - start)

    def close(self) -> None:
        self.client.delete(self.dir, recursive=True)


class RawConsul:
    def __init__(self, url: str) -> None:
        import consul
        host, _, port = url.split('://')[1].partition(':')
        self.client = consul.Consul(host=host, port=int(port))
        self.dir = f'bench-raw-{uuid.uuid4().hex[:8]}'
        self.seq = 0

    def publish(self, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            self.seq += 1
            self.client.kv.put(f'{self.dir}/{self.seq:020d}', ENVELOPE)
        return n / (time.perf_counter() - start)

    def consume(self, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            _, items = self.client.kv.get(f'{self.dir}/', recurse=True)
            json.loads(items[0]['Value'])
            self.client.kv.delete(items[0]['Key'], cas=items[0]['ModifyIndex'])
        return n / (time.perf_counter() - start)

    def close(self) -> None:
        self.client.kv.delete(f'{self.dir}/', recurse=True)


# -- targets -------------------------------------------------------------------------

def targets(tmp: str) -> dict[str, Callable[[], tuple[str, Callable[[], Any], Any]]]:
    def postgres() -> tuple[str, Any, Any]:
        url = os.environ.get('SQLA_POSTGRES_URL',
                             'sqla+postgresql+psycopg://postgres@127.0.0.1:5432/test')
        return url, RawSQL, None

    def mariadb() -> tuple[str, Any, Any]:
        return os.environ.get('SQLA_MARIADB_URL',
                              'sqla+mysql+pymysql://root@127.0.0.1:3306/test'), RawSQL, None

    def sqlite() -> tuple[str, Any, Any]:
        return f'sqla+sqlite:///{tmp}/bench.db', RawSQL, None

    def etcd() -> tuple[str, Any, Any]:
        if os.environ.get('ETCD_URL'):
            return os.environ['ETCD_URL'], RawEtcd, None
        from t.integration.private_stores import PrivateEtcd
        server = PrivateEtcd()
        server.start()
        return server.url, RawEtcd, server

    def consul() -> tuple[str, Any, Any]:
        from t.fakes.consul_server import running
        server = running()
        port, _ = server.__enter__()
        return f'consul://127.0.0.1:{port}', RawConsul, server

    return {'sqla-postgres': postgres, 'sqla-mariadb': mariadb, 'sqla-sqlite': sqlite,
            'etcd': etcd, 'consul': consul}


def run(url: str, raw_cls: Any, n: int, rounds: int) -> list[tuple[str, float, float]]:
    rows = []
    for workload, ours in (('publish', publish), ('consume', consume)):
        mine, theirs = [], []
        for _ in range(rounds):
            mine.append(ours(url, n))
            raw = raw_cls(url)
            try:
                if workload == 'publish':
                    theirs.append(raw.publish(n))
                else:
                    raw.publish(n)
                    theirs.append(raw.consume(n))
            finally:
                raw.close()
        rows.append((workload, statistics.median(mine), statistics.median(theirs)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--messages', type=int, default=500)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--only', default='')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        chosen = targets(tmp)
        names = [n for n in args.only.split(',') if n] or list(chosen)
        print(f'{args.messages} messages, median of {args.rounds} rounds (msg/s)')
        print(f'{"target":<14} {"workload":<8} {"kombu":>8} {"raw":>8}')
        for name in names:
            url, raw_cls, server = chosen[name]()
            try:
                for workload, ours, raw in run(url, raw_cls, args.messages, args.rounds):
                    print(f'{name:<14} {workload:<8} {ours:>8.0f} {raw:>8.0f}', flush=True)
            finally:
                if url.startswith('sqla'):
                    drop_tables(url)
                if hasattr(server, 'close'):
                    server.close()
                elif server is not None:
                    server.__exit__(None, None, None)


if __name__ == '__main__':
    main()
