from __future__ import annotations

import copy
import logging
import pickle
import socket
import ssl
import time

import pytest

from kombu import Connection, Exchange, Queue, exceptions
from kombu.connection import (
    BrokerConnection,
    ChannelPool,
    ConnectionPool,
    PooledConnection,
    failover_strategies,
    is_connection,
    maybe_channel,
    resolve_aliases,
    roundrobin_failover,
)
from kombu.exceptions import ChannelLimitExceeded, ConnectionLimitExceeded, OperationalError
from kombu.transport import base
from t.servers import free_port

SECRET = 's3cr3t-pa55'


# -- URL parsing ---------------------------------------------------------------------

@pytest.mark.parametrize('url, expected', [
    ('amqp://user:pass@host:5673/vhost',
     dict(transport_cls='amqp', hostname='host', port=5673, userid='user',
          password='pass', virtual_host='vhost')),
    ('amqp://', dict(transport_cls='amqp', hostname=None, virtual_host='/')),
    ('amqp://u:p@host//', dict(virtual_host='/')),
    ('amqps://u:p@host//', dict(transport_cls='amqps', hostname='host')),
    ('pyamqp://u:p@h:1//', dict(transport_cls='pyamqp', port=1)),
    ('redis://:pw@redishost:6380/3',
     dict(transport_cls='redis', hostname='redishost', port=6380, userid=None,
          password='pw', virtual_host='3')),
    ('redis://user:p%40ss%2Fw@h/0', dict(userid='user', password='p@ss/w')),
    ('redis://localhost', dict(hostname='localhost', virtual_host='/')),
    ('memory://', dict(transport_cls='memory', hostname=None)),
    ('filesystem://', dict(transport_cls='filesystem')),
    ('sqs://AKID:SECRETKEY@', dict(transport_cls='sqs', userid='AKID', password='SECRETKEY',
                                   hostname=None)),
    ('amqp://u:p@[::1]:5672//', dict(hostname='::1', port=5672)),
    ('amqp://[fe80::1]/', dict(hostname='fe80::1', port=None)),
])
def test_url_parsing(url, expected):
    conn = Connection(url)
    for attr, value in expected.items():
        assert getattr(conn, attr) == value, attr


def test_url_with_query_options():
    conn = Connection('amqp://u:p@h//?heartbeat=10&connect_timeout=2.5&'
                      'visibility_timeout=30&confirm_publish=true&queue_name_prefix=x-')
    assert conn.heartbeat == 10.0
    assert conn.connect_timeout == 2.5
    assert conn.transport_options == {
        'visibility_timeout': 30, 'confirm_publish': True, 'queue_name_prefix': 'x-'}


def test_explicit_transport_options_win_over_url():
    opts = {'visibility_timeout': 99}
    conn = Connection('redis://h/0?visibility_timeout=1&polling_interval=2',
                      transport_options=opts)
    assert conn.transport_options == {'visibility_timeout': 99, 'polling_interval': 2}
    plain = Connection('redis://h/0', transport_options=opts)
    assert plain.transport_options is opts  # the caller's dict, as in Kombu


def test_url_values_override_keyword_defaults_but_keep_others():
    conn = Connection('amqp://urluser@h//', userid='kw', password='kwpass', port=1234)
    assert conn.userid == 'urluser'
    assert conn.password == 'kwpass'
    assert conn.port == 1234


def test_rediss_ssl_query_and_default(caplog):
    conn = Connection('rediss://:pw@h:6380/1?ssl_cert_reqs=required&ssl_ca_certs=/ca.pem')
    assert conn.ssl == {'ssl_cert_reqs': ssl.CERT_REQUIRED, 'ssl_ca_certs': '/ca.pem'}
    with caplog.at_level(logging.WARNING, logger='kombu.connection'):
        insecure = Connection('rediss://h:6380/0')
    assert insecure.ssl == {'ssl_cert_reqs': ssl.CERT_NONE}
    assert 'insecure' in caplog.text


