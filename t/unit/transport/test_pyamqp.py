"""kombu.transport.pyamqp against the RabbitMQ on 127.0.0.1:5672, used directly."""
from __future__ import annotations

import select
import socket
import ssl
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import amqp
import pytest

from kombu.exceptions import OperationalError
from kombu.transport import pyamqp
from kombu.utils.amq_manager import ManagementClient, ManagementUnavailable, get_manager
from t.servers import free_port, require_server, unique_name

HOW_TO_START = 'bash .ci/start-servers'


class ConnInfo:
    """The attributes of kombu.Connection that the transport reads."""

    def __init__(self, **kwargs: Any) -> None:
        self.hostname = '127.0.0.1'
        self.port = 5672
        self.userid = 'guest'
        self.password: Any = 'guest'
        self.virtual_host = '/'
        self.ssl: Any = False
        self.login_method = None
        self.connect_timeout = 5
        self.heartbeat = 0
        self.insist = False
        self.transport_options: dict = {}
        self.__dict__.update(kwargs)

    @property
    def host(self) -> str:
        return f'{self.hostname}:{self.port}'


@pytest.fixture
def rabbit() -> None:
    require_server('RabbitMQ', '127.0.0.1', 5672, HOW_TO_START)


@pytest.fixture
def transport(rabbit):
    return pyamqp.Transport(ConnInfo())


@pytest.fixture
def conn(transport):
    connection = transport.establish_connection()
    yield connection
    if connection.connected:
        transport.close_connection(connection)


@pytest.fixture
def chan(conn):
    return conn.channel()


@pytest.fixture
def queue(chan):
    """A fresh auto-deleted queue name (deleted at the end as well)."""
    name = unique_name('pyamqp')
    chan.queue_declare(name, auto_delete=False)
    yield name
    if chan.is_open:
        cancel_consumers(chan)
        chan.queue_delete(name)


def cancel_consumers(chan):
    for tag in list(chan.callbacks):
        chan.basic_cancel(tag)


def publish(chan, queue, body, **kwargs):
    message = chan.prepare_message(body, **kwargs)
    chan.basic_publish(message, exchange='', routing_key=queue)


