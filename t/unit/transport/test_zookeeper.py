"""zookeeper://: URL parsing, error translation and the claim race, on a fake kazoo client."""
from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from kombu import Connection
from kombu.exceptions import AccessRefused, ConnectionError, LimitExceeded

zookeeper = pytest.importorskip('kombu.transport.zookeeper')
pytest.importorskip('kazoo')

from kazoo.exceptions import (  # noqa: E402
    ConnectionLoss,
    NoAuthError,
    NoNodeError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError  # noqa: E402

from kombu.transport.zookeeper import parse_hosts  # noqa: E402


class FakeZK:
    """The few kazoo calls the transport makes, over a dict of path -> data."""

    instances: list[FakeZK] = []

    def __init__(self, hosts: str = '', timeout: float = 10, auth_data: Any = None,
                 **kwargs: Any) -> None:
        self.hosts, self.timeout, self.auth_data = hosts, timeout, auth_data
        self.nodes: dict[str, bytes] = {}
        self.seq = 0
        self.started = self.stopped = self.closed = False
        self.connected = True
        self.fail: dict[str, BaseException] = {}
        FakeZK.instances.append(self)

    def _maybe_fail(self, op: str) -> None:
        if op in self.fail:
            raise self.fail[op]

    def start(self, timeout: float = 15) -> None:
        self._maybe_fail('start')
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def close(self) -> None:
        self.closed = True

    def add_listener(self, fn: Any) -> None:
        pass

    def ensure_path(self, path: str) -> None:
        self.nodes.setdefault(path, b'')

    def create(self, path: str, value: bytes = b'', sequence: bool = False,
               makepath: bool = False) -> str:
        self._maybe_fail('create')
        parent = path.rsplit('/', 1)[0]
        if parent and parent not in self.nodes:
            if not makepath:
                raise NoNodeError()
            while parent and parent not in self.nodes:
                self.nodes[parent] = b''
                parent = parent.rsplit('/', 1)[0]
        if sequence:
            path = f'{path}{self.seq:010d}'
            self.seq += 1
        self.nodes[path] = value
        return path

    def get(self, path: str, watch: Any = None) -> tuple[bytes, Any]:
        self._maybe_fail('get')
        if path not in self.nodes:
            raise NoNodeError()
        return self.nodes[path], mock.Mock(version=0)

    def set(self, path: str, value: bytes, version: int = -1) -> None:
        self.nodes[path] = value

    def exists(self, path: str, watch: Any = None) -> Any:
        if path not in self.nodes:
            return None
        return mock.Mock(numChildren=len(self.get_children(path)))

    def get_children(self, path: str, watch: Any = None) -> list[str]:
        self._maybe_fail('get_children')
        if path not in self.nodes:
            raise NoNodeError()
        prefix = path + '/'
        return [p[len(prefix):] for p in self.nodes
                if p.startswith(prefix) and '/' not in p[len(prefix):]]

    def delete(self, path: str, recursive: bool = False) -> None:
        self._maybe_fail('delete')
        if path not in self.nodes:
            raise NoNodeError()
        for p in [p for p in self.nodes if p == path or p.startswith(path + '/')]:
            del self.nodes[p]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeZK]:
    FakeZK.instances = []
    monkeypatch.setattr(zookeeper, 'KazooClient', FakeZK)
    return FakeZK


def channel(url: str = 'zookeeper://127.0.0.1:2181/vh', **options: Any) -> Any:
    conn = Connection(url, transport_options=options)
    return conn, conn.channel()


# -- URLs ----------------------------------------------------------------------

def test_parse_hosts_list_vhost_and_default_port():
    hosts, vhost, user, password = parse_hosts('zookeeper://a:1,b,[::1]:3/prod/x')
    assert hosts == [('a', 1), ('b', 2181), ('::1', 3)]
    assert vhost == '/prod/x' and user is None and password is None