def test_uri_prefix_transports_take_the_url_whole():
    conn = Connection(f'sqla+postgresql://user:{SECRET}@dbhost/db')
    assert conn.transport_cls == 'sqla'
    assert conn.uri_prefix == 'sqla'
    assert conn.hostname == f'postgresql://user:{SECRET}@dbhost/db'
    assert SECRET not in repr(conn)
    assert conn.as_uri() == 'sqla+postgresql://user:**@dbhost/db'

    sock = Connection('redis+socket:///tmp/redis.sock')
    assert (sock.transport_cls, sock.uri_prefix) == ('redis', 'redis')
    assert sock.hostname == 'socket:///tmp/redis.sock'
    assert sock.as_uri() == 'redis+socket:///tmp/redis.sock'
    assert sock.clone().hostname == 'socket:///tmp/redis.sock'


def test_transport_that_parses_url_keeps_it_whole():
    url = f'mongodb://user:{SECRET}@h1:27017,h2:27017/db?replicaSet=rs'
    conn = Connection(url)
    assert conn.transport_cls == 'mongodb'
    assert conn.hostname == url
    assert SECRET not in repr(conn)
    assert SECRET not in str(conn.info(mask='**'))


def test_url_scheme_cannot_name_a_module():
    with pytest.raises(ValueError, match='Invalid transport scheme'):
        Connection('os.path://localhost')
    with pytest.raises(ValueError, match='Invalid transport scheme'):
        Connection('memory://;os.path://x')


def test_unknown_transport_fails_at_construction():
    with pytest.raises(KeyError):
        Connection('nosuchtransport://h')


def test_default_transport_is_amqp():
    conn = Connection('localhost')
    assert conn.transport_cls in ('amqp', 'librabbitmq')
    assert conn.hostname == 'localhost'


def test_alternates_from_semicolons_list_and_keyword():
    conn = Connection('redis://:pw@a:1/0;redis://:pw@b:2/0')
    assert (conn.hostname, conn.port) == ('a', 1)
    assert conn.alt == ['redis://:pw@a:1/0', 'redis://:pw@b:2/0']

    listed = Connection(['sentinel://:pw@s1:26379', 'sentinel://:pw@s2:26379'],
                        transport_options={'master_name': 'mymaster'})
    assert listed.transport_cls == 'sentinel'
    assert (listed.hostname, listed.port, listed.password) == ('s1', 26379, 'pw')
    assert len(listed.alt) == 2

    kw = Connection('amqp://a//', alternates=['amqp://b//'])
    assert kw.alt == ['amqp://a//', 'amqp://b//']  # the primary comes first
    given = ['amqp://x//']
    Connection('amqp://a//', alternates=given)
    assert given == ['amqp://x//']  # the caller's list is not modified


# -- masking -------------------------------------------------------------------------

def test_password_masked_in_as_uri_repr_info():
    conn = Connection(f'amqp://user:{SECRET}@host:5672/vh')
    assert conn.as_uri() == 'amqp://user:**@host:5672/vh'
    assert conn.as_uri(mask='XX') == 'amqp://user:XX@host:5672/vh'
    assert conn.as_uri(include_password=True) == f'amqp://user:{SECRET}@host:5672/vh'
    assert SECRET not in repr(conn)
    info = conn.info(mask='**')
    assert info['password'] == '**'
    assert SECRET not in repr(info)
    assert conn.password == SECRET


def test_info_round_trips_like_kombu():
    conn = Connection(f'amqp://user:{SECRET}@host:5672/vh')
    info = conn.info()
    assert info['password'] == SECRET  # Kombu's info() is for reconnecting, not logging
    again = Connection(**info)
    assert again.as_uri(include_password=True) == conn.as_uri(include_password=True)


def test_password_masked_in_alternates_info():
    conn = Connection(f'redis://:{SECRET}@a/0;redis://:{SECRET}@b/0')
    assert SECRET not in repr(conn.info(mask='**'))
    assert conn.info(mask='**')['alternates'] == ['redis://:**@a/0', 'redis://:**@b/0']
    assert conn.alt[1] == f'redis://:{SECRET}@b/0'


def test_no_mask_without_password():
    assert Connection('redis://localhost:6379/0').as_uri() == 'redis://localhost:6379/0'


def test_ipv6_as_uri():
    conn = Connection('amqp://u:p@[::1]:5672//')
    assert conn.as_uri() == 'amqp://u:**@[::1]:5672//'
    assert Connection(conn.as_uri(include_password=True)).hostname == '::1'