def get(chan, queue, timeout=5.0):
    """basic_get until a message arrives (publishing is asynchronous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = chan.basic_get(queue)
        if raw is not None:
            return chan.message_to_python(raw)
        time.sleep(0.01)
    raise AssertionError(f'no message on {queue} within {timeout}s')


# -- options, defaults, connection parameters (no server needed)


def test_options_pass_amqp_keys_and_name_the_connection():
    opts = pyamqp.AMQPOptions.from_transport_options({
        'confirm_publish': True, 'read_timeout': 3, 'write_timeout': 4,
        'client_properties': {'x': 1}, 'connection_name': 'worker-1',
        'max_retries': 3, 'global_qos': False})
    assert opts.connection_kwargs == {
        'confirm_publish': True, 'read_timeout': 3, 'write_timeout': 4,
        'client_properties': {'x': 1, 'connection_name': 'worker-1'}}
    assert opts.global_qos is False
    assert opts.connection_name == 'worker-1'


def test_options_repr_masks_credentials():
    opts = pyamqp.AMQPOptions.from_transport_options({
        'password': 's3cret-pw', 'login_response': 's3cret-lr', 'read_timeout': 3})
    assert opts.connection_kwargs['password'] == 's3cret-pw'  # still passed on
    text = repr(opts)
    assert 's3cret' not in text
    assert "'read_timeout': 3" in text


def test_unknown_option_warns_once_and_is_not_passed():
    key = unique_name('opt')
    with pytest.warns(UserWarning, match=key):
        opts = pyamqp.AMQPOptions.from_transport_options({key: 1})
    assert key not in opts.connection_kwargs
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        pyamqp.AMQPOptions.from_transport_options({key: 1})


def test_default_connection_params_and_ssl_port():
    plain = pyamqp.Transport(ConnInfo())
    assert plain.default_connection_params['port'] == pyamqp.DEFAULT_PORT == 5672
    info = ConnInfo(ssl=False)
    secure = pyamqp.SSLTransport(info)
    assert info.ssl is True
    assert secure.default_connection_params['port'] == pyamqp.DEFAULT_SSL_PORT == 5671
    keep = {'ca_certs': '/x'}
    pyamqp.SSLTransport(ConnInfo(ssl=keep))
    assert keep == {'ca_certs': '/x'}
    assert pyamqp.Transport(ConnInfo(), default_port=1234).default_port == 1234


def test_ssl_option_forms():
    opt = pyamqp.Transport._ssl_option
    given = {'server_hostname': None, 'cert_reqs': ssl.CERT_REQUIRED}
    out = opt(given, 'broker.example')
    assert out == {'server_hostname': 'broker.example', 'cert_reqs': ssl.CERT_REQUIRED}
    assert given['server_hostname'] is None  # the caller's dict is untouched
    context = ssl.create_default_context()
    assert opt(context, 'h') is context
    assert opt(True, 'h') is True
    assert opt(False, 'h') is False


def test_capabilities_and_errors():
    t = pyamqp.Transport
    assert t.driver_type == 'amqp' and t.driver_name == 'py-amqp'
    assert t(ConnInfo()).driver_version() == amqp.__version__
    assert t.implements.asynchronous is True
    assert t.implements.heartbeats is True
    assert set(t.implements.exchange_type) == {'direct', 'topic', 'fanout', 'headers'}
    assert t.connection_errors == amqp.Connection.connection_errors
    assert t.channel_errors == amqp.Connection.channel_errors
    # all of py-amqp's but MessageNacked: a nack is an answer, not a lost connection
    assert set(t.recoverable_connection_errors) == (
        set(amqp.Connection.recoverable_connection_errors) - {amqp.exceptions.MessageNacked})
    assert t.recoverable_channel_errors == amqp.Connection.recoverable_channel_errors


def test_librabbitmq_is_an_alias():
    from kombu.transport import librabbitmq
    assert librabbitmq.Transport is pyamqp.Transport
    assert librabbitmq.DEFAULT_PORT == 5672 and librabbitmq.DEFAULT_SSL_PORT == 5671


def test_prepare_queue_arguments():
    chan = pyamqp.Channel.__new__(pyamqp.Channel)
    args = chan.prepare_queue_arguments({'x-queue-type': 'quorum'}, message_ttl=1.5,
                                        expires=10, max_length=5, max_priority=9)
    assert args == {'x-queue-type': 'quorum', 'x-message-ttl': 1500, 'x-expires': 10000,
                    'x-max-length': 5, 'x-max-priority': 9}


def test_qos_semantics_by_server_version():
    t = pyamqp.Transport(ConnInfo())

    def fake(props):
        c = pyamqp.Connection.__new__(pyamqp.Connection)
        c.server_properties = props
        return c
    assert t.qos_semantics_matches_spec(fake({'product': 'RabbitMQ', 'version': '3.2.4'}))
    assert not t.qos_semantics_matches_spec(fake({'product': 'RabbitMQ', 'version': '3.10.8'}))
    assert not t.qos_semantics_matches_spec(fake({'product': 'RabbitMQ', 'version': '4.1.0'}))
    assert t.qos_semantics_matches_spec(fake({'product': 'RabbitMQ'}))
    assert t.qos_semantics_matches_spec(fake({'product': 'Qpid', 'version': '9'}))


def test_global_qos_allowed_detection():
    def fake(version, override=None):
        c = pyamqp.Connection.__new__(pyamqp.Connection)
        c.server_properties = {'product': 'RabbitMQ', 'version': version}
        c.global_qos = override
        c._global_qos_allowed = None
        return c
    assert fake('3.13.1').global_qos_allowed() is True
    assert fake('4.2.1').global_qos_allowed() is True  # deprecated, still permitted
    assert fake('4.3.0').global_qos_allowed() is False  # denied by default
    assert fake('4.3.0', override=True).global_qos_allowed() is True
    assert fake('3.13.1', override=False).global_qos_allowed() is False


# -- against the real broker


def test_connect_and_close(transport, conn):
    assert isinstance(conn, pyamqp.Connection)
    assert transport.verify_connection(conn)
    assert conn.server_properties['product'] == 'RabbitMQ'
    assert transport.qos_semantics_matches_spec(conn) is False
    assert transport.get_heartbeat_interval(conn) == 0
    transport.heartbeat_check(conn)  # no heartbeat negotiated: a no-op
    transport.close_connection(conn)
    assert not transport.verify_connection(conn)
    assert conn.client is None


def test_localhost_and_callable_password(rabbit):
    calls = []

    def password():
        calls.append(1)
        return 'guest'
    info = ConnInfo(hostname='localhost', password=password, port=None, userid=None)
    t = pyamqp.Transport(info)
    conn = t.establish_connection()
    try:
        assert info.hostname == '127.0.0.1' and info.port == 5672 and info.userid == 'guest'
        assert calls == [1]
    finally:
        t.close_connection(conn)


def test_bad_credentials_are_refused_not_retried(rabbit):
    t = pyamqp.Transport(ConnInfo(password='wrong-password'))
    with pytest.raises(amqp.exceptions.AccessRefused) as info:
        t.establish_connection()
    # not in the recoverable set: retrying with the same password cannot help
    assert not isinstance(info.value, t.recoverable_connection_errors)
    assert 'wrong-password' not in str(info.value)


def test_transport_options_override_connection_arguments(rabbit):
    info = ConnInfo(heartbeat=0, connect_timeout=1,
                    transport_options={'heartbeat': 6, 'connect_timeout': 3})
    t = pyamqp.Transport(info)
    conn = t.establish_connection()
    try:
        assert conn.heartbeat == 6
        assert conn.connect_timeout == 3
    finally:
        t.close_connection(conn)


def test_connection_name_reaches_the_server(rabbit):
    name = unique_name('conn')
    t = pyamqp.Transport(ConnInfo(transport_options={'connection_name': name}))
    conn = t.establish_connection()
    try:
        assert conn.client_properties['connection_name'] == name
    finally:
        t.close_connection(conn)


def test_message_field_mapping(chan, queue):
    publish(chan, queue, b'{"a": 1}', content_type='application/json',
            content_encoding='utf-8', headers={'h': 'v'}, priority=3,
            properties={'delivery_mode': 2, 'correlation_id': 'c1', 'reply_to': 'r'})
    msg = get(chan, queue)
    assert isinstance(msg, pyamqp.Message)
    assert msg.body == '{"a": 1}'  # py-amqp decodes bodies with a content_encoding
    assert msg.content_type == 'application/json'
    assert msg.content_encoding == 'utf-8'
    assert msg.headers == {'h': 'v'}
    assert msg.properties['correlation_id'] == 'c1'
    assert msg.properties['reply_to'] == 'r'
    assert msg.properties['priority'] == 3
    assert msg.properties['delivery_mode'] == 2
    assert msg.delivery_info['routing_key'] == queue
    assert msg.delivery_info['exchange'] == ''
    assert msg.delivery_info['redelivered'] is False
    assert msg.delivery_tag == msg.delivery_info['delivery_tag']
    assert msg.payload == {'a': 1}
    msg.ack()
    assert chan.basic_get(queue) is None


def test_no_headers_is_an_empty_dict(chan, queue):
    publish(chan, queue, 'text')
    msg = get(chan, queue)
    assert msg.headers == {}
    assert msg.body == 'text'  # py-amqp decodes str bodies without a content type
    msg.ack()


def test_consume_and_drain_events_with_timeout(transport, conn, chan, queue):
    got = []
    chan.basic_consume(queue, callback=lambda raw: got.append(chan.message_to_python(raw)))
    with pytest.raises(socket.timeout):
        transport.drain_events(conn, timeout=0.05)
    for i in range(3):
        publish(chan, queue, f'm{i}')
    while len(got) < 3:
        transport.drain_events(conn, timeout=5)
    assert [m.body for m in got] == ['m0', 'm1', 'm2']
    for m in got:
        m.ack()


def test_reject_requeue_redelivers(chan, queue):
    publish(chan, queue, 'again')
    msg = get(chan, queue)
    msg.requeue()
    again = get(chan, queue)
    assert again.body == 'again' and again.delivery_info['redelivered'] is True
    again.reject()
    assert chan.basic_get(queue) is None


def test_no_ack_consumer(transport, conn, chan, queue):
    got = []
    tag = chan.basic_consume(queue, no_ack=True, callback=got.append)
    assert tag in chan.no_ack_consumers
    publish(chan, queue, 'x')
    while not got:
        transport.drain_events(conn, timeout=5)
    chan.basic_cancel(tag)
    chan.basic_recover(requeue=True)
    assert chan.basic_get(queue) is None  # auto-acked: nothing comes back


def test_recover_requeues_unacked(transport, conn, chan, queue):
    publish(chan, queue, 'r')
    first = get(chan, queue)
    assert first.delivery_info['redelivered'] is False
    chan.basic_recover(requeue=True)
    again = get(chan, queue)
    assert again.body == 'r' and again.delivery_info['redelivered'] is True
    again.ack()


def test_consumer_cancel_notification(transport, conn, chan, queue):
    cancelled = []
    tag = chan.basic_consume(queue, callback=lambda m: None, on_cancel=cancelled.append)
    other = conn.channel()
    other.queue_delete(queue)
    deadline = time.monotonic() + 5
    while not cancelled and time.monotonic() < deadline:
        try:
            transport.drain_events(conn, timeout=0.2)
        except socket.timeout:
            pass
    assert cancelled == [tag]
    other.close()


def test_mandatory_unroutable_calls_on_return(transport, conn, chan):
    returned = []
    chan.events['basic_return'].add(
        lambda exc, exchange, routing_key, message: returned.append(
            (exc.reply_code, exchange, routing_key, message.body)))
    rk = unique_name('nowhere')
    chan.basic_publish(chan.prepare_message('lost?'), exchange='', routing_key=rk,
                       mandatory=True)
    deadline = time.monotonic() + 5
    while not returned and time.monotonic() < deadline:
        try:
            transport.drain_events(conn, timeout=0.2)
        except socket.timeout:
            pass
    assert returned == [(312, '', rk, 'lost?')]


def test_publishing_still_reads_from_the_broker(chan):
    # no drain_events: the publish path itself must notice returns (and connection.blocked)
    returned = []
    chan.events['basic_return'].add(lambda exc, *args: returned.append(exc.reply_code))
    chan.basic_publish(chan.prepare_message(b'x'), routing_key=unique_name('void'),
                       mandatory=True)
    deadline = time.monotonic() + 5
    while not returned and time.monotonic() < deadline:
        time.sleep(chan.blocked_poll_interval)
        chan.basic_publish(chan.prepare_message(b'y'), routing_key=unique_name('void'))
    assert returned == [312]


def test_publish_timeout_is_a_connection_error(chan, monkeypatch):
    def stuck(*args, **kwargs):
        raise socket.timeout()
    monkeypatch.setattr(chan, 'send_method', stuck)
    with pytest.raises(amqp.RecoverableConnectionError):
        chan.basic_publish(chan.prepare_message(b'x'), routing_key='q', timeout=0.1)


def test_confirms_ack_and_nack(rabbit):
    t = pyamqp.Transport(ConnInfo(transport_options={'confirm_publish': True}))
    conn = t.establish_connection()
    chan = conn.channel()
    name = unique_name('confirm')
    try:
        chan.queue_declare(name, auto_delete=False,
                           arguments={'x-max-length': 1, 'x-overflow': 'reject-publish'})
        chan.basic_publish(chan.prepare_message('one'), routing_key=name, confirm_timeout=5)
        with pytest.raises(amqp.exceptions.MessageNacked):
            chan.basic_publish(chan.prepare_message('two'), routing_key=name,
                               confirm_timeout=5)
        assert get(chan, name).body == 'one'
        assert chan.basic_get(name) is None
    finally:
        chan.queue_delete(name)
        t.close_connection(conn)


def test_global_qos_is_moved_to_consumers_for_quorum_queues(transport, conn, chan):
    name = unique_name('quorum')
    chan.queue_declare(name, durable=True, auto_delete=False,
                       arguments={'x-queue-type': 'quorum'})
    try:
        assert conn.queue_types[name] == 'quorum'
        chan.basic_qos(0, 2, True)  # RabbitMQ 3.x accepts this on the channel ...
        got = []
        # ... but consuming a quorum queue with it would be a 540 connection error
        chan.basic_consume(name, callback=got.append)
        for i in range(5):
            publish(chan, name, f'q{i}')
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            try:
                transport.drain_events(conn, timeout=0.2)
            except socket.timeout:
                pass
        with pytest.raises(socket.timeout):  # per-consumer window of 2 holds
            transport.drain_events(conn, timeout=0.3)
        assert [m.body for m in got] == ['q0', 'q1']
        assert conn.connected and chan.is_open
        chan.basic_ack(got[1].delivery_tag, multiple=True)
        while len(got) < 4:
            transport.drain_events(conn, timeout=5)
        assert [m.body for m in got] == ['q0', 'q1', 'q2', 'q3']
    finally:
        cancel_consumers(chan)
        chan.queue_delete(name)


def test_global_qos_keyword_aliases(chan):
    chan.basic_qos(prefetch_count=5, apply_global=True)
    assert chan._global_prefetch == (0, 5)
    chan.basic_qos(prefetch_count=7, global_=False)
    assert chan._global_prefetch == (0, 5)
    with pytest.raises(TypeError):
        chan.basic_qos(0, 1, False, bogus=1)


def test_global_qos_off_never_sends_global(rabbit):
    t = pyamqp.Transport(ConnInfo(transport_options={'global_qos': False}))
    conn = t.establish_connection()
    try:
        chan = conn.channel()
        chan.basic_qos(0, 3, True)
        assert chan._global_prefetch == (0, 0)
    finally:
        t.close_connection(conn)


def test_flow(chan):
    assert chan.flow(True) is None or True
    with pytest.raises(NotImplementedError):
        chan.flow(False)
    assert chan.is_open


def test_heartbeat_negotiated_and_checked(rabbit):
    t = pyamqp.Transport(ConnInfo(heartbeat=4))
    conn = t.establish_connection()
    try:
        assert t.get_heartbeat_interval(conn) == 4
        t.heartbeat_check(conn, rate=2)
        assert conn.last_heartbeat_sent is not None
    finally:
        t.close_connection(conn)


class SelectLoop:
    """The part of kombu's Hub the transport uses, over select()."""

    def __init__(self) -> None:
        self.readers: dict = {}
        self.soon: list = []
        self.repeating: list = []

    def add_reader(self, fd, callback, *args):
        self.readers[fd] = (callback, args)

    def remove_reader(self, fd):
        self.readers.pop(fd, None)

    def call_soon(self, callback, *args):
        self.soon.append((callback, args))

    def call_repeatedly(self, seconds, callback, *args):
        entry = _Entry(seconds, callback, args)
        self.repeating.append(entry)
        return entry

    def run_once(self, timeout):
        while self.soon:
            callback, args = self.soon.pop(0)
            callback(*args)
        ready, _, _ = select.select(list(self.readers), [], [], timeout)
        for fd in ready:
            callback, args = self.readers[fd]
            callback(*args)


