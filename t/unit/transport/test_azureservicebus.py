"""azureservicebus://: URLs, options, locks, shared routing and error translation,
against the in-process fake of the SDK (``t/fakes/servicebus.py``)."""
from __future__ import annotations

import datetime
import logging
import socket
import threading
import time
from typing import Any, Iterator

import pytest

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import AccessRefused, ChannelError, ConnectionError, LimitExceeded

pytest.importorskip('azure.servicebus')

from azure.servicebus.exceptions import ServiceBusConnectionError

from kombu.transport import azureservicebus as asb
from kombu.transport.azureservicebus import Transport
from t.fakes import servicebus as fake

URL = 'azureservicebus://policy:s3cr3t/k+y=@unit'
NS = 'unit.servicebus.windows.net'


@pytest.fixture(autouse=True)
def sdk() -> Iterator[fake.FakeNamespace]:
    with fake.patched(asb):
        yield fake.namespace(NS)


@pytest.fixture
def connections() -> Iterator[Any]:
    made: list[Connection] = []

    def connect(**options: Any) -> Connection:
        conn = Connection(URL, transport_options={'wait_time_seconds': 0.1, **options})
        made.append(conn)
        return conn

    yield connect
    for conn in made:
        conn.release()


def publish(conn: Connection, body: Any, **kwargs: Any) -> None:
    Producer(conn.default_channel).publish(body, serializer='json', **kwargs)


def get(conn: Connection, queue: Queue, no_ack: bool = False) -> Any:
    return queue.bind(conn.default_channel).get(no_ack=no_ack)


# -- URLs ---------------------------------------------------------------------

def test_parse_uri_sas_key_may_hold_slashes_and_at_signs():
    assert Transport.parse_uri('azureservicebus://pol:a/b@c=@ns') == (
        'ns.servicebus.windows.net', 'pol:a/b@c=')
    assert Transport.parse_uri('pol:key@ns.servicebus.windows.net') == (
        'ns.servicebus.windows.net', 'pol:key')     # as Celery passes it


@pytest.mark.parametrize('name', ['DefaultAzureCredential', 'managedidentitycredential'])
def test_parse_uri_named_credentials(name):
    pytest.importorskip('azure.identity')
    namespace, credential = Transport.parse_uri(f'azureservicebus://{name}@ns')
    assert namespace == 'ns.servicebus.windows.net'
    assert type(credential).__name__.lower() == name.lower()
    assert Transport.as_uri(f'azureservicebus://{name}@ns') == (
        f'azureservicebus://{type(credential).__name__}@ns.servicebus.windows.net')


@pytest.mark.parametrize('uri', ['azureservicebus://', 'azureservicebus://ns',
                                 'azureservicebus://@ns', 'azureservicebus://pol:k@',
                                 'azureservicebus://nokey@ns', 'azureservicebus://:k@ns'])
def test_parse_uri_rejects_incomplete(uri):
    with pytest.raises(ValueError, match='Need a URI like'):
        Transport.parse_uri(uri)


def test_as_uri_and_repr_mask_the_key():
    assert Transport.as_uri(URL) == f'azureservicebus://policy:**@{NS}'
    assert Transport.as_uri(URL, include_password=True) == f'azureservicebus://policy:s3cr3t/k+y=@{NS}'
    conn = Connection(URL)
    try:
        assert 's3cr3t' not in conn.as_uri() and 's3cr3t' not in repr(conn)
        assert 's3cr3t' not in repr(conn.default_channel)
    finally:
        conn.release()


def test_sas_url_builds_a_connection_string_client(connections):
    channel = connections(retry_total=7, retry_backoff_factor=0.5,
                          retry_backoff_max=9).default_channel
    client = channel.queue_service
    assert client.fully_qualified_namespace == NS
    assert client.credential == 'policy:s3cr3t/k+y='
    assert client.retry == {'retry_total': 7, 'retry_backoff_factor': 0.5,
                            'retry_backoff_max': 9}


# -- options --------------------------------------------------------------------

def test_options_have_kombus_defaults(connections):
    channel = connections().default_channel
    options = asb.AzureServiceBusOptions()
    assert (options.wait_time_seconds, options.peek_lock_seconds,
            options.uamqp_keep_alive_interval, options.retry_total,
            options.retry_backoff_factor, options.retry_backoff_max,
            options.use_lock_renewal, options.max_lock_renewal_duration) == (
        5, 60, 30, 3, 0.8, 120, False, 3600.0)
    assert channel.wait_time_seconds == 0.1
    assert asb.Channel.default_peek_lock_seconds == 60


def test_options_from_url_query_are_coerced_and_checked():
    options = asb.AzureServiceBusOptions.from_transport_options(
        {}, query={'peek_lock_seconds': '500', 'use_lock_renewal': 'yes'})
    assert options.peek_lock_seconds == 500 and options.use_lock_renewal is True
    with pytest.raises(ValueError):
        asb.AzureServiceBusOptions.from_transport_options({'wait_time_seconds': -1})
    with pytest.raises(ValueError):
        asb.AzureServiceBusOptions.from_transport_options({'priority_steps': [0, 300]})