def test_password_not_in_log_messages(caplog):
    port = free_port()
    conn = Connection(f'amqp://user:{SECRET}@127.0.0.1:{port}//;'
                      f'amqp://user:{SECRET}@127.0.0.1:{free_port()}//')
    with caplog.at_level(logging.DEBUG, logger='kombu'):
        with pytest.raises(OperationalError):
            conn.ensure_connection(max_retries=2, interval_start=0, interval_step=0,
                                   timeout=5)
    assert 'Cannot connect' in caplog.text
    assert SECRET not in caplog.text


# -- copies ------------------------------------------------------------------------------

def test_clone_keeps_settings_and_password():
    conn = Connection(f'amqp://u:{SECRET}@h:1234/v', heartbeat=5,
                      transport_options={'x': 1}, failover_strategy='shuffle')
    clone = conn.clone()
    assert clone is not conn
    for attr in ('hostname', 'userid', 'password', 'virtual_host', 'port', 'heartbeat',
                 'transport_options', 'transport_cls', '_failover_strategy'):
        assert getattr(clone, attr) == getattr(conn, attr), attr
    assert conn.clone(hostname='other').hostname == 'other'
    assert copy.copy(conn).password == SECRET
    assert conn.__eqhash__() == clone.__eqhash__()
    assert conn.__eqhash__() != Connection('amqp://u:x@h:1234/v').__eqhash__()


def test_pickle_roundtrip():
    conn = Connection(f'redis://:{SECRET}@h:6380/2', transport_options={'visibility_timeout': 9})
    again = pickle.loads(pickle.dumps(conn))
    assert (again.hostname, again.port, again.password, again.virtual_host,
            again.transport_options) == ('h', 6380, SECRET, '2', {'visibility_timeout': 9})


def test_module_names():
    assert BrokerConnection is Connection
    assert resolve_aliases['pyamqp'] == 'amqp'
    assert failover_strategies['round-robin'] is roundrobin_failover
    assert 'shuffle' in failover_strategies
    conn = Connection('memory://')
    assert is_connection(conn) and not is_connection(object())
    chan = object()
    assert maybe_channel(chan) is chan


# -- a scripted transport for error paths ------------------------------------------

class Down(ConnectionError):
    pass


class ScriptedTransport(base.Transport):
    """Refuses hosts listed in ``down``; records every attempt."""

    connection_errors = (Down,)
    channel_errors = ()
    attempts: list = []
    down: set = set()
    default_port = 1

    def establish_connection(self):
        host = self.client.hostname
        type(self).attempts.append((host, self.client.connect_timeout))
        if host in type(self).down:
            raise Down(f'{host} is down')
        return {'host': host, 'open': True}

    def close_connection(self, connection):
        connection['open'] = False

    def verify_connection(self, connection):
        return connection['open']

    def create_channel(self, connection):
        return ScriptedChannel()


class ScriptedChannel:
    closed = False

    def close(self):
        self.closed = True


@pytest.fixture
def scripted():
    ScriptedTransport.attempts = []
    ScriptedTransport.down = set()
    return ScriptedTransport


def test_failover_round_robin_order(scripted):
    scripted.down = {'a', 'b', 'c'}
    conn = Connection('scripted://a;scripted://b;scripted://c', transport=scripted)
    seen = []
    with pytest.raises(OperationalError):
        conn.ensure_connection(errback=lambda exc, interval: seen.append(
            (conn.hostname, interval)), max_retries=5, interval_start=0.01,
            interval_step=0, interval_max=0.01)
    assert [host for host, _ in scripted.attempts] == ['a', 'b', 'c', 'a', 'b', 'c']
    # no wait between alternates, a wait after each full round
    assert [interval for _, interval in seen] == [0, 0, 0.01, 0, 0]


def test_failover_from_dead_first_to_live_second(scripted):
    scripted.down = {'dead'}
    conn = Connection('scripted://dead;scripted://live', transport=scripted)
    conn.ensure_connection(max_retries=1, interval_start=0)
    assert conn.connected
    assert conn.hostname == 'live'
    assert conn.default_channel is not None


def test_failover_shuffle_and_callable_strategy(scripted):
    scripted.down = {'a', 'b', 'c'}
    conn = Connection('scripted://a;scripted://b;scripted://c', transport=scripted,
                      failover_strategy='shuffle')
    with pytest.raises(OperationalError):
        conn.ensure_connection(max_retries=29, interval_start=0, interval_step=0)
    assert {host for host, _ in scripted.attempts} == {'a', 'b', 'c'}

    def backwards(urls):
        while True:
            yield from reversed(urls)

    scripted.attempts = []
    conn = Connection('scripted://a;scripted://b;scripted://c', transport=scripted,
                      failover_strategy=backwards)
    with pytest.raises(OperationalError):
        conn.ensure_connection(max_retries=3, interval_start=0, interval_step=0)
    # the strategy's first entry is skipped (it stands for the current host)
    assert [host for host, _ in scripted.attempts] == ['a', 'b', 'a', 'c']


