"""rediss:// against a private TLS redis-server with a self-signed certificate."""
from __future__ import annotations

import shutil

import pytest

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
