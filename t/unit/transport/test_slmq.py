"""slmq://: URL and environment, options, error translation, visibility and fanout
topics, with the real client against the local HTTPS fake (``t/fakes/slmq.py``)."""
from __future__ import annotations

import shutil
import time
from typing import Any, Iterator

import pytest

from kombu import Connection, Exchange, Producer, Queue
from kombu.exceptions import AccessRefused, ChannelError, ConnectionError

pytest.importorskip('softlayer_messaging')
if shutil.which('openssl') is None:  # pragma: no cover
    pytest.skip('openssl is needed for the fake service certificate', allow_module_level=True)

from kombu.transport import SLMQ
from t.fakes.slmq import FakeSLMQ


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSLMQ]:
    fake = FakeSLMQ().start()
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', fake.certfile)
    for name in ('SLMQ_ACCOUNT', 'SL_USERNAME', 'SL_API_KEY', 'SLMQ_HOST', 'SLMQ_PORT',
                 'SLMQ_SECURE'):
        monkeypatch.delenv(name, raising=False)
    yield fake
    fake.stop()


@pytest.fixture
def connect(service: FakeSLMQ) -> Iterator[Any]:
    made: list[Connection] = []

    def make(url: str | None = None, **options: Any) -> Connection:
        conn = Connection(url or service.url, transport_options=options)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.release()


def test_url_parts_and_masking(service, connect):
    conn = connect()
    assert conn.transport_cls == 'slmq'
    assert service.api_key not in conn.as_uri() and service.api_key not in repr(conn)
    channel = conn.default_channel
    assert service.api_key not in repr(channel)
    assert channel.slmq.endpoint == f'https://127.0.0.1:{service.port}'
    assert channel.slmq.account == 'acct'


def test_environment_overrides_the_url(service, connect, monkeypatch):
    monkeypatch.setenv('SLMQ_ACCOUNT', service.account)
    monkeypatch.setenv('SL_API_KEY', service.api_key)
    monkeypatch.setenv('SLMQ_PORT', str(service.port))
    conn = connect(f'slmq://{service.username}:wrong@127.0.0.1:1/other')
    Queue('env')(conn.default_channel).declare()
    assert 'env' in service.state.queues


def test_options_defaults_and_visibility(service, connect):
    assert SLMQ.Channel.default_visibility_timeout == 1800
    conn = connect(visibility_timeout=77, queue_name_prefix='pre_')
    Queue('vis.q')(conn.default_channel).declare()
    assert service.state.queues['pre_vis_q'].visibility_interval == 77
    with pytest.raises(ValueError):
        SLMQ.SLMQOptions.from_transport_options({'visibility_timeout': 0})


def test_wrong_api_key_is_access_refused(service, connect):
    conn = connect(f'slmq://{service.username}:nope@127.0.0.1:{service.port}/acct')
    with pytest.raises(AccessRefused):
        Queue('x')(conn.default_channel).declare()


def test_service_errors_are_connection_errors(service, connect):
    conn = connect()
    Queue('down')(conn.default_channel).declare()
    # (Not 503 or 401: the client's retry hook for those fails on requests 2.x.)
    service.fail(500)
    try:
        with pytest.raises(ConnectionError, match='500'):
            Producer(conn.default_channel).publish('x', routing_key='down')
    finally:
        service.fail(0)


def test_missing_queue_is_a_404_channel_error(service, connect):
    conn = connect()
    with pytest.raises(ChannelError) as info:
        Queue('never')(conn.default_channel).queue_declare(passive=True)
    assert str(info.value.reply_code) == '404'


def test_unacked_message_reappears_after_the_visibility_timeout(service, connect):
    conn = connect(visibility_timeout=1)
    queue = Queue('vt')
    queue(conn.default_channel).declare()
    Producer(conn.default_channel).publish('once', routing_key='vt')
    first = queue(conn.default_channel).get()
    assert first.payload == 'once'
    assert queue(connect().default_channel).get() is None     # hidden
    time.sleep(1.2)
    again = queue(connect().default_channel).get()
    assert again.payload == 'once'
    again.ack()
    first.ack()   # its copy is gone already: no error
    assert service.state.queues['vt'].messages == []


def test_fanout_bindings_live_in_the_service(service, connect):
    binder, publisher = connect(), connect()
    exchange = Exchange('news', 'fanout')
    queues = [Queue(f'sub{n}', exchange) for n in range(2)]
    for queue in queues:
        queue(binder.default_channel).declare()
    topic = service.state.topics['kombu_x_news']
    assert sorted(s['endpoint']['queue_name'] for s in topic.subscriptions.values()) == [
        'sub0', 'sub1']
    # The publisher never declared the exchange: the service knows it is a topic.
    Producer(publisher.default_channel).publish('hi', exchange='news', serializer='json')
    assert [q(publisher.default_channel).get().payload for q in queues] == ['hi', 'hi']
    queues[0](binder.default_channel).delete()
    assert [s['endpoint']['queue_name'] for s in topic.subscriptions.values()] == ['sub1']


def test_fanout_publish_without_bound_queues_is_dropped(service, connect):
    conn = connect()
    Exchange('lonely', 'fanout')(conn.default_channel).declare()
    assert 'kombu_x_lonely' in service.state.topics    # declared: others see a fanout
    Producer(connect().default_channel).publish('nobody', exchange='lonely')
    Producer(connect().default_channel).publish('nobody', exchange='never-declared')


def test_direct_and_topic_bindings_live_in_queue_tags(service, connect):
    binder, publisher = connect(), connect()
    direct, topic = Exchange('d_x', 'direct'), Exchange('t_x', 'topic')
    red, stocks = Queue('red', direct, 'red'), Queue('stocks', topic, '*.stock.#')
    for queue in (red, stocks):
        queue(binder.default_channel).declare()
    # The publisher declared nothing: it reads the bindings from the service.
    producer = Producer(publisher.default_channel)
    producer.publish('r', exchange='d_x', routing_key='red', serializer='json')
    producer.publish('s', exchange='t_x', routing_key='usd.stock.nasdaq', serializer='json')
    producer.publish('x', exchange='t_x', routing_key='stock', serializer='json')
    assert red(publisher.default_channel).get(no_ack=True).payload == 'r'
    assert stocks(publisher.default_channel).get(no_ack=True).payload == 's'
    assert stocks(publisher.default_channel).get(no_ack=True) is None
    red(binder.default_channel).unbind_from(direct, 'red')
    time.sleep(1.1)   # the publisher re-reads a table at most every second
    producer.publish('gone', exchange='d_x', routing_key='red', serializer='json')
    assert red(publisher.default_channel).get(no_ack=True) is None