class _Entry:
    def __init__(self, seconds, callback, args):
        self.seconds, self.callback, self.args = seconds, callback, args
        self.cancelled = False

    def cancel(self):
        self.cancelled = True


def test_event_loop_reads_deliveries(rabbit):
    t = pyamqp.Transport(ConnInfo(heartbeat=8))
    conn = t.establish_connection()
    chan = conn.channel()
    name = unique_name('loop')
    chan.queue_declare(name, auto_delete=False)
    loop = SelectLoop()
    got = []
    try:
        chan.basic_consume(name, no_ack=True, callback=got.append)
        t.register_with_event_loop(conn, loop)
        assert conn.sock in loop.readers
        (entry,) = loop.repeating
        assert entry.seconds == 2.0
        entry.callback(*entry.args)  # a tick from the hub sends/checks heartbeats
        for i in range(20):
            publish(chan, name, f'e{i}')
        deadline = time.monotonic() + 5
        while len(got) < 20 and time.monotonic() < deadline:
            loop.run_once(0.2)
        assert [m.body for m in got] == [f'e{i}' for i in range(20)]
        t.unregister_from_event_loop(conn, loop)
        assert loop.readers == {} and entry.cancelled
    finally:
        cancel_consumers(chan)
        chan.queue_delete(name)
        t.close_connection(conn)


