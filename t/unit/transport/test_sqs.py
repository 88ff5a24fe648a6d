"""sqs://: options, names, error translation and refused messages (botocore's Stubber
stands in for SQS; the conformance suite runs the rest against moto_server)."""
from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kombu import Connection, Producer
from kombu.exceptions import AccessRefused, ChannelError, ConnectionError, LimitExceeded
from kombu.transport.virtual.options import TransportOptionError

boto3 = pytest.importorskip('boto3')
from botocore.exceptions import NoCredentialsError  # noqa: E402
from botocore.stub import Stubber  # noqa: E402

from kombu.transport.SQS import (  # noqa: E402
    InvalidMessageException,
    InvalidQueueException,
    SQSOptions,
    UndefinedQueueException,
    envelope,
)
from kombu.transport.SQS.client import ClientFactory, sts_refresher  # noqa: E402
from kombu.transport.SQS.errors import errors  # noqa: E402
from kombu.transport.SQS.naming import entity_name, priority_queue_name  # noqa: E402

URL = 'sqs://key:secret@127.0.0.1:1'   # nothing listens: every call goes to the stub
QUEUE_URL = 'http://127.0.0.1:1/123456789012/'


@pytest.fixture
def stubbed() -> Any:
    conn = Connection(URL, transport_options={'is_secure': False, 'region': 'us-east-1'})
    client = boto3.client('sqs', region_name='us-east-1', endpoint_url='http://127.0.0.1:1',
                          aws_access_key_id='k', aws_secret_access_key='s')
    stub = Stubber(client)
    stub.activate()
    conn.transport.clients.client = lambda *args, **kwargs: client
    yield conn, stub
    stub.deactivate()
    conn.release()


# -- options -------------------------------------------------------------------

def test_defaults_are_kombus() -> None:
    options = SQSOptions.from_transport_options({})
    assert options.visibility_timeout == 1800
    assert options.wait_time_seconds == 10
    assert options.queue_name_prefix == ''
    assert options.sqs_base64_encoding is True
    assert options.supports_fanout is False


@pytest.mark.parametrize('value', [1.5, '0.3', 'soon', -1, 43201])
def test_visibility_timeout_must_be_whole_seconds_in_range(value: Any) -> None:
    with pytest.raises(TransportOptionError, match='visibility_timeout'):
        SQSOptions.from_transport_options({'visibility_timeout': value})


def test_visibility_timeout_accepts_whole_floats_and_strings() -> None:
    assert SQSOptions.from_transport_options({'visibility_timeout': 60.0}).visibility_timeout == 60
    assert SQSOptions.from_transport_options({'visibility_timeout': '45'}).visibility_timeout == 45


def test_wait_time_seconds_range() -> None:
    with pytest.raises(TransportOptionError, match='wait_time_seconds'):
        SQSOptions.from_transport_options({'wait_time_seconds': 21})


def test_secrets_masked_in_repr_and_uri() -> None:
    options = SQSOptions.from_transport_options({'session_token': 'tok-SECRET'})
    assert 'tok-SECRET' not in repr(options)
    conn = Connection('sqs://AKIA:very-SECRET@127.0.0.1:1')
    assert 'very-SECRET' not in conn.as_uri() and 'very-SECRET' not in repr(conn)


def test_predefined_queue_fifo_name_must_match_url() -> None:
    conn = Connection(URL, transport_options={'predefined_queues': {
        'jobs': {'url': QUEUE_URL + 'jobs.fifo'}}})
    with pytest.raises(InvalidQueueException, match='FIFO'):
        conn.channel()
    conn.release()


# -- names ---------------------------------------------------------------------

def test_queue_name_mangling_as_kombu() -> None:
    assert entity_name('celery.tasks.high') == 'celery-tasks-high'
    assert entity_name('my.jobs.fifo') == 'my-jobs.fifo'
    assert entity_name('a:b*c') == 'a_b_c'
    assert priority_queue_name('jobs', 0) == 'jobs'
    assert priority_queue_name('jobs', 6) == 'jobs_p6'
    assert priority_queue_name('jobs.fifo', 3) == 'jobs_p3.fifo'