def test_queues_are_created_with_the_peek_lock_and_arguments(connections, sdk):
    conn = connections(peek_lock_seconds=500)          # capped at Service Bus's 300
    Queue('made', message_ttl=30)(conn.default_channel).declare()
    props = fake.ServiceBusAdministrationClient(NS, None).get_queue('made')
    assert props.lock_duration == datetime.timedelta(seconds=300)
    assert '"x-message-ttl": 30000' in props.user_metadata


def test_keep_alive_is_passed_to_senders_and_receivers(connections):
    conn = connections(uamqp_keep_alive_interval=0)
    queue = Queue('ka')
    queue(conn.default_channel).declare()
    publish(conn, 'x', routing_key='ka')
    assert get(conn, queue).payload == 'x'
    cached = conn.default_channel._queue_cache['ka']
    assert cached.sender.kwargs['keep_alive'] == 0
    assert cached.receiver.kwargs['keep_alive'] == 0


# -- queue names ------------------------------------------------------------------

def test_entity_name_replaces_punctuation_as_kombu(connections):
    channel = connections(queue_name_prefix='pre-').default_channel
    assert channel._queue_entity('celery@host.celery.pidbox') == 'pre-celery_host.celery.pidbox'


@pytest.mark.parametrize('name', ['-leading', 'trailing.', 'x' * 261])
def test_invalid_queue_names_fail_before_any_call(connections, sdk, name):
    conn = connections()
    before = dict(sdk.calls)
    with pytest.raises(ChannelError, match='Service Bus refuses'):
        Queue(name)(conn.default_channel).declare()
    assert sdk.calls == before


# -- locks ------------------------------------------------------------------------

def test_unacked_message_comes_back_when_its_lock_expires(connections, sdk):
    sdk.lock_scale = 0.01                        # 60 s lock -> 0.6 s
    conn = connections()
    queue = Queue('lock')
    queue(conn.default_channel).declare()
    publish(conn, 'once', routing_key='lock')
    first = get(conn, queue)
    assert first.payload == 'once' and not first.delivery_info.get('redelivered')
    assert get(conn, queue) is None               # locked: nobody else gets it
    time.sleep(0.7)
    again = get(connections(), queue)
    assert again.payload == 'once' and again.delivery_info['redelivered'] is True
    again.ack()


def test_ack_after_the_lock_expired_warns_and_keeps_going(connections, sdk, caplog):
    sdk.lock_scale = 0.01
    conn = connections()
    queue = Queue('late')
    queue(conn.default_channel).declare()
    publish(conn, 'slow', routing_key='late')
    message = get(conn, queue)
    time.sleep(0.7)
    with caplog.at_level(logging.WARNING, logger='kombu.transport.azureservicebus'):
        message.ack()
    assert 'delivers it again' in caplog.text
    assert get(conn, queue).payload == 'slow'     # at least once


def test_lock_renewal_keeps_a_slow_message(connections, sdk):
    sdk.lock_scale = 0.005                       # 60 s lock -> 0.3 s
    conn = connections(use_lock_renewal=True, max_lock_renewal_duration=30)
    queue = Queue('renewed')
    queue(conn.default_channel).declare()
    publish(conn, 'work', routing_key='renewed')
    message = get(conn, queue)
    time.sleep(1.0)                               # three lock durations
    assert get(connections(), queue) is None      # still ours
    message.ack()
    renewer = conn.default_channel._renewer
    assert renewer.max_lock_renewal_duration == 30 and renewer.renewals >= 3
    assert sdk.calls['complete'] == 1


def test_requeue_abandons_and_close_abandons_the_rest(connections, sdk):
    conn = connections()
    queue = Queue('abandon')
    queue(conn.default_channel).declare()
    for body in 'abc':
        publish(conn, body, routing_key='abandon')
    first, second = get(conn, queue), get(conn, queue)
    first.requeue()
    assert sdk.calls['abandon'] == 1
    conn.default_channel.close()
    assert sdk.calls['abandon'] == 2
    other = connections()
    assert [get(other, queue, no_ack=True).payload for _ in range(3)] == ['a', 'b', 'c']
    assert second.payload == 'b'


def test_no_ack_consumer_receives_and_deletes(connections, sdk):
    conn = connections()
    queue = Queue('noack')
    queue(conn.default_channel).declare()
    publish(conn, 'x', routing_key='noack')
    got: list[Any] = []
    with Consumer(conn, [queue], callbacks=[lambda b, m: got.append(b)], no_ack=True):
        conn.drain_events(timeout=2)
    assert got == ['x'] and 'complete' not in sdk.calls
    assert not conn.default_channel._locked


# -- waiting -----------------------------------------------------------------------

