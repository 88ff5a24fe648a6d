"""Hardening on the real brokers (issue 12): bounded decompression, fast typed
errors, AMQP limits, the README example, bounded AMQP teardown."""
from __future__ import annotations

import pytest

from kombu import Connection, Consumer, Producer, Queue
from kombu.compression import compress, encoders
from kombu.exceptions import ContentDisallowed, DecompressionLimitExceeded
from t.servers import require_server

pytestmark = pytest.mark.integration

AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672//'
REDIS_URL = 'redis://127.0.0.1:6379/0'
BROKERS = {
    'amqp': ('RabbitMQ', 5672, AMQP_URL),
    'redis': ('Redis', 6379, REDIS_URL),
    'memory': (None, None, 'memory://'),
}


def _require(kind: str) -> str:
    name, port, url = BROKERS[kind]
    if name is not None:
        require_server(name, '127.0.0.1', port, 'bash .ci/start-servers')
    return url


@pytest.fixture(params=sorted(BROKERS))
def conn(request):
    url = _require(request.param)
    with Connection(url, connect_timeout=5) as connection:
        connection.ensure_connection(max_retries=2)
        yield connection


@pytest.fixture
def queue(conn, uname):
    name = uname('q')
    q = Queue(name, routing_key=name, durable=False)
    yield q
    with conn.channel() as channel:
        try:
            q.bind(channel).delete()
        except conn.channel_errors + conn.connection_errors:
            pass


# -- decompression bombs ----------------------------------------------------------

LIMIT = 2 * 1024 * 1024
BOMB = bytes(32 * 1024 * 1024)


@pytest.mark.parametrize('method', sorted(encoders()))
def test_bomb_goes_to_on_decode_error_and_can_be_requeued(conn, queue, method):
    bomb, ctype = compress(BOMB, method)
    producer = Producer(conn)
    producer.publish(bomb, routing_key=queue.name, declare=[queue], serializer=None,
                     content_type='application/data', content_encoding='binary',
                     headers={'compression': ctype})
    producer.publish({'after': method}, routing_key=queue.name, compression=method)
    seen: list = []
    bodies: list = []

    def on_decode_error(message, exc):
        seen.append(exc)
        assert not message.acknowledged
        # the first time: back on the queue; the second time: dropped
        message.requeue() if len(seen) == 1 else message.reject()

    def on_body(body, message):
        bodies.append(body)
        message.ack()

    with Consumer(conn, [queue], callbacks=[on_body], on_decode_error=on_decode_error,
                  max_decompressed_size=LIMIT, prefetch_count=10):
        for _ in range(30):
            if len(seen) == 2 and bodies:
                break
            try:
                conn.drain_events(timeout=0.5)
            except TimeoutError:  # socket.timeout
                pass
    assert len(seen) == 2, seen
    assert all(isinstance(exc, DecompressionLimitExceeded) and exc.limit == LIMIT
               for exc in seen)
    assert bodies == [{'after': method}]
    with conn.channel() as channel:
        assert queue.bind(channel).get(no_ack=True) is None  # nothing left behind


def test_refused_content_type_is_refused_before_inflating(conn, queue, monkeypatch):
    import kombu.message
    inflated: list = []
    real = kombu.message.decompress
    monkeypatch.setattr(kombu.message, 'decompress',
                        lambda *args: inflated.append(args) or real(*args))
    bomb, ctype = compress(BOMB, 'zlib')
    Producer(conn).publish(bomb, routing_key=queue.name, declare=[queue], serializer=None,
                           content_type='application/x-python-serialize',
                           content_encoding='binary', headers={'compression': ctype})
    seen: list = []

    def on_decode_error(message, exc):
        seen.append(exc)
        message.reject()

    with Consumer(conn, [queue], accept=['json'], on_decode_error=on_decode_error,
                  callbacks=[lambda body, message: None]):
        conn.drain_events(timeout=5)
    assert len(seen) == 1 and isinstance(seen[0], ContentDisallowed)
    assert inflated == []


# -- refused credentials fail at once ---------------------------------------------

@pytest.mark.parametrize('how', ['ensure_connection', 'default_channel', 'publish_retry',
                                 'ensure', 'autoretry'])
def test_wrong_rabbitmq_password_fails_at_once_typed(how):
    import time

    import amqp

    from kombu import exceptions
    _require('amqp')
    conn = Connection('amqp://guest:wrong@127.0.0.1:5672//',
                      transport_options={'max_retries': 5, 'interval_start': 1})
    errbacks: list = []
    started = time.monotonic()
    with pytest.raises(exceptions.AccessRefused) as info:
        if how == 'ensure_connection':
            conn.ensure_connection(errback=lambda *a: errbacks.append(a), max_retries=5,
                                   interval_start=1)
        elif how == 'default_channel':
            conn.default_channel
        elif how == 'publish_retry':
            Producer(conn).publish({'x': 1}, routing_key='nowhere', retry=True,
                                   retry_policy={'max_retries': 5, 'interval_start': 1})
        elif how == 'ensure':
            conn.ensure(conn, lambda: conn.default_channel, max_retries=5,
                        errback=lambda *a: errbacks.append(a), interval_start=1)()
        else:
            conn.autoretry(lambda channel=None: channel, max_retries=5, interval_start=1)()
    elapsed = time.monotonic() - started
    assert elapsed < 0.5, elapsed
    assert errbacks == []
    exc = info.value
    assert isinstance(exc, conn.connection_errors)
    assert isinstance(exc, amqp.exceptions.AccessRefused)  # what Kombu users caught
    assert isinstance(exc, exceptions.OperationalError)
    assert 'ACCESS_REFUSED' in str(exc) and 'wrong' not in str(exc)
    conn.release()