def test_parse_hosts_merges_alternates_and_auth():
    hosts, vhost, user, password = parse_hosts(
        'zookeeper://u:p%40ss@a:1/v', ['zookeeper://a:1/v', 'zookeeper://c:3/v'])
    assert hosts == [('a', 1), ('c', 3)]
    assert (vhost, user, password) == ('/v', 'u', 'p@ss')


def test_parse_hosts_empty_is_localhost_and_bad_port_raises():
    assert parse_hosts('zookeeper://')[0] == [('localhost', 2181)]
    with pytest.raises(ValueError, match='invalid port'):
        parse_hosts('zookeeper://a:b')


def test_client_gets_every_host_auth_and_session_timeout(fake):
    conn, _ = channel('zookeeper://u:secret@a:1,b:2/vh;zookeeper://c:3/vh',
                      session_timeout='4.5')
    zk = fake.instances[-1]
    assert zk.hosts == 'a:1,b:2,c:3'
    assert zk.auth_data == [('digest', 'u:secret')]
    assert zk.timeout == 4.5
    assert conn.transport.root == '/vh'
    assert '/vh' in zk.nodes          # the chroot is created
    assert 'secret' not in conn.as_uri()
    conn.release()
    assert zk.stopped and zk.closed


def test_options_from_the_url_query_and_transport_options_win(fake):
    conn, _ = channel('zookeeper://a:1/vh?session_timeout=3&max_message_size=5000',
                      max_message_size=7000)
    assert conn.transport.options.session_timeout == 3.0
    assert conn.transport.options.max_message_size == 7000
    assert conn.transport.root == '/vh'
    conn.release()


def test_unknown_option_warns(fake):
    with pytest.warns(UserWarning, match='sesion_timeout'):
        conn, _ = channel(sesion_timeout=3)
    conn.release()


# -- errors --------------------------------------------------------------------

def test_connect_timeout_is_a_connection_error_and_stops_the_client(monkeypatch):
    class Failing(FakeZK):
        def start(self, timeout: float = 15) -> None:
            raise KazooTimeoutError('Connection time-out')

    monkeypatch.setattr(zookeeper, 'KazooClient', Failing)
    conn = Connection('zookeeper://127.0.0.1:1/')
    with pytest.raises(ConnectionError, match='connect'):
        conn.connect()
    assert FakeZK.instances[-1].stopped and FakeZK.instances[-1].closed
    assert issubclass(KazooTimeoutError, conn.connection_errors)


@pytest.mark.parametrize('exc', [ConnectionLoss(), SessionExpiredError()])
def test_lost_connection_on_publish_is_a_connection_error(fake, exc):
    conn, chan = channel()
    fake.instances[-1].fail['create'] = exc
    with pytest.raises(ConnectionError) as info:
        chan._put('q', {'body': 'x', 'properties': {}})
    assert info.value.__cause__ is exc
    conn.release()


def test_no_auth_is_access_refused(fake):
    conn, chan = channel()
    fake.instances[-1].fail['get_children'] = NoAuthError()
    with pytest.raises(AccessRefused):
        chan._get('q')
    conn.release()


def test_oversized_message_is_refused_and_not_sent(fake):
    conn, chan = channel(max_message_size=100)
    before = dict(fake.instances[-1].nodes)
    with pytest.raises(LimitExceeded, match='max_message_size'):
        chan._put('q', {'body': 'x' * 200, 'properties': {}})
    assert fake.instances[-1].nodes == before
    conn.release()


def test_claim_skips_a_message_another_consumer_took(fake):
    conn, chan = channel()
    chan._new_queue('q')
    for n in range(2):
        chan._put('q', {'body': n, 'properties': {}})
    zk = fake.instances[-1]
    first = sorted(zk.get_children('/vh/q'))[0]
    real_delete = zk.delete

    def racing_delete(path: str, recursive: bool = False) -> None:
        if path.endswith(first):   # another consumer deleted it between get and delete
            real_delete(path)
            raise NoNodeError()
        real_delete(path, recursive)

    zk.delete = racing_delete  # type: ignore[method-assign]
    assert chan._get('q')['body'] == 1
    assert zk.get_children('/vh/q') == []
    conn.release()