def test_idle_consumer_long_polls_and_wakes_on_a_message(connections):
    conn = connections(wait_time_seconds=5)
    queue = Queue('longpoll')
    queue(conn.default_channel).declare()
    got: list[Any] = []
    with Consumer(conn, [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
        start = time.monotonic()
        with pytest.raises(socket.timeout):
            conn.drain_events(timeout=0.3)        # never past the caller's timeout
        assert time.monotonic() - start < 1.5
        sender = connections()
        timer = threading.Timer(0.3, publish, (sender, 'late'), {'routing_key': 'longpoll'})
        timer.start()
        start = time.monotonic()
        conn.drain_events(timeout=4)
        assert got == ['late'] and time.monotonic() - start < 2
        timer.join()


# -- state shared through the namespace ---------------------------------------------

def test_bindings_made_by_one_connection_route_for_another(connections):
    binder, publisher = connections(routing_refresh_seconds=0), connections(
        routing_refresh_seconds=0)
    exchange = Exchange('bcast', 'fanout')
    queues = [Queue(f'fan{n}', exchange) for n in range(2)]
    for queue in queues:
        queue(binder.default_channel).declare()
    # The publisher never declared the exchange: its type and table are in the namespace.
    publish(publisher, 'hello', exchange='bcast')
    assert [get(publisher, q).payload for q in queues] == ['hello', 'hello']
    queues[0](binder.default_channel).unbind_from(exchange)
    publish(publisher, 'again', exchange='bcast')
    assert get(publisher, queues[0]) is None
    assert get(publisher, queues[1]).payload == 'again'


def test_queue_arguments_apply_to_other_connections(connections):
    owner, publisher = connections(), connections()
    queue = Queue('prio', max_priority=10)
    queue(owner.default_channel).declare()
    for priority in (0, 9, 3):
        publish(publisher, f'p{priority}', routing_key='prio', priority=priority)
    assert [get(owner, queue).payload for _ in range(3)] == ['p9', 'p3', 'p0']


def test_expired_messages_carry_a_service_bus_time_to_live(connections, sdk):
    conn = connections()
    Queue('ttl')(conn.default_channel).declare()
    publish(conn, 'short', routing_key='ttl', expiration=1.5)
    publish(conn, 'forever', routing_key='ttl')
    first, second = sdk.queue('ttl').ready
    assert first.expires_at is not None and 1 < first.expires_at - time.time() <= 2
    assert second.expires_at is None


def test_deleted_queue_is_removed_from_the_shared_table(connections, sdk):
    conn = connections()
    exchange = Exchange('direct-x', 'direct')
    queue = Queue('bound', exchange, 'k')
    queue(conn.default_channel).declare()
    queue(conn.default_channel).delete()
    topic = conn.default_channel._topic_entity('direct-x')
    assert fake.ServiceBusAdministrationClient(NS, None).list_subscriptions(topic) == []


# -- errors ---------------------------------------------------------------------------

def test_refused_credentials_are_access_refused(connections, sdk):
    sdk.accepted_credentials = {'policy:other'}
    conn = connections()
    with pytest.raises(AccessRefused):
        Queue('auth')(conn.default_channel).declare()


def test_lost_connection_is_a_connection_error(connections, sdk):
    conn = connections()
    Queue('lost')(conn.default_channel).declare()
    sdk.fail_with = ServiceBusConnectionError(message='socket closed')
    with pytest.raises(ConnectionError) as info:
        publish(conn, 'x', routing_key='lost')
    assert isinstance(info.value.__cause__, ServiceBusConnectionError)
    assert isinstance(info.value, conn.connection_errors)


def test_too_large_message_is_limit_exceeded(connections):
    conn = connections()
    Queue('big')(conn.default_channel).declare()
    with pytest.raises(LimitExceeded):
        publish(conn, 'x' * 300_000, routing_key='big')


def test_publish_to_a_deleted_queue_drops_the_message(connections, caplog):
    conn = connections()
    with caplog.at_level(logging.WARNING, logger='kombu.transport.azureservicebus'):
        publish(conn, 'x', routing_key='never-declared')
    assert 'does not exist' in caplog.text


# -- the real SDK accepts what the transport passes (built, never connected) -------------

def test_the_real_sdk_takes_the_transports_arguments():
    from azure.servicebus import AutoLockRenewer, ServiceBusClient, ServiceBusReceiveMode
    from azure.servicebus.management import ServiceBusAdministrationClient

    with pytest.MonkeyPatch.context() as patch:   # the real classes, not the fake's
        patch.setattr(asb, 'ServiceBusClient', ServiceBusClient)
        patch.setattr(asb, 'ServiceBusAdministrationClient', ServiceBusAdministrationClient)
        patch.setattr(asb, 'AutoLockRenewer', AutoLockRenewer)
        conn = Connection(URL, transport_options={'use_lock_renewal': True,
                                                  'retry_total': 5})
        channel = conn.default_channel
        assert isinstance(channel.queue_service, ServiceBusClient)
        assert isinstance(channel.queue_mgmt_service, ServiceBusAdministrationClient)
        assert channel.queue_service.fully_qualified_namespace == NS
        sender = channel._sender('q')
        receiver = channel._receiver('q', ServiceBusReceiveMode.PEEK_LOCK)
        assert type(sender).__name__ == 'ServiceBusSender'
        assert type(receiver).__name__ == 'ServiceBusReceiver'
        assert isinstance(channel._renewer, AutoLockRenewer)
        conn.release()
