"""mongodb://: URL and option handling, error translation, the broadcast cursor
(no server: pymongo's client is replaced where a call would reach one)."""
from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from kombu import Connection
from kombu.exceptions import AccessRefused, ConnectionError, LimitExceeded, VersionMismatch

pymongo = pytest.importorskip('pymongo')

from pymongo.errors import (  # noqa: E402
    AutoReconnect,
    DocumentTooLarge,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from kombu.transport import mongodb  # noqa: E402
from kombu.transport.mongodb import BroadcastCursor, Transport  # noqa: E402
from kombu.transport.virtual.state import QueuePolicy  # noqa: E402


def transport(url: str, **kwargs: Any) -> Transport:
    return Connection(url, **kwargs).transport


# -- URLs and options --------------------------------------------------------------

def test_url_database_replica_set_and_auth_go_to_pymongo():
    url = 'mongodb://u:p%40ss@h1:1,h2:2/jobs?replicaSet=rs0&authSource=admin'
    parsed_url, database, kwargs = transport(url).parse_uri()
    assert parsed_url == url and database == 'jobs'
    assert kwargs == {'connectTimeoutMS': 5000, 'serverSelectionTimeoutMS': 5000,
                      'retryWrites': False}


def test_default_database_and_vhost():
    assert transport('mongodb://h/').parse_uri()[1] == 'kombu_default'
    assert transport('mongodb://h/', transport_options={
        'default_database': 'other'}).parse_uri()[1] == 'other'


def test_timeouts_from_options_unless_the_url_sets_them():
    _, _, kwargs = transport('mongodb://h/db?connectTimeoutMS=100',
                             transport_options={'connect_timeout': 2}).parse_uri()
    assert kwargs == {'serverSelectionTimeoutMS': 2000, 'retryWrites': False}


def test_ssl_true_or_a_dict_of_tls_options():
    assert transport('mongodb://h/', transport_options={'ssl': True}).parse_uri()[2]['tls']
    _, _, kwargs = transport('mongodb://h/', ssl={'tlsCAFile': '/ca.pem'}).parse_uri()
    assert kwargs['tls'] is True and kwargs['tlsCAFile'] == '/ca.pem'


def test_invalid_url_is_a_value_error():
    with pytest.raises(ValueError, match='invalid URL'):
        transport('mongodb://h:notaport/').parse_uri()


def test_as_uri_masks_the_password():
    conn = Connection('mongodb://u:secret@h1:1,h2:2/db?replicaSet=rs0')
    assert conn.as_uri() == 'mongodb://u:**@h1:1,h2:2/db?replicaSet=rs0'
    assert 'secret' in conn.as_uri(include_password=True)


def test_options_are_typed_and_unknown_keys_warn():
    t = transport('mongodb://h/', transport_options={'capped_queue_size': '5000',
                                                      'ttl': 'yes'})
    assert t.options.capped_queue_size == 5000 and t.options.ttl is True
    with pytest.warns(UserWarning, match='capped_size'):
        transport('mongodb://h/', transport_options={'capped_size': 1})


# -- errors ------------------------------------------------------------------------

class FakeClient:
    def __init__(self, error: BaseException | None = None, version: str = '8.0.0') -> None:
        self.error, self.version, self.closed = error, version, False
        self.admin = mock.Mock()
        self.admin.command.side_effect = error

    def __call__(self, *args: Any, **kwargs: Any) -> FakeClient:
        return self

    def server_info(self) -> dict[str, str]:
        return {'version': self.version}

    def close(self) -> None:
        self.closed = True

    def __getitem__(self, name: str) -> Any:
        return mock.MagicMock(name=name)


@pytest.mark.parametrize('error, kind', [
    (ServerSelectionTimeoutError('no servers'), ConnectionError),
    (OperationFailure('Authentication failed.', code=18), AccessRefused),
])
def test_connect_errors_are_translated_and_the_client_closed(monkeypatch, error, kind):
    client = FakeClient(error)
    monkeypatch.setattr(mongodb, 'MongoClient', client)
    conn = Connection('mongodb://u:p@127.0.0.1:1/db')
    with pytest.raises(kind) as info:
        conn.connect()
    assert info.value.__cause__ is error
    assert client.closed
    assert isinstance(error, conn.connection_errors) or kind is AccessRefused


def test_old_server_is_refused(monkeypatch):
    client = FakeClient(version='3.4.1')
    monkeypatch.setattr(mongodb, 'MongoClient', client)
    with pytest.raises(VersionMismatch, match='3.4.1'):
        Connection('mongodb://127.0.0.1:1/db').connect()
    assert client.closed


@pytest.fixture
def channel(monkeypatch):
    monkeypatch.setattr(mongodb, 'MongoClient', FakeClient())
    conn = Connection('mongodb://127.0.0.1:1/db')
    chan = conn.channel()
    yield chan
    conn.release()


@pytest.mark.parametrize('error, kind', [
    (AutoReconnect('connection reset'), ConnectionError),
    (DocumentTooLarge('too big'), LimitExceeded),
    (OperationFailure('not authorized on db', code=13), AccessRefused),
])
def test_publish_errors_are_translated(channel, error, kind):
    channel.messages.insert_one.side_effect = error
    with pytest.raises(kind):
        channel._put('q', {'body': 'x', 'properties': {}})


def head(channel: Any, *docs: dict[str, Any]) -> None:
    channel.messages.find.return_value.sort.return_value.limit.return_value = list(docs)


def test_lost_connection_while_claiming_is_a_connection_error(channel):
    head(channel, {'_id': 1, 'payload': '{}'})
    channel.messages.update_one.side_effect = AutoReconnect('gone')
    with pytest.raises(ConnectionError, match="consume 'q'"):
        channel._get('q')


def test_message_taken_by_another_consumer_is_skipped(channel):
    head(channel, {'_id': 1, 'payload': '{"body": "theirs", "properties": {}}'},
         {'_id': 2, 'payload': '{"body": "ours", "properties": {}}'})
    channel.messages.update_one.side_effect = [mock.Mock(modified_count=0),
                                               mock.Mock(modified_count=1)]
    assert channel._get('q')['body'] == 'ours'
    claim = channel.messages.update_one.call_args[0]
    assert claim[0] == {'_id': 2, 'queue': 'q'}
    assert claim[1]['$set']['queue'] == mongodb.CLAIMED
    channel.messages.delete_one.assert_called_once_with({'_id': 2})


def test_message_read_is_delivered_when_the_delete_reply_is_lost(channel):
    head(channel, {'_id': 1, 'payload': '{"body": "kept", "properties": {}}'})
    channel.messages.update_one.return_value.modified_count = 1
    channel.messages.delete_one.side_effect = AutoReconnect('gone')
    assert channel._get('q')['body'] == 'kept'


def test_claims_of_this_process_and_stale_ones_are_put_back(channel):
    messages = channel.connection._database['messages']
    channel.connection._database = mock.MagicMock()
    channel.connection._database.__getitem__.return_value = messages
    messages.find.return_value = [{'_id': 7, 'claimed_from': 'q'}]
    messages.update_one.return_value.modified_count = 1
    assert channel.connection.recover_claims() == 1
    query = messages.find.call_args[0][0]
    assert query['queue'] == mongodb.CLAIMED
    assert {'claimed_by': mongodb.CLAIM_TOKEN} in query['$or']
    update = messages.update_one.call_args[0]
    assert update[0] == {'_id': 7, 'queue': mongodb.CLAIMED}
    assert update[1]['$set'] == {'queue': 'q'}


def test_priority_and_expiry_fields_of_a_message_document(channel, monkeypatch):
    monkeypatch.setattr(channel, 'ttl', True)
    monkeypatch.setattr(channel, '_queue_policy', lambda q: QueuePolicy.from_arguments(
        {'x-max-priority': 10}))
    doc = channel._document('q', {'body': 'x', 'properties': {
        'priority': 7, 'x-expires-at': 2_000_000_000.0}})
    assert doc['priority'] == 255 - 7
    assert doc['expire_at'].year == 2033 and doc['expire_at'].tzinfo is None


# -- the broadcast cursor ------------------------------------------------------------

class FakeCursor:
    def __init__(self, docs: list[dict[str, Any]], collection: Any, alive: bool = True):
        self.docs, self.collection, self.alive = list(docs), collection, alive

    def __next__(self) -> dict[str, Any]:
        if not self.docs:
            raise StopIteration
        return self.docs.pop(0)

    def close(self) -> None:
        self.alive = False


def test_broadcast_cursor_skips_old_documents_and_reopens_after_the_last_seen():
    collection = mock.Mock()
    cursor = FakeCursor([{'_id': 1}, {'_id': 2}], collection)
    broadcast = BroadcastCursor(cursor, {'queue': 'ex'})
    assert broadcast.next() is None            # what was there before is skipped
    cursor.docs.append({'_id': 3})
    assert broadcast.next() == {'_id': 3}
    cursor.alive = False                       # the server closed it
    collection.find.return_value = FakeCursor([{'_id': 4}], collection)
    assert broadcast.next() == {'_id': 4}
    spec = collection.find.call_args[0][0]
    assert spec == {'queue': 'ex', '_id': {'$gt': 3}}
    assert broadcast.get_size() == 0


def test_broadcast_cursor_reopens_when_the_capped_collection_wrapped():
    collection = mock.Mock()

    class Lost(FakeCursor):
        def __next__(self) -> dict[str, Any]:
            raise OperationFailure('CappedPositionLost', code=136)

    broadcast = BroadcastCursor(FakeCursor([{'_id': 1}], collection), {'queue': 'ex'})
    broadcast._cursor = Lost([], collection)
    collection.find.return_value = FakeCursor([{'_id': 9}], collection)
    assert broadcast.next() is None          # reopened after the last document seen
    assert broadcast.next() == {'_id': 9}
    assert collection.find.call_args[0][0] == {'queue': 'ex', '_id': {'$gt': 1}}