def test_restored_messages_go_before_queued_ones_in_order(fake):
    conn, chan = channel()
    chan._new_queue('q')
    chan._put('q', {'body': 'queued', 'properties': {}})
    chan._put_front('q', {'body': 'second', 'properties': {}})
    chan._put_front('q', {'body': 'first', 'properties': {}})  # restored last: head
    assert [chan._get('q')['body'] for _ in range(3)] == ['first', 'second', 'queued']
    conn.release()


def test_names_with_slashes_stay_one_znode(fake):
    conn, chan = channel()
    chan._put('a/b', {'body': 1, 'properties': {}})
    assert chan._size('a/b') == 1
    assert '/vh/a%2Fb' in fake.instances[-1].nodes
    assert chan._get('a/b')['body'] == 1
    conn.release()


def test_watch_during_read_does_not_keep_a_stale_value(fake):
    conn, _ = channel()
    transport = conn.transport
    zk = fake.instances[-1]
    zk.nodes['/vh/n'] = b'{"v": 1}'
    real_get = zk.get

    def get_then_change(path: str, watch: Any = None) -> Any:
        result = real_get(path, watch)
        zk.nodes[path] = b'{"v": 2}'
        watch(mock.Mock(path=path))       # the watch fires before the read returns
        return result

    zk.get = get_then_change  # type: ignore[method-assign]
    assert transport.read_json('/vh/n') == {'v': 1}
    zk.get = real_get  # type: ignore[method-assign]
    assert transport.read_json('/vh/n') == {'v': 2}
    conn.release()


def test_message_over_a_znode_goes_in_parts_and_they_are_removed(fake, monkeypatch):
    monkeypatch.setattr(zookeeper, 'CHUNK_SIZE', 50)
    conn, chan = channel()
    chan._put('q', {'body': 'z' * 180, 'properties': {}})
    zk = fake.instances[-1]
    (entry,) = zk.get_children('/vh/q')
    assert zk.nodes[f'/vh/q/{entry}'].startswith(b'\x00kombu-chunks:')
    (blob,) = zk.get_children('/vh/.kombu-blobs')
    assert len(zk.get_children(f'/vh/.kombu-blobs/{blob}')) == 5   # 200-odd bytes / 50
    assert chan._get('q')['body'] == 'z' * 180
    assert zk.get_children('/vh/.kombu-blobs') == []
    conn.release()


def test_entry_whose_parts_another_consumer_removed_is_skipped(fake, monkeypatch):
    monkeypatch.setattr(zookeeper, 'CHUNK_SIZE', 50)
    conn, chan = channel()
    chan._put('q', {'body': 'z' * 180, 'properties': {}})
    chan._put('q', {'body': 'next', 'properties': {}})
    zk = fake.instances[-1]
    (blob,) = zk.get_children('/vh/.kombu-blobs')
    zk.delete(f'/vh/.kombu-blobs/{blob}', recursive=True)  # the winner took it
    assert chan._get('q')['body'] == 'next'
    conn.release()


def test_in_a_forked_child_closing_only_forgets(fake):
    conn, chan = channel()
    chan._put('q', {'body': 'held', 'properties': {}})
    chan.basic_consume('q', False, lambda m: None, 'tag')
    message = chan.basic_get('q')             # unacked, held by the channel
    assert message is not None
    zk = fake.instances[-1]
    conn.transport._pid = -1                  # as seen from a forked child
    conn.collect()
    assert not zk.stopped                     # the parent's client is left alone
    assert zk.get_children('/vh/q') == []     # and its unacked message not restored
    assert conn.transport._zk is None