def test_hub_heartbeat_timer_stops_itself_when_connection_is_gone(rabbit):
    t = pyamqp.Transport(ConnInfo(heartbeat=8))
    conn = t.establish_connection()
    loop = SelectLoop()
    t.register_with_event_loop(conn, loop)
    (entry,) = loop.repeating
    t.close_connection(conn)  # a reconnect that never unregisters
    entry.callback(*entry.args)
    assert entry.cancelled and conn._kombu_heartbeat_timer is None


def test_hub_heartbeat_timer_stops_after_missed_heartbeats(rabbit, monkeypatch):
    t = pyamqp.Transport(ConnInfo(heartbeat=8))
    conn = t.establish_connection()
    try:
        loop = SelectLoop()
        t.register_with_event_loop(conn, loop)
        (entry,) = loop.repeating

        def missed(rate=2):
            raise amqp.exceptions.ConnectionForced('Too many heartbeats missed')
        monkeypatch.setattr(conn, 'heartbeat_tick', missed)
        with pytest.raises(amqp.exceptions.ConnectionForced):
            entry.callback(*entry.args)
        assert entry.cancelled  # raised once, not on every tick
    finally:
        t.close_connection(conn)


def test_on_readable_raises_when_disconnected(transport, conn):
    transport.close_connection(conn)
    with pytest.raises(amqp.RecoverableConnectionError):
        transport.on_readable(conn, SelectLoop())


