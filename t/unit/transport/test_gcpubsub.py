"""Pub/Sub transport: error translation, URL parsing and option checks, with the client mocked."""
from __future__ import annotations

import dataclasses
from typing import Any
from unittest.mock import MagicMock, patch

import pytest

from kombu import Connection
from kombu.exceptions import AccessRefused, ChannelError, ConnectionError, LimitExceeded
from kombu.transport.virtual.options import TransportOptionError, TransportOptions

gexc = pytest.importorskip('google.api_core.exceptions')
pubsub = pytest.importorskip('kombu.transport.gcpubsub')


@pytest.mark.parametrize('raised,kind', [
    (gexc.ServiceUnavailable('down'), ConnectionError),
    (gexc.DeadlineExceeded('slow'), ConnectionError),
    (gexc.RetryError('gave up', None), ConnectionError),
    (gexc.PermissionDenied('no'), AccessRefused),
    (gexc.Unauthenticated('who'), AccessRefused),
    (gexc.InvalidArgument('bad name'), ChannelError),
])
def test_client_errors_become_kombu_kinds(raised: Exception, kind: type) -> None:
    with pytest.raises(kind) as info:
        with pubsub.errors('pull', 'q'):
            raise raised
    assert info.value.__cause__ is raised


def test_missing_subscription_is_404() -> None:
    with pytest.raises(ChannelError) as info:
        with pubsub.errors('pull', 'q'):
            raise gexc.NotFound('no such subscription')
    assert info.value.reply_code == 404


@pytest.fixture
def channel() -> Any:
    clients = {'publisher': MagicMock(), 'subscriber': MagicMock()}
    clients['publisher'].topic_path.side_effect = lambda p, t: f'projects/{p}/topics/{t}'
    clients['subscriber'].subscription_path.side_effect = (
        lambda p, s: f'projects/{p}/subscriptions/{s}')
    with patch.object(pubsub, 'PublisherClient', return_value=clients['publisher']), \
            patch.object(pubsub, 'SubscriberClient', return_value=clients['subscriber']):
        conn = Connection('gcpubsub://projects/proj-1')
        chan = conn.channel()
        yield chan
        conn.release()


def test_oversized_message_refused_before_sending(channel: Any) -> None:
    with pytest.raises(LimitExceeded):
        channel._put('q', {'body': 'x' * (11 * 1000 * 1000), 'properties': {}})
    channel.publisher.publish.assert_not_called()


def test_publish_failure_is_translated(channel: Any) -> None:
    channel.publisher.publish.return_value.result.side_effect = gexc.ServiceUnavailable('x')
    with pytest.raises(ConnectionError):
        channel._put('q', {'body': 'x', 'properties': {}})
    assert channel.publisher.publish.call_args.args[0] == 'projects/proj-1/topics/kombu-q'


def test_names_prefixed_and_punctuation_replaced(channel: Any) -> None:
    assert channel.project_id == 'proj-1'
    assert channel.entity_name('celery.pidbox@host') == 'kombu-celery-pidbox_host'
    assert channel.entity_name('kombu-x') == 'kombu-x'


def test_acknowledge_failure_is_translated(channel: Any) -> None:
    received = MagicMock()
    received.message.data = b'{"body": "x", "properties": {}}'
    channel.subscriber.pull.return_value.received_messages = [received]
    raw = channel._get('q')
    channel.subscriber.acknowledge.side_effect = gexc.ServiceUnavailable('gone')
    with pytest.raises(ConnectionError):
        channel._settle(raw['properties']['delivery_tag'])


@pytest.mark.parametrize('uri', ['gcpubsub://', 'gcpubsub://proj', 'gcpubsub://topics/x'])
def test_bad_uri(uri: str) -> None:
    with pytest.raises(ValueError):
        pubsub.Transport.parse_uri(uri)


@pytest.mark.parametrize('options', [
    {'ack_deadline_seconds': 5}, {'ack_deadline_seconds': 601},
    {'expiration_seconds': 60}, {'bulk_max_messages': 0}, {'queue_name_prefix': 3},
])
def test_bad_options_refused(options: dict[str, Any]) -> None:
    with pytest.raises(TransportOptionError):
        pubsub.PubSubOptions.from_transport_options(options)


#: Kombu 5.7's transport options of gcpubsub:// and their defaults.
KOMBU_OPTIONS = {
    'queue_name_prefix': 'kombu-', 'ack_deadline_seconds': 240,
    'expiration_seconds': 86400, 'wait_time_seconds': 10, 'retry_timeout_seconds': 300,
    'bulk_max_messages': 32, 'enable_exactly_once_delivery': False,
    'ack_modify_batch_size': 1000,
}
#: the options Kombu also names as ``Channel.default_<name>``.
CLASS_DEFAULTS = ('wait_time_seconds', 'ack_deadline_seconds', 'expiration_seconds',
                  'retry_timeout_seconds', 'bulk_max_messages',
                  'enable_exactly_once_delivery')


def test_option_names_and_defaults_are_kombus(channel: Any) -> None:
    common = {f.name for f in dataclasses.fields(TransportOptions)}   # every transport's
    declared = {f.name: f.default for f in dataclasses.fields(pubsub.PubSubOptions)
                if f.name not in common}
    assert declared == KOMBU_OPTIONS
    for name, default in KOMBU_OPTIONS.items():
        assert getattr(channel, name) == default, name
    for name in CLASS_DEFAULTS:
        assert getattr(pubsub.Channel, f'default_{name}') == KOMBU_OPTIONS[name], name
    assert pubsub.Transport.polling_interval == 0.1


def test_given_options_reach_the_channel() -> None:
    given = {'queue_name_prefix': 'app-', 'ack_deadline_seconds': 60,
             'expiration_seconds': 0, 'wait_time_seconds': 2, 'retry_timeout_seconds': 30,
             'bulk_max_messages': 5, 'enable_exactly_once_delivery': True,
             'ack_modify_batch_size': 50}
    with patch.object(pubsub, 'PublisherClient'), patch.object(pubsub, 'SubscriberClient'):
        conn = Connection('gcpubsub://projects/proj-1', transport_options=given)
        chan = conn.channel()
        try:
            assert {name: getattr(chan, name) for name in given} == given
            # from a URL query, as strings
            parsed = pubsub.PubSubOptions.from_transport_options(
                {'bulk_max_messages': '7', 'enable_exactly_once_delivery': 'true'})
            assert (parsed.bulk_max_messages, parsed.enable_exactly_once_delivery) == (7, True)
        finally:
            conn.release()