def test_malformed_queue_name_is_refused_before_any_request(stubbed: Any) -> None:
    conn, stub = stubbed
    with pytest.raises(InvalidQueueException, match='1 to 80'):
        conn.default_channel.queue_declare('x' * 81)
    stub.assert_no_pending_responses()


def test_undefined_queue_with_predefined_queues() -> None:
    conn = Connection(URL, transport_options={'predefined_queues': {
        'jobs': {'url': QUEUE_URL + 'jobs'}}})
    with pytest.raises(UndefinedQueueException, match='predefined_queues'):
        conn.default_channel.queue_declare('other')
    conn.release()


# -- error translation ------------------------------------------------------------

@pytest.mark.parametrize('code', ['AccessDenied', 'InvalidClientTokenId',
                                  'SignatureDoesNotMatch'])
def test_refused_credentials_are_access_refused(stubbed: Any, code: str) -> None:
    conn, stub = stubbed
    stub.add_client_error('get_queue_url', service_error_code=code, http_status_code=403)
    with pytest.raises(AccessRefused, match='credential'):
        conn.default_channel.queue_declare('jobs')


def test_missing_queue_is_not_found(stubbed: Any) -> None:
    conn, stub = stubbed
    stub.add_client_error('get_queue_url',
                          service_error_code='AWS.SimpleQueueService.NonExistentQueue',
                          http_status_code=400)
    with pytest.raises(ChannelError) as info:
        conn.default_channel._size('jobs')
    assert info.value.reply_code == 404


def test_passive_declare_of_missing_queue(stubbed: Any) -> None:
    conn, stub = stubbed
    stub.add_client_error('get_queue_url', service_error_code='QueueDoesNotExist',
                          http_status_code=400)
    with pytest.raises(conn.channel_errors):
        conn.default_channel.queue_declare('jobs', passive=True)


def test_throttling_is_a_retryable_connection_error(stubbed: Any) -> None:
    conn, stub = stubbed
    stub.add_client_error('get_queue_url', service_error_code='ThrottlingException',
                          http_status_code=400)
    with pytest.raises(ConnectionError) as info:
        conn.default_channel.queue_declare('jobs')
    assert not isinstance(info.value, AccessRefused)
    assert isinstance(info.value, conn.connection_errors)


def test_expired_sts_token_is_access_refused(stubbed: Any) -> None:
    conn, stub = stubbed
    stub.add_client_error('get_queue_url', service_error_code='ExpiredToken',
                          http_status_code=403)
    with pytest.raises(AccessRefused):
        conn.default_channel.queue_declare('jobs')


def test_missing_credentials_say_what_to_do() -> None:
    translated = errors.translate(NoCredentialsError(), 'receive_message')
    assert isinstance(translated, AccessRefused)
    assert 'AWS_ACCESS_KEY_ID' in str(translated)


@pytest.mark.parametrize(('operation', 'kind'), [
    ('subscribe', 'UnableToSubscribeQueueToTopicException'),
    ('unsubscribe', 'UnableToUnsubscribeQueueFromTopicException'),
])
def test_refused_subscription_changes_have_kombus_error_kinds(operation: str,
                                                                kind: str) -> None:
    from botocore.exceptions import ClientError

    from kombu.transport.SQS import exceptions
    refused = ClientError({'Error': {'Code': 'InvalidParameter', 'Message': 'no'}}, operation)
    translated = errors.translate(refused, operation, 'jobs')
    assert type(translated) is getattr(exceptions, kind)
    assert isinstance(translated, ChannelError) and 'jobs' in str(translated)
    # a throttled subscribe stays retryable, not a subscription refusal
    throttled = ClientError({'Error': {'Code': 'Throttling', 'Message': 'slow'}}, operation)
    assert type(errors.translate(throttled, operation, 'jobs')) is ConnectionError


# -- refused messages: nothing sent -----------------------------------------------