def test_ensure_connection_reraise_raw_when_asked(scripted):
    scripted.down = {'a'}
    conn = Connection('scripted://a', transport=scripted)
    with pytest.raises(Down):
        conn.ensure_connection(max_retries=0, reraise_as_library_errors=False)
    with pytest.raises(OperationalError) as excinfo:
        conn.ensure_connection(max_retries=0)
    assert isinstance(excinfo.value.__cause__, Down)


def test_ensure_connection_max_retries_counts_retries(scripted):
    scripted.down = {'a'}
    conn = Connection('scripted://a', transport=scripted)
    with pytest.raises(OperationalError):
        conn.ensure_connection(max_retries=3, interval_start=0, interval_step=0)
    assert len(scripted.attempts) == 4  # the first attempt and three retries


def test_ensure_connection_timeout_is_a_total_deadline(scripted):
    scripted.down = {'a'}
    conn = Connection('scripted://a', transport=scripted, connect_timeout=30)
    ticks = []
    started = time.monotonic()
    with pytest.raises(OperationalError):
        conn.ensure_connection(interval_start=0.2, interval_step=0.2, interval_max=5,
                               timeout=0.6, callback=lambda: ticks.append(1))
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 1.2
    # each attempt was given at most the time left, not the 30 s connect_timeout
    assert all(timeout <= 0.6 for _, timeout in scripted.attempts)
    assert conn.connect_timeout == 30
    assert ticks


def test_connect_and_connected_and_close_idempotent(scripted):
    conn = Connection('scripted://a', transport=scripted)
    assert not conn.connected
    assert conn.connect() is conn.connection
    assert conn.connected
    chan = conn.default_channel
    assert conn.default_channel is chan
    conn.close()
    assert chan.closed
    assert not conn.connected
    assert conn.connection is None
    conn.close()
    conn.release()
    # default_channel reconnects a closed connection
    assert conn.default_channel is not chan
    assert conn.connected
    conn.close()


def test_context_manager_closes(scripted):
    with Connection('scripted://a', transport=scripted) as conn:
        conn.connect()
        raw = conn._connection
    assert raw['open'] is False
    assert not conn.connected


def test_ensure_retries_after_reconnect(scripted):
    conn = Connection('scripted://a', transport=scripted)
    conn.connect()
    calls = []
    revived = []

    class Obj:
        def revive(self, channel):
            revived.append(channel)

    def op(x):
        calls.append(x)
        if len(calls) < 3:
            raise Down('connection lost')
        return x * 2

    errors = []
    ensured = conn.ensure(Obj(), op, errback=lambda exc, i: errors.append(exc),
                          max_retries=5, interval_start=0)
    assert ensured(21) == 42
    assert calls == [21, 21, 21]
    assert len(revived) == 2 and len(errors) == 2
    assert ensured.__name__ == 'op(ensured)'


def test_ensure_gives_up_with_operational_error(scripted):
    conn = Connection('scripted://a', transport=scripted)

    class Obj:
        def revive(self, channel):
            scripted.down.add('a')  # the broker goes away for good

    def op():
        raise Down('connection lost')

    ensured = conn.ensure(Obj(), op, max_retries=2, interval_start=0, interval_step=0)
    with pytest.raises(OperationalError):
        ensured()


def test_ensure_total_timeout_with_unlimited_retries(scripted):
    scripted.down = {'a'}
    conn = Connection('scripted://a', transport=scripted)

    def op():
        raise Down('connection lost')

    ensured = conn.ensure(conn, op, interval_start=0.1, interval_step=0.1,
                          interval_max=0.2, timeout=0.4)
    started = time.monotonic()
    with pytest.raises(OperationalError):
        ensured()
    assert time.monotonic() - started < 1.2


