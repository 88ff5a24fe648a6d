"""azurestoragequeues://: URI parsing and masking, queue names (no server needed)."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from kombu import Connection
from kombu.exceptions import (
    AccessRefused,
    ChannelError,
    ConnectionError,
    DecodeError,
    LimitExceeded,
)
from kombu.transport import azurestoragequeues as azq
from kombu.transport.azurestoragequeues import Transport
from kombu.utils.json import loads

ACCOUNT = 'https://acct.queue.core.windows.net'


def test_parse_uri_key_and_url():
    assert Transport.parse_uri(f'azurestoragequeues://s3cr3t@{ACCOUNT}') == ('s3cr3t', ACCOUNT)
    assert Transport.parse_uri(f's3cr3t@{ACCOUNT}') == ('s3cr3t', ACCOUNT)   # as Celery passes it


def test_parse_uri_sas_token_may_hold_slashes_and_at_signs():
    token = 'sv=2022&sig=a/b+c@d=='
    assert Transport.parse_uri(f'azurestoragequeues://{token}@{ACCOUNT}') == (token, ACCOUNT)


def test_parse_uri_azurite_key_belongs_to_the_dev_account():
    url = 'http://127.0.0.1:10001/devstoreaccount1'
    credential, parsed = Transport.parse_uri(f'azurestoragequeues://KEY@{url}')
    assert parsed == url
    assert credential == {'account_name': 'devstoreaccount1', 'account_key': 'KEY'}


@pytest.mark.parametrize('name', ['DefaultAzureCredential', 'managedidentitycredential'])
def test_parse_uri_named_credentials(name):
    pytest.importorskip('azure.identity')
    credential, url = Transport.parse_uri(f'azurestoragequeues://{name}@{ACCOUNT}')
    assert url == ACCOUNT
    assert type(credential).__name__.lower() == name.lower()


@pytest.mark.parametrize('uri', ['azurestoragequeues://', 'azurestoragequeues://key',
                                 'azurestoragequeues://@url', 'azurestoragequeues://key@'])
def test_parse_uri_rejects_incomplete(uri):
    with pytest.raises(ValueError, match='Need a URI like'):
        Transport.parse_uri(uri)


def test_as_uri_masks_the_credential():
    uri = f'azurestoragequeues://s3cr3t@{ACCOUNT}'
    assert Transport.as_uri(uri) == f'azurestoragequeues://**@{ACCOUNT}'
    assert Transport.as_uri(uri, include_password=True) == uri
    conn = Connection(uri)
    assert conn.transport_cls == 'azurestoragequeues'
    assert conn.hostname == uri     # the transport parses the URL itself
    assert 's3cr3t' not in conn.as_uri() and 's3cr3t' not in repr(conn)


def test_entity_name_keeps_letters_digits_dashes():
    class FakeChannel:
        queue_name_prefix = 'pre_'
    name = azq.Channel.entity_name(FakeChannel(), 'Celery@host.celery.pidbox')
    assert name == 'pre-celery-host-celery-pidbox'
    assert azq.CHARS_REPLACE_TABLE[ord('.')] == ord('-')


# -- errors at the boundary (a fake queue service; the real one runs in the
#    conformance suite on Azurite) --------------------------------------------

core = pytest.importorskip('azure.core.exceptions')


def _http_error(status: int, cls: type = core.HttpResponseError) -> Exception:
    exc = cls(message=f'status {status}')
    exc.status_code = status
    return exc


class FakeQueueClient:
    def __init__(self, fail: dict[str, Exception], stored: list[str]) -> None:
        self.fail = fail
        self.stored = stored
        self.deleted: list[Any] = []

    def _maybe_fail(self, op: str) -> None:
        if op in self.fail:
            raise self.fail[op]

    def create_queue(self) -> None:
        self._maybe_fail('create')
        raise core.ResourceExistsError(message='exists')  # an existing queue is fine

    def send_message(self, text: str) -> None:
        self._maybe_fail('send')
        self.stored.append(text)

    def receive_messages(self, **kwargs: Any) -> Iterator[Any]:
        self._maybe_fail('receive')
        while self.stored:
            yield SimpleNamespace(content=self.stored.pop(0))

    def delete_message(self, message: Any) -> None:
        self.deleted.append(message)

    def get_queue_properties(self) -> Any:
        self._maybe_fail('properties')
        return SimpleNamespace(approximate_message_count=len(self.stored))

    def clear_messages(self) -> None:
        self.stored.clear()


class FakeService:
    def __init__(self) -> None:
        self.fail: dict[str, Exception] = {}
        self.stored: list[str] = []

    def get_queue_client(self, name: str) -> FakeQueueClient:
        return FakeQueueClient(self.fail, self.stored)

    def delete_queue(self, name: str) -> None:
        if 'delete' in self.fail:
            raise self.fail['delete']


@pytest.fixture
def service_channel():
    conn = Connection(f'azurestoragequeues://s3cr3t@{ACCOUNT}')
    channel = conn.channel()
    service = FakeService()
    channel.__dict__['queue_service'] = service
    yield service, channel
    conn.release()


@pytest.mark.parametrize('raised, kind, code', [
    (core.ServiceRequestError('connection refused'), ConnectionError, None),
    (core.ServiceResponseError('reset by peer'), ConnectionError, None),
    (_http_error(503), ConnectionError, None),
    (_http_error(429), ConnectionError, None),
    (core.ClientAuthenticationError(message='bad signature'), AccessRefused, None),
    (_http_error(403), AccessRefused, None),
    (_http_error(413), LimitExceeded, None),
    (_http_error(404, core.ResourceNotFoundError), ChannelError, 404),
    (_http_error(400), ChannelError, None),
])
def test_client_errors_become_kombu_kinds(service_channel, raised, kind, code):
    service, channel = service_channel
    service.fail['send'] = raised
    with pytest.raises(kind) as info:
        channel._put('q', {'body': 'x', 'properties': {'delivery_tag': 't'}})
    assert info.value.__cause__ is raised  # the library's detail is kept
    assert 'azurestoragequeues send' in str(info.value) and "'q'" in str(info.value)
    assert 's3cr3t' not in str(info.value)
    if code is not None:
        assert info.value.reply_code == code
    if kind is ConnectionError:  # what Connection.ensure catches and retries
        assert isinstance(info.value, azq.Transport.connection_errors)
    if kind is AccessRefused:  # a connection error, but not a recoverable one
        assert isinstance(info.value, azq.Transport.connection_errors)


@pytest.mark.parametrize('op, call', [
    ('create', lambda ch: ch._new_queue('fresh')),
    ('receive', lambda ch: ch._get('q')),
    ('properties', lambda ch: ch._size('q')),
    ('properties', lambda ch: ch._purge('q')),
    ('properties', lambda ch: ch._has_queue('q')),
    ('delete', lambda ch: ch._delete('q')),
])
def test_every_call_is_translated(service_channel, op, call):
    service, channel = service_channel
    service.fail[op] = core.ServiceRequestError('network down')
    with pytest.raises(ConnectionError) as info:
        call(channel)
    assert isinstance(info.value.__cause__, core.ServiceRequestError)


def test_missing_queue_on_has_and_delete_is_not_an_error(service_channel):
    service, channel = service_channel
    service.fail['properties'] = core.ResourceNotFoundError(message='no queue')
    service.fail['delete'] = core.ResourceNotFoundError(message='no queue')
    assert channel._has_queue('gone') is False
    channel._delete('gone')  # nothing raised


def test_error_tuples_hold_kombu_kinds_and_the_client_ones():
    connection_errors, channel_errors = (azq.Transport.connection_errors,
                                         azq.Transport.channel_errors)
    assert ConnectionError in connection_errors
    assert core.ServiceRequestError in connection_errors
    assert core.ClientAuthenticationError in connection_errors
    assert ChannelError in channel_errors and core.HttpResponseError in channel_errors
    assert Connection(f'azurestoragequeues://k@{ACCOUNT}').connection_errors == \
        connection_errors


def test_a_message_that_is_not_json_reaches_on_decode_error(service_channel):
    service, channel = service_channel
    service.stored[:] = ['{not json']
    message = channel.basic_get('q')
    assert message is not None and message.errors
    seen = []
    message._reraise_error(lambda m, exc: seen.append(exc))
    assert isinstance(seen[0], DecodeError)
    message.reject(requeue=True)  # back to the queue, as it was
    assert [loads(text) for text in service.stored] == ['{not json']