def test_fifo_publish_without_group_id_is_refused(stubbed: Any) -> None:
    conn, stub = stubbed   # no response queued: any request would fail the stub
    with pytest.raises(InvalidMessageException, match='MessageGroupId'):
        Producer(conn.default_channel).publish('x', routing_key='jobs.fifo')


def test_fifo_default_group_id_option(stubbed: Any) -> None:
    conn, stub = stubbed
    params = envelope.send_params('jobs.fifo', {'properties': {}}, default_group_id='all')
    assert params['MessageGroupId'] == 'all' and params['MessageDeduplicationId']


@pytest.mark.parametrize('delay', [901, -1, 2.5, 'soon'])
def test_delay_seconds_out_of_range(delay: Any) -> None:
    with pytest.raises(InvalidMessageException, match='DelaySeconds'):
        envelope.send_params('jobs', {'properties': {'DelaySeconds': delay}})


def test_delay_seconds_passed_on() -> None:
    params = envelope.send_params('jobs', {'properties': {'DelaySeconds': 900}})
    assert params == {'DelaySeconds': 900}


def test_oversize_message_is_refused(stubbed: Any) -> None:
    conn, stub = stubbed   # refused before any request (none is queued on the stub)
    with pytest.raises(LimitExceeded, match='262144'):
        Producer(conn.default_channel).publish('x' * (300 * 1024), routing_key='jobs')


def test_unsupported_property_warned_once() -> None:
    envelope._warned.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        for _ in range(3):
            envelope.send_params('jobs', {'properties': {'MessageDeduplicationId': 'd'}})
    assert len([w for w in caught
                if issubclass(w.category, envelope.UnsupportedPropertyWarning)]) == 1


# -- bodies ----------------------------------------------------------------------

def test_body_round_trip_base64_and_plain() -> None:
    message = {'body': 'aGk=', 'headers': {}, 'properties': {
        'delivery_info': {'sqs_message': {'x': 1}, 'sqs_queue': 'u', 'exchange': ''}}}
    for b64 in (True, False):
        decoded = envelope.decode_body(envelope.encode_body(message, b64))
        assert decoded['body'] == 'aGk='
        assert decoded['properties']['delivery_info'] == {'exchange': ''}


@pytest.mark.parametrize('body', ['not json at all', '{"truncated": ', 'eyJ4IjogMX0='])
def test_foreign_or_corrupt_body_is_delivered_not_lost(body: str) -> None:
    decoded = envelope.decode_body(body)
    assert decoded['body'] == body
    assert decoded['properties'] == {'delivery_info': {}}


# -- STS -------------------------------------------------------------------------

class FakeSTS:
    def __init__(self, lifetime: int) -> None:
        self.calls = 0
        self.lifetime = lifetime

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        return {'Credentials': {
            'AccessKeyId': f'AK{self.calls}', 'SecretAccessKey': 's', 'SessionToken': 't',
            'Expiration': datetime.now(timezone.utc) + timedelta(seconds=self.lifetime)}}


def test_sts_refresher_takes_the_buffer_off_the_expiry() -> None:
    sts = FakeSTS(3600)
    metadata = sts_refresher(lambda: sts, 'arn:aws:iam::1:role/r', 3600, buffer=600)()
    expiry = datetime.fromisoformat(metadata['expiry_time'])
    left = (expiry - datetime.now(timezone.utc)).total_seconds()
    assert 2990 < left <= 3000
    assert metadata['access_key'] == 'AK1'


def test_sts_credentials_refresh_before_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    # A token valid for 5 more minutes is inside botocore's refresh window: the next
    # signing asks STS again instead of using it.
    sts = FakeSTS(300)
    options = SQSOptions.from_transport_options({'sts_role_arn': 'arn:aws:iam::1:role/r'})
    factory = ClientFactory(options, 'k', 's', 'http://127.0.0.1:1')
    monkeypatch.setattr(boto3.Session, 'client', lambda self, service, **kw: sts)
    session = factory._session('us-east-1', 'k', 's', None)
    credentials = session.get_credentials()
    assert sts.calls == 1
    frozen = credentials.get_frozen_credentials()
    assert sts.calls == 2 and frozen.access_key == 'AK2'