def test_ensure_retry_errors_need_max_retries(scripted):
    conn = Connection('scripted://a', transport=scripted)
    with pytest.raises(ValueError):
        conn.ensure(conn, lambda: None, retry_errors=(KeyError,))
    calls = []

    def op():
        calls.append(1)
        raise KeyError('transient')

    with pytest.raises(KeyError):
        conn.ensure(conn, op, retry_errors=(KeyError,), max_retries=2)()
    assert len(calls) == 3


def test_autoretry_passes_channel(scripted):
    conn = Connection('scripted://a', transport=scripted)
    used = []

    def op(x, channel=None):
        used.append(channel)
        if len(used) == 1:
            raise Down('lost')
        return x

    ret, channel = conn.autoretry(op, max_retries=2, interval_start=0)(7)
    assert ret == 7
    assert channel is used[-1] is conn.default_channel


def test_revive_drops_old_default_channel(scripted):
    conn = Connection('scripted://a', transport=scripted)
    old = conn.default_channel
    conn.revive(object())
    assert old.closed
    assert conn.default_channel is not old


# -- real sockets: dead port, silent server -----------------------------------------------

def test_ensure_connection_dead_port_is_bounded():
    conn = Connection(f'amqp://guest:guest@127.0.0.1:{free_port()}//')
    started = time.monotonic()
    with pytest.raises(OperationalError):
        conn.ensure_connection(interval_start=0.1, interval_step=0.1, timeout=0.5)
    assert time.monotonic() - started < 1.5


def test_ensure_connection_silent_server_is_bounded(silent_server):
    conn = Connection(f'amqp://guest:guest@127.0.0.1:{silent_server}//', connect_timeout=30)
    started = time.monotonic()
    with pytest.raises(OperationalError):
        conn.ensure_connection(interval_start=0.1, timeout=0.7)
    elapsed = time.monotonic() - started
    assert elapsed < 2, elapsed


# -- memory transport ----------------------------------------------------------------------

def test_memory_publish_consume_roundtrip(uname):
    name = uname('conn')
    queue = Queue(name, Exchange(name), name)
    with Connection('memory://') as conn:
        with conn.Producer() as producer:
            for i in range(5):
                producer.publish({'n': i}, exchange=queue.exchange, routing_key=name,
                                 declare=[queue])
        got = []
        with conn.Consumer(queue, callbacks=[lambda body, m: (got.append(body), m.ack())]):
            while len(got) < 5:
                conn.drain_events(timeout=1)
        assert [body['n'] for body in got] == list(range(5))


def test_memory_drain_events_timeout(uname):
    name = uname('idle')
    with Connection('memory://') as conn:
        with conn.Consumer(Queue(name, Exchange(name), name), callbacks=[]):
            started = time.monotonic()
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.2)
            assert 0.15 <= time.monotonic() - started < 2


def test_memory_capabilities_and_properties():
    conn = Connection('memory://')
    assert conn.supports_exchange_type('direct')
    assert conn.supports_exchange_type('topic')
    assert conn.is_evented in (True, False)
    assert conn.supports_heartbeats in (True, False)
    assert conn.qos_semantics_matches_spec in (True, False)
    assert conn.connection_errors and isinstance(conn.channel_errors, tuple)
    assert conn.recoverable_connection_errors
    assert isinstance(conn.recoverable_channel_errors, tuple)
    assert conn.host.startswith('None:') or ':' in conn.host
    assert conn.get_heartbeat_interval() == 0
    conn.heartbeat_check()
    conn.close()


def test_memory_channel_pool_and_connection_pool():
    conn = Connection('memory://')
    pool = conn.Pool(limit=2)
    assert isinstance(pool, ConnectionPool)
    c1 = pool.acquire()
    c2 = pool.acquire()
    assert isinstance(c1, PooledConnection)
    with pytest.raises(ConnectionLimitExceeded):
        pool.acquire()
    c1.release()
    with pool.acquire_channel() as (c3, channel):
        assert c3 is c1
        assert channel is c3.default_channel
    c2.release()

    chan_pool = conn.ChannelPool(limit=1)
    assert isinstance(chan_pool, ChannelPool)
    ch = chan_pool.acquire()
    with pytest.raises(ChannelLimitExceeded):
        chan_pool.acquire()
    ch.release()
    assert chan_pool.acquire() is ch
    conn.close()