# -- management API


def test_manager_unreachable_is_a_clear_error():
    manager = get_manager(ConnInfo(), port=free_port())
    assert isinstance(manager, ManagementClient)
    assert 'guest' not in repr(manager).replace("user='guest'", '')
    with pytest.raises(ManagementUnavailable, match='rabbitmq_management') as info:
        manager.get_queues('/')
    assert isinstance(info.value, OperationalError)
    assert manager.is_alive() is False


def test_manager_options_and_requests():
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers['Authorization']))
            body = b'[{"name": "q1", "messages": 4}, {"name": "q2", "messages": 0}]'
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        info = ConnInfo(transport_options={'manager_port': server.server_port,
                                           'manager_userid': 'admin',
                                           'manager_password': 's3cret'})
        manager = pyamqp.Transport(info).get_manager()
        assert 's3cret' not in repr(manager)
        assert manager.get_queue_depths('/') == {'q1': 4, 'q2': 0}
        assert seen == [('/api/queues/%2F', 'Basic YWRtaW46czNjcmV0')]
    finally:
        server.shutdown()
        server.server_close()


def _full_queue(conn, name: str):
    """A queue holding one message that refuses (nacks) any other publish."""
    from kombu import Producer, Queue
    queue = Queue(name, durable=False, auto_delete=False,
                  queue_arguments={'x-max-length': 1, 'x-overflow': 'reject-publish'})
    Producer(conn).publish('one', routing_key=name, declare=[queue])
    return queue


