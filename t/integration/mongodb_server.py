"""MongoDB servers for the tests: SecantusDB (a MongoDB-wire server from PyPI; no
real mongod is obtainable here). The shared one is ``MONGODB_URL`` (started by
``.ci/servers.d/mongodb.sh``); private ones on spare ports are for tests that kill
and restart the server."""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

from t.integration.env_servers import PrivateServer, unavailable, url_from_env
from t.servers import unique_name

HOW_TO = ('pip install SecantusDB, then eval "$(bash .ci/start-servers)" '
          '(exports MONGODB_URL)')


def shared_url() -> str:
    """The shared server's URL (skip/fail when absent)."""
    return url_from_env('MONGODB_URL', 'pymongo', 27017, HOW_TO)


class PrivateMongo(PrivateServer):
    """A SecantusDB of our own (``extra_args``: e.g. ``--auth``)."""

    name = 'secantus'

    def __init__(self, *extra_args: str) -> None:
        try:
            import secantus  # noqa: F401
        except ImportError:
            unavailable(f'SecantusDB is not installed; {HOW_TO}')
        super().__init__()
        self.config = os.path.join(self.dir, 'secantusd.toml')
        open(self.config, 'w').close()  # --config: no ./secantusd.toml is read
        self.extra_args = extra_args

    @property
    def url(self) -> str:
        return f'mongodb://127.0.0.1:{self.port}'

    def command(self) -> list[str]:
        return [sys.executable, '-m', 'secantus', '--config', self.config,
                '--host', '127.0.0.1', '--port', str(self.port),
                '--storage-path', os.path.join(self.dir, 'data'), '--log-level', 'WARNING',
                *self.extra_args]


@contextlib.contextmanager
def private_database(prefix: str = 'kombu_t') -> Iterator[str]:
    """``mongodb://.../<database>`` on the shared server, dropped afterwards."""
    import pymongo
    base = shared_url()
    database = unique_name(prefix).replace('.', '_')
    try:
        yield f'{base}/{database}'
    finally:
        client = pymongo.MongoClient(base, serverSelectionTimeoutMS=5000)
        client.drop_database(database)
        client.close()