def test_pooled_connection_replaced_after_error():
    pool = Connection('memory://').Pool(limit=1)
    with pytest.raises(RuntimeError):
        with pool.acquire() as conn:
            conn.connect()
            raise RuntimeError('broken')
    assert not conn.connected
    fresh = pool.acquire()
    assert fresh is not conn
    fresh.release()
    with pool.acquire() as again:
        pass
    assert again is fresh
    assert pool.acquire() is fresh


def test_default_channel_retries_as_transport_options_say(scripted):
    scripted.down = {'a'}
    conn = Connection('scripted://a', transport=scripted,
                      transport_options={'max_retries': 2, 'interval_start': 0,
                                         'interval_step': 0})
    with pytest.raises(OperationalError):
        conn.default_channel
    assert len(scripted.attempts) == 3

    scripted.attempts = []
    conn = Connection('scripted://a', transport=scripted, connect_timeout=30,
                      transport_options={'interval_start': 0.1, 'interval_step': 0,
                                         'connect_retries_timeout': 0.3})
    started = time.monotonic()
    with pytest.raises(OperationalError):
        conn.default_channel
    assert time.monotonic() - started < 1.5


def test_drain_events_across_channels(uname):
    names = [uname('a'), uname('b')]
    queues = [Queue(n, Exchange(n), n) for n in names]
    got = []
    with Connection('memory://') as conn:
        consumers = [conn.channel().Consumer(q, callbacks=[
            lambda body, m: (got.append(body), m.ack())]) for q in queues]
        for consumer in consumers:
            consumer.consume()
        producer = conn.Producer()
        for q in queues:
            producer.publish(q.name, exchange=q.exchange, routing_key=q.routing_key,
                             declare=[q])
        while len(got) < 2:
            conn.drain_events(timeout=1)
        assert sorted(got) == sorted(names)
        with pytest.raises(socket.timeout):
            conn.drain_events(timeout=0.05)
        for consumer in consumers:
            consumer.cancel()


def test_simple_queue_factories(uname):
    name = uname('simple')
    with Connection('memory://') as conn:
        q = conn.SimpleQueue(name)
        q.put({'hello': 1})
        msg = q.get(timeout=1)
        assert msg.payload == {'hello': 1}
        msg.ack()
        q.close()
        buf = conn.SimpleBuffer(uname('buf'))
        buf.put('x')
        assert buf.get(timeout=1).payload == 'x'
        buf.close()


def test_manager_and_transport_helpers():
    conn = Connection('memory://')
    assert conn.manager is conn.manager
    assert conn.get_manager() is not None
    transport_cls = conn.get_transport_cls()
    assert isinstance(conn.create_transport(), transport_cls)
    assert conn.transport.client is conn
    conn.close()
    assert conn._transport is None  # the transport is dropped on close


@pytest.mark.parametrize('policy, bound', [
    ({'max_retries': 2, 'interval_start': 0.1, 'interval_step': 0.1}, 2.0),
    ({'max_retries': None, 'interval_start': 0.1, 'timeout': 0.5}, 2.0),
])
def test_publish_retry_to_dead_broker_follows_the_retry_policy(policy, bound, uname):
    # connect_timeout and the transport options would allow far longer: the
    # caller's retry policy is what must govern (Kombu #902, #1024)
    conn = Connection(f'amqp://guest:guest@127.0.0.1:{free_port()}//', connect_timeout=30,
                      transport_options={'max_retries': None})
    producer = conn.Producer()
    errors = []
    started = time.monotonic()
    with pytest.raises(OperationalError):
        producer.publish({'x': 1}, routing_key=uname('dead'), retry=True,
                         retry_policy=dict(policy, errback=lambda exc, i: errors.append(exc)))
    assert time.monotonic() - started < bound
    assert errors


def test_register_with_event_loop_and_collect(scripted):
    calls = []

    class Loop:
        pass

    class Evented(scripted):
        def register_with_event_loop(self, connection, loop):
            calls.append((connection, loop))

    conn = Connection('scripted://a', transport=Evented)
    loop = Loop()
    conn.register_with_event_loop(loop)
    assert calls == [(conn._connection, loop)]
    raw = conn._connection
    conn.collect()
    assert conn._connection is None and conn._transport is None
    assert raw['open'] is False  # no _collect on this transport: closed instead


def test_channel_after_close_reconnects(scripted):
    conn = Connection('scripted://a', transport=scripted)
    conn.connect()
    conn.close()
    assert conn.channel() is not None
    assert conn.connected
    conn.close()


