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
    calls = {
        'ensure_connection': lambda: conn.ensure_connection(
            errback=lambda *a: errbacks.append(a), max_retries=5, interval_start=1),
        'default_channel': lambda: conn.default_channel,
        'publish_retry': lambda: Producer(conn).publish(
            {'x': 1}, routing_key='nowhere', retry=True,
            retry_policy={'max_retries': 5, 'interval_start': 1}),
        'ensure': lambda: conn.ensure(conn, lambda: conn.default_channel, max_retries=5,
                                      errback=lambda *a: errbacks.append(a),
                                      interval_start=1)(),
        'autoretry': lambda: conn.autoretry(lambda channel=None: channel, max_retries=5,
                                            interval_start=1)(),
    }
    with pytest.raises(exceptions.AccessRefused) as info:
        calls[how]()
    elapsed = time.monotonic() - started
    assert elapsed < 0.5, elapsed
    assert errbacks == []
    exc = info.value
    assert isinstance(exc, conn.connection_errors)
    assert isinstance(exc, amqp.exceptions.AccessRefused)  # what Kombu users caught
    assert isinstance(exc, exceptions.OperationalError)
    assert 'ACCESS_REFUSED' in str(exc) and 'wrong' not in str(exc)
    conn.release()


# -- AMQP: names over 255 bytes, nacks ----------------------------------------------

@pytest.fixture
def amqp_conn():
    _require('amqp')
    with Connection(AMQP_URL, connect_timeout=5,
                    transport_options={'confirm_publish': True}) as connection:
        connection.ensure_connection(max_retries=2)
        yield connection


def _long(n: int, char: str = 'k') -> str:
    return char * n


@pytest.mark.parametrize('what', ['publish_routing_key', 'publish_exchange', 'queue',
                                  'exchange', 'binding_key', 'consume_tag',
                                  'multibyte_routing_key'])
def test_amqp_name_over_255_bytes_is_typed_and_connection_survives(amqp_conn, uname, what):
    from kombu import Exchange
    from kombu.exceptions import NameTooLong
    conn = amqp_conn
    q = Queue(uname('q'), routing_key='rk', durable=False)
    channel = conn.default_channel
    q(channel).declare()
    field = {'publish_routing_key': 'routing_key', 'publish_exchange': 'exchange',
             'queue': 'queue', 'exchange': 'exchange', 'binding_key': 'routing_key',
             'consume_tag': 'consumer_tag', 'multibyte_routing_key': 'routing_key'}[what]
    try:
        with pytest.raises(NameTooLong) as info:
            if what == 'publish_routing_key':
                Producer(channel).publish({}, routing_key=_long(256), retry=True)
            elif what == 'multibyte_routing_key':
                Producer(channel).publish({}, routing_key=_long(128, 'é'))  # 256 bytes
            elif what == 'publish_exchange':
                Producer(channel).publish({}, exchange=_long(300), routing_key='rk')
            elif what == 'queue':
                Queue(_long(256), durable=False)(channel).declare()
            elif what == 'exchange':
                Exchange(_long(256), durable=False)(channel).declare()
            elif what == 'binding_key':
                q(channel).bind_to('amq.direct', routing_key=_long(256))
            else:
                Consumer(channel, [q], tag_prefix=_long(256)).consume()
        exc = info.value
        assert isinstance(exc, ValueError) and exc.field == field and exc.limit == 255
        assert '255 bytes' in str(exc) and field in str(exc)
        # nothing was sent: the same channel still works
        Producer(channel).publish({'still': 'usable'}, routing_key=q.name)
        Producer(channel).publish({'max': 1}, routing_key=q.name,
                                  headers={'k': _long(255)})
        message = q(channel).get(no_ack=True)
        assert message is not None and message.payload == {'still': 'usable'}
        assert channel is conn.default_channel and channel.is_open
    finally:
        q(conn.default_channel).delete()


def test_amqp_255_byte_names_are_fine(amqp_conn):
    from kombu import Exchange
    conn = amqp_conn
    name = f't12.{uuid_hex()}.'
    name += 'n' * (255 - len(name))
    ex = Exchange(name, 'direct', durable=False, auto_delete=True)
    q = Queue(name, ex, routing_key=name, durable=False)
    channel = conn.default_channel
    try:
        q(channel).declare()
        Producer(channel, exchange=ex).publish({'n': 255}, routing_key=name)
        message = q(channel).get(no_ack=True)
        assert message is not None and message.payload == {'n': 255}
        assert message.delivery_info['routing_key'] == name
    finally:
        q(channel).delete()
        ex(channel).delete()


def uuid_hex() -> str:
    import uuid
    return uuid.uuid4().hex[:10]


def test_amqp_nack_names_exchange_and_key_and_is_retried_within_the_policy(amqp_conn, uname):
    import amqp

    from kombu.exceptions import MessageNacked
    conn = amqp_conn
    q = Queue(uname('full'), routing_key=None, durable=False,
              queue_arguments={'x-max-length': 1, 'x-overflow': 'reject-publish'})
    channel = conn.default_channel
    q(channel).declare()
    try:
        producer = Producer(conn)
        producer.publish({'n': 1}, routing_key=q.name)
        errbacks: list = []
        transport_connection = conn.connection
        with pytest.raises(MessageNacked) as info:
            producer.publish({'n': 2}, routing_key=q.name, retry=True,
                             retry_policy={'max_retries': 3, 'interval_start': 0,
                                           'interval_step': 0,
                                           'errback': lambda *a: errbacks.append(a)})
        exc = info.value
        assert isinstance(exc, amqp.exceptions.MessageNacked)  # as py-amqp raised it
        assert exc.exchange == '' and exc.routing_key == q.name
        assert q.name in str(exc) and 'reject-publish' in str(exc)
        # retried on a new channel as the policy allows (a quorum queue electing a
        # leader nacks a channel's publishes), never by reconnecting; the full
        # queue refused every copy: still one message in it
        assert [type(e) for e, _ in errbacks] == [MessageNacked] * 3
        assert conn.connection is transport_connection
        assert q(conn.default_channel).queue_declare(passive=True).message_count == 1
    finally:
        q(conn.default_channel).delete()


