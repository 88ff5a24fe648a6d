"""rediss:// (private TLS redis-server, self-signed certificate) and redis+socket://."""
from __future__ import annotations

import shutil

import pytest
import redis

from kombu import Connection
from kombu.exceptions import OperationalError
from t.integration.redis.servers import RedisProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope='module')
def tls_redis():
    if shutil.which('openssl') is None:
        pytest.skip('the openssl CLI is needed to make a test certificate')
    server = RedisProcess(tls=True).start()
    yield server
    server.stop()


def test_rediss_round_trip_with_verified_certificate(tls_redis, uname):
    url = (f'rediss://127.0.0.1:{tls_redis.port}/0'
           f'?ssl_cert_reqs=required&ssl_ca_certs={tls_redis.cert}')
    name = uname('tls')
    with Connection(url) as conn:
        queue = conn.SimpleQueue(name)
        queue.put({'secure': True})
        message = queue.get(timeout=5)
        assert message.payload == {'secure': True}
        message.ack()
        queue.close()


def test_rediss_refuses_unknown_certificate(tls_redis):
    url = f'rediss://127.0.0.1:{tls_redis.port}/0?ssl_cert_reqs=CERT_REQUIRED'
    conn = Connection(url, connect_timeout=2)
    with pytest.raises((OperationalError, *conn.connection_errors), match='CERTIFICATE'):
        conn.ensure_connection(max_retries=1)
    conn.release()


def test_unix_socket_url(uname):
    server = RedisProcess()
    path = f'{server.dir}/redis.sock'
    server.args = ('--unixsocket', path, '--unixsocketperm', '700')
    server.start()
    try:
        name = uname('unix')
        with Connection(f'redis+socket://{path}?virtual_host=3') as conn:
            queue = conn.SimpleQueue(name)
            queue.put('over a unix socket')
            message = queue.get(timeout=5)
            assert message.payload == 'over a unix socket'
            message.ack()
            queue.close()
        assert redis.Redis(unix_socket_path=path, db=3).exists(f'_kombu.binding.{name}')
    finally:
        server.stop()