# -- same parameters as upstream Kombu -------------------------------------------------

UPSTREAM_URLS = [
    'amqp://user:pass@host:5673/vhost', 'amqp://', 'amqps://u:p@h//', 'pyamqp://u:p@h:1//',
    'amqp://u:p@h//?heartbeat=10', 'redis://:pw@redishost:6380/3', 'redis://u:p%40x@h/2',
    'rediss://:pw@h:6380/1?ssl_cert_reqs=required', 'redis+socket:///tmp/redis.sock',
    'sentinel://:pw@s1:26379;sentinel://:pw@s2:26379', 'memory://', 'amqp://a;amqp://b',
]
FIELDS = ('transport_cls', 'hostname', 'port', 'userid', 'password', 'virtual_host',
          'uri_prefix', 'heartbeat', 'alt')


def describe(conn):
    values = [getattr(conn, field) for field in FIELDS]
    ssl_opts = conn.ssl
    values.append(sorted((k, int(v)) for k, v in ssl_opts.items())
                  if isinstance(ssl_opts, dict) else ssl_opts)
    return repr(values)


@pytest.mark.integration
def test_connection_parameters_match_upstream():
    from t.upstream import run_upstream
    script = f'''
        from kombu import Connection
        FIELDS = {FIELDS!r}
        def describe(conn):
            values = [getattr(conn, field) for field in FIELDS]
            ssl_opts = conn.ssl
            values.append(sorted((k, int(v)) for k, v in ssl_opts.items())
                          if isinstance(ssl_opts, dict) else ssl_opts)
            return repr(values)
        for url in {UPSTREAM_URLS!r}:
            print(describe(Connection(url)))
    '''
    theirs = run_upstream(script).splitlines()
    ours = [describe(Connection(url)) for url in UPSTREAM_URLS]
    assert ours == theirs


# -- refused credentials are not transient -----------------------------------------

class RefusingTransport(ScriptedTransport):
    """Refuses the login on hosts in ``refused``; AccessRefused is also one of
    its connection errors, as on the virtual transports."""

    connection_errors = (Down, exceptions.ConnectionError)
    refused: set = set()

    def establish_connection(self):
        host = self.client.hostname
        type(self).attempts.append((host, self.client.connect_timeout))
        if host in type(self).refused:
            raise exceptions.AccessRefused(f'{host}: wrong password')
        return super().establish_connection()


@pytest.fixture
def refusing():
    RefusingTransport.attempts = []
    RefusingTransport.down = set()
    RefusingTransport.refused = {'a'}
    return RefusingTransport


@pytest.mark.parametrize('how', ['ensure_connection', 'connect', 'default_channel',
                                 'ensure', 'autoretry', 'transport_options'])
def test_access_refused_is_raised_at_once(refusing, how):
    options = {'max_retries': 5, 'interval_start': 1} if how == 'transport_options' else {}
    conn = Connection('scripted://a', transport=refusing, transport_options=options)
    errbacks = []
    started = time.monotonic()
    with pytest.raises(exceptions.AccessRefused) as info:
        if how == 'ensure_connection':
            conn.ensure_connection(errback=lambda *a: errbacks.append(a), max_retries=5,
                                   interval_start=1)
        elif how == 'connect':
            conn.connect()
        elif how in ('default_channel', 'transport_options'):
            conn.default_channel
        elif how == 'ensure':
            conn.ensure(conn, lambda: conn.default_channel, max_retries=5,
                        errback=lambda *a: errbacks.append(a), interval_start=1)()
        else:
            conn.autoretry(lambda channel=None: channel, max_retries=5, interval_start=1)()
    assert time.monotonic() - started < 0.5
    assert len(refusing.attempts) == 1 and errbacks == []
    exc = info.value
    assert isinstance(exc, conn.connection_errors)
    assert isinstance(exc, exceptions.OperationalError)  # and a library error


def test_access_refused_during_an_operation_is_not_retried(refusing):
    refusing.refused = set()
    conn = Connection('scripted://a', transport=refusing)
    calls = []

    def op():
        calls.append(1)
        raise exceptions.AccessRefused('permission revoked')

    with pytest.raises(exceptions.AccessRefused):
        conn.ensure(conn, op, max_retries=5, interval_start=1,
                    retry_errors=(exceptions.ConnectionError,))()
    assert calls == [1]