# -- Kombu's README example, as written (names made unique, loops bounded) ---------

def test_kombu_readme_example_runs_as_written(conn, uname):
    import warnings

    from kombu import Exchange
    media, video, image = uname('media'), uname('video'), uname('image')
    got: list = []

    media_exchange = Exchange(media, 'direct', durable=True)
    video_queue = Queue(video, exchange=media_exchange, routing_key='video')

    def process_media(body, message):
        got.append(body)
        message.ack()

    try:
        producer = conn.Producer(serializer='json')
        producer.publish({'name': '/tmp/lolcat1.avi', 'size': 1301013},
                         exchange=media_exchange, routing_key='video',
                         declare=[video_queue])
        with conn.Consumer(video_queue, callbacks=[process_media]):
            conn.drain_events(timeout=5)
        assert got == [{'name': '/tmp/lolcat1.avi', 'size': 1301013}]

        # Consume from several queues on the same channel:
        with warnings.catch_warnings():
            warnings.simplefilter('error')  # key= is taken, not warned about
            video_queue = Queue(video, exchange=media_exchange, key='video')
            image_queue = Queue(image, exchange=media_exchange, key='image')
        with conn.Consumer([video_queue, image_queue], callbacks=[process_media]):
            producer.publish({'name': 'cat.jpg'}, exchange=media_exchange,
                             routing_key='image')
            producer.publish({'name': 'cat.avi'}, exchange=media_exchange,
                             routing_key='video')
            while len(got) < 3:  # the README's ``while True: drain_events()``
                conn.drain_events(timeout=5)
        assert sorted(body['name'] for body in got[1:]) == ['cat.avi', 'cat.jpg']
    finally:
        with conn.channel() as channel:
            for entity in (Queue(video), Queue(image), media_exchange):
                try:
                    entity.bind(channel).delete()
                except conn.channel_errors + conn.connection_errors:
                    pass


# -- AMQP teardown on a half-open connection is bounded ----------------------------

def _timed(fun, *args, **kwargs):
    import time
    started = time.monotonic()
    fun(*args, **kwargs)
    return time.monotonic() - started


@pytest.mark.parametrize('teardown', ['close', 'release', 'collect', 'celery'])
def test_amqp_teardown_through_a_stalled_proxy_is_bounded(uname, teardown):
    import socket

    from t.servers import StallingProxy
    _require('amqp')
    name = uname('stall')
    queue = Queue(name, routing_key=name, durable=False)
    name2 = uname('resumed')
    queue2 = Queue(name2, routing_key=name2, durable=False)
    got: list = []
    with Connection(AMQP_URL) as direct, StallingProxy(5672) as proxy:
        queue(direct.default_channel).declare()
        queue2(direct.default_channel).declare()
        try:
            conn = Connection(f'amqp://guest:guest@127.0.0.1:{proxy.port}//',
                              connect_timeout=2)
            consumer = Consumer(conn, [queue], callbacks=[lambda b, m: (got.append(b),
                                                                         m.ack())])
            consumer.consume()
            Producer(direct).publish({'n': 1}, routing_key=name)
            conn.drain_events(timeout=5)
            # where Celery looks for the socket to bound it
            sock = conn.connection._transport.sock
            assert isinstance(sock, socket.socket)
            proxy.stall()  # the peer goes silent, both sockets stay open
            if teardown == 'close':
                elapsed = _timed(conn.close)
            elif teardown == 'release':
                elapsed = _timed(conn.release)
            elif teardown == 'collect':
                elapsed = _timed(conn.collect, socket_timeout=1)
            else:  # Celery's on_connection_error_after_connected()
                def celery_teardown():
                    conn.connection._transport.sock.settimeout(1)
                    conn.collect()
                    conn.close()
                elapsed = _timed(celery_teardown)
            assert elapsed < 4, elapsed
            # a worker-style consumer resumes on a new connection
            conn = Connection(f'amqp://guest:guest@127.0.0.1:{proxy.port}//',
                              connect_timeout=2)
            assert _timed(conn.ensure_connection, max_retries=2) < 4
            consumer.revive(conn.channel())
            # RabbitMQ still sees the stalled connection's consumer on ``queue``
            # (until heartbeats tell): resume on a queue only the new one reads.
            consumer.add_queue(queue2)
            consumer.consume()
            Producer(direct).publish({'n': 2}, routing_key=name2)
            conn.drain_events(timeout=5)
            assert got == [{'n': 1}, {'n': 2}]
            conn.release()
        finally:
            queue(direct.default_channel).delete()
            queue2(direct.default_channel).delete()


def test_amqp_reconnect_to_a_silent_broker_is_bounded():
    import time

    from kombu.exceptions import OperationalError
    from t.servers import StallingProxy
    _require('amqp')
    with StallingProxy(5672) as proxy:
        proxy.stall(new_connections=True)
        conn = Connection(f'amqp://guest:guest@127.0.0.1:{proxy.port}//', connect_timeout=1)
        started = time.monotonic()
        with pytest.raises(OperationalError):
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=3)
        assert time.monotonic() - started < 4
        proxy.resume()
        assert _timed(conn.ensure_connection, max_retries=2) < 3
        conn.release()