def test_a_nacked_publish_is_retried_on_a_new_channel(rabbit):
    from kombu import Connection, Producer
    name = unique_name('nackretry')
    url = 'amqp://guest:guest@127.0.0.1:5672//'
    with Connection(url, transport_options={'confirm_publish': True}) as conn:
        queue = _full_queue(conn, name)
        nacked_on = conn.default_channel
        seen = []

        def make_room(exc, interval):  # what a consumer elsewhere would do
            seen.append(type(exc).__name__)
            with Connection(url) as other:
                seen.append(queue(other.default_channel).get(no_ack=True).payload)

        producer = Producer(conn)
        producer.publish('two', routing_key=name, retry=True,
                         retry_policy={'max_retries': 2, 'interval_start': 0,
                                       'errback': make_room})
        try:
            assert seen == ['MessageNacked', 'one']
            assert not nacked_on.is_open            # the nacking channel was dropped
            assert producer.channel is conn.default_channel is not nacked_on
            assert queue(conn.default_channel).get(no_ack=True).payload == 'two'
        finally:
            queue(conn.default_channel).delete()


@pytest.mark.parametrize('policy, attempts', [
    ({'max_retries': 2, 'interval_start': 0}, 3),
    ({'max_retries': None, 'interval_start': 0}, 6),  # unbounded_nack_retries + 1
])
def test_nacks_are_retried_within_the_policy_then_raised(rabbit, policy, attempts):
    from kombu import Connection, Producer
    from kombu.exceptions import MessageNacked
    name = unique_name('nackgiveup')
    with Connection('amqp://guest:guest@127.0.0.1:5672//',
                    transport_options={'confirm_publish': True}) as conn:
        queue = _full_queue(conn, name)
        nacks = []
        try:
            with pytest.raises(MessageNacked):
                Producer(conn).publish('two', routing_key=name, retry=True, retry_policy=dict(
                    policy, errback=lambda exc, interval: nacks.append(exc)))
            assert len(nacks) == attempts - 1
            assert queue(conn.default_channel).get(no_ack=True).payload == 'one'
        finally:
            queue(conn.default_channel).delete()