# -- visibility heartbeat ------------------------------------------------------------

def test_heartbeat_beats_every_channel_and_survives_errors(caplog: Any) -> None:
    from kombu.transport.SQS.heartbeat import VisibilityHeartbeat

    seen: list[float] = []

    class Good:
        def _extend_held(self, now: float) -> None:
            seen.append(now)

    class Broken:
        def _extend_held(self, now: float) -> None:
            raise ConnectionError('sqs down')

    beat = VisibilityHeartbeat(lambda: [Broken(), Good()], visibility_timeout=40)
    assert beat.interval == 10
    beat.beat(now=123.0)
    assert seen == [123.0]
    assert 'could not extend' in caplog.text


def test_heartbeat_thread_stops_with_the_connection() -> None:
    conn = Connection(URL, transport_options={'is_secure': False})
    conn.connect()   # no request: channels ask SQS only when used
    heartbeat = conn.transport.heartbeat
    heartbeat.start()
    assert heartbeat._thread is not None and heartbeat._thread.is_alive()
    conn.release()
    assert not heartbeat._thread.is_alive()


# -- Kombu's STS helpers ----------------------------------------------------------

def test_sts_refresh_required() -> None:
    from kombu.transport.SQS import Channel
    future = datetime.now(timezone.utc) + timedelta(minutes=5)
    past = datetime.now(timezone.utc) - timedelta(seconds=1)
    assert Channel.is_sts_token_refresh_required('q', {'q': object()}, None)
    assert Channel.is_sts_token_refresh_required('q', {'q': object()}, past)
    assert Channel.is_sts_token_refresh_required('q', {}, future)
    assert not Channel.is_sts_token_refresh_required('q', {'q': object()}, future)


def test_sts_token_with_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    from kombu.transport.SQS import Channel
    expiry = datetime(2030, 1, 1, tzinfo=timezone.utc)
    monkeypatch.setattr(Channel, 'generate_sts_session_token', staticmethod(
        lambda arn, seconds: {'AccessKeyId': 'a', 'Expiration': expiry}))
    channel = Channel.__new__(Channel)
    creds = channel.generate_sts_session_token_with_buffer('arn', 900, 60)
    assert creds['Expiration'] == expiry - timedelta(seconds=60)
    creds = channel.generate_sts_session_token_with_buffer('arn', 900, 900)  # too big: none
    assert creds['Expiration'] == expiry


def test_missing_credentials_through_botocore(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Any) -> None:
    # The real credential chain finds nothing: a typed error saying what to do, raised
    # before any request (nothing listens on the endpoint anyway).
    for name in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN',
                 'AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_ROLE_ARN',
                 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
                 'AWS_CONTAINER_CREDENTIALS_FULL_URI'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('AWS_CONFIG_FILE', str(tmp_path / 'none'))
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', str(tmp_path / 'none'))
    monkeypatch.setenv('AWS_EC2_METADATA_DISABLED', 'true')
    conn = Connection('sqs://127.0.0.1:1', transport_options={
        'is_secure': False, 'region': 'us-east-1'})
    try:
        with pytest.raises(AccessRefused, match='no AWS credentials'):
            conn.default_channel.queue_declare('jobs')
    finally:
        conn.release()


@pytest.mark.parametrize('url,options,endpoint', [
    ('sqs://k:s@', {}, None),                                      # AWS's own endpoint
    ('sqs://k:s@localhost:4566', {}, 'http://localhost:4566'),     # an emulator, as upstream
    ('sqs://k:s@sqs.example:443', {'is_secure': True}, 'https://sqs.example:443'),
    ('sqs://k:s@', {'endpoint_url': 'https://vpce.example'}, 'https://vpce.example'),
])
def test_endpoint_url(url: str, options: dict[str, Any], endpoint: str | None) -> None:
    assert Connection(url, transport_options=options).transport.endpoint_url == endpoint
