"""Credentials from the URL: refused ones raise AccessRefused (mongodb:// on a private
SecantusDB with --auth; zookeeper:// on the shared ZooKeeper with a digest ACL)."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from kombu import Connection, Exchange, Producer, Queue
from kombu.exceptions import AccessRefused
from t.servers import unique_name

pytestmark = pytest.mark.integration


def roundtrip(url: str) -> Any:
    name = unique_name('auth')
    queue = Queue(name, Exchange(''), routing_key=name)
    with Connection(url, connect_timeout=3) as conn:
        queue.bind(conn.default_channel).declare()
        Producer(conn.default_channel).publish('secret ok', routing_key=name)
        message = queue.bind(conn.default_channel).get(no_ack=True)
        queue.bind(conn.default_channel).delete()
    return message.payload if message is not None else None


@pytest.fixture
def mongo_with_auth() -> Iterator[int]:
    pytest.importorskip('pymongo')
    import pymongo

    from t.integration.mongodb_server import PrivateMongo
    server = PrivateMongo('--sync-on-commit')
    server.start()
    try:
        # SecantusDB: users are created without --auth, then it restarts with it
        # (gracefully: a user written just before a SIGKILL does not survive it).
        client = pymongo.MongoClient(server.url, serverSelectionTimeoutMS=5000)
        client.admin.command('createUser', 'kombu', pwd='s3cret', roles=['root'])
        client.close()
        server.terminate()
        server.extra_args = ('--sync-on-commit', '--auth')
        server.start()
        yield server.port
    finally:
        server.stop()


def test_mongodb_credentials_from_the_url(mongo_with_auth: int) -> None:
    port = mongo_with_auth
    good = f'mongodb://kombu:s3cret@127.0.0.1:{port}/jobs?authSource=admin'
    assert roundtrip(good) == 'secret ok'
    with pytest.raises(AccessRefused, match='AuthenticationFailed|authentication failed'):
        Connection(f'mongodb://kombu:wrong@127.0.0.1:{port}/jobs?authSource=admin',
                   connect_timeout=3).connect()
    with pytest.raises(AccessRefused):  # no credentials: not authorized (code 13)
        roundtrip(f'mongodb://127.0.0.1:{port}/jobs')


@pytest.fixture
def zk_protected_vhost() -> Iterator[tuple[str, str]]:
    from kazoo.client import KazooClient
    from kazoo.security import make_digest_acl

    from t.integration.zookeeper_server import shared_url
    base = shared_url()
    vhost = unique_name('kombu-auth')
    admin = KazooClient(base.split('://', 1)[1], auth_data=[('digest', 'kombu:s3cret')])
    admin.start(timeout=10)
    try:
        admin.create(f'/{vhost}', acl=[make_digest_acl('kombu', 's3cret', all=True)])
        yield base, vhost
    finally:
        admin.delete(f'/{vhost}', recursive=True)
        admin.stop()
        admin.close()


def test_zookeeper_digest_credentials_from_the_url(zk_protected_vhost: tuple[str, str]) -> None:
    base, vhost = zk_protected_vhost
    host = base.split('://', 1)[1]
    assert roundtrip(f'zookeeper://kombu:s3cret@{host}/{vhost}') == 'secret ok'
    with pytest.raises(AccessRefused, match='NoAuth'):
        roundtrip(f'zookeeper://kombu:wrong@{host}/{vhost}')
    with pytest.raises(AccessRefused):
        roundtrip(f'zookeeper://{host}/{vhost}')
