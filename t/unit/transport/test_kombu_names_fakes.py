"""Kombu 5.7's public names of the azureservicebus, pyro, SLMQ and qpid transports
(from ``kombu_api_reference``): code written for Kombu finds them here too."""
from __future__ import annotations

import importlib

import pytest

NAMES = {
    'kombu.transport.azureservicebus': {
        '': ['CHARS_REPLACE_TABLE', 'PUNCTUATIONS_TO_REPLACE', 'logger', 'SendReceive'],
        'SendReceive': ['close'],
        'Channel': ['basic_consume', 'basic_cancel', 'entity_name', 'basic_ack', 'close',
                    'queue_service', 'queue_mgmt_service', 'conninfo', 'transport_options',
                    'queue_name_prefix', 'wait_time_seconds', 'peek_lock_seconds',
                    'uamqp_keep_alive_interval', 'retry_total', 'retry_backoff_factor',
                    'retry_backoff_max', 'use_lock_renewal', 'max_lock_renewal_duration',
                    'default_wait_time_seconds', 'default_peek_lock_seconds',
                    'default_uamqp_keep_alive_interval', 'default_retry_total',
                    'default_retry_backoff_factor', 'default_retry_backoff_max',
                    'default_use_lock_renewal', 'default_max_lock_renewal_duration',
                    'domain_format'],
        'Transport': ['close_connection', 'parse_uri', 'as_uri', 'Channel',
                      'polling_interval', 'default_port', 'can_parse_url'],
    },
    'kombu.transport.pyro': {
        '': ['DEFAULT_PORT', 'E_LOOKUP', 'E_NAMESERVER', 'logger', 'KombuBroker'],
        'Channel': ['close', 'queues', 'after_reply_message_received', 'shared_queues'],
        'Transport': ['driver_version', 'shared_queues', 'Channel', 'global_state',
                      'default_port', 'driver_type', 'driver_name'],
    },
    'kombu.transport.SLMQ': {
        '': ['CHARS_REPLACE_TABLE'],
        'Channel': ['basic_consume', 'basic_cancel', 'entity_name', 'basic_ack',
                    'delete_message', 'slmq', 'conninfo', 'transport_options',
                    'visibility_timeout', 'queue_name_prefix', 'default_visibility_timeout',
                    'domain_format'],
        'Transport': ['Channel', 'polling_interval', 'default_port', 'connection_errors'],
    },
    'kombu.transport.qpid': {
        '': ['AuthenticationFailure', 'dependency_is_none', 'OBJECT_ALREADY_EXISTS_STRING',
             'VERSION', 'logger'],
        'QoS': ['can_consume', 'can_consume_max_estimate', 'append', 'get', 'ack', 'reject'],
        'Channel': ['queue_declare', 'queue_delete', 'exchange_declare', 'exchange_delete',
                    'queue_bind', 'queue_unbind', 'queue_purge', 'basic_get', 'basic_ack',
                    'basic_reject', 'basic_consume', 'basic_cancel', 'close', 'qos',
                    'basic_qos', 'prepare_message', 'basic_publish', 'encode_body',
                    'decode_body', 'typeof', 'QoS', 'Message', 'body_encoding', 'codecs'],
        'Connection': ['get_qpid_connection', 'close', 'close_channel', 'Channel'],
        'Transport': ['verify_runtime_environment', 'on_readable', 'register_with_event_loop',
                      'establish_connection', 'close_connection', 'drain_events',
                      'create_channel', 'default_connection_params', 'Connection',
                      'polling_interval', 'implements', 'driver_type', 'driver_name',
                      'recoverable_connection_errors', 'recoverable_channel_errors',
                      'connection_errors', 'channel_errors'],
    },
}


@pytest.mark.parametrize('module_name', sorted(NAMES))
def test_kombu_names_exist(module_name):
    module = importlib.import_module(module_name)
    missing = []
    for owner, names in NAMES[module_name].items():
        obj = getattr(module, owner) if owner else module
        missing += [f'{owner or module_name}.{name}' for name in names
                    if not hasattr(obj, name)]
    assert missing == []


def test_transport_aliases_resolve_to_these_modules():
    from kombu.transport import resolve_transport
    assert resolve_transport('azureservicebus').__module__ == 'kombu.transport.azureservicebus'
    assert resolve_transport('pyro').__module__ == 'kombu.transport.pyro'
    assert resolve_transport('slmq') is resolve_transport('SLMQ')
    assert resolve_transport('qpid').__module__ == 'kombu.transport.qpid'


def test_conninfo_and_transport_options_come_from_the_base_channel():
    # azureservicebus, SLMQ and SQS read them from the virtual base Channel.
    pytest.importorskip('azure.servicebus')
    from kombu import Connection
    from kombu.transport import azureservicebus as asb
    from kombu.transport.SLMQ import Channel as SLMQChannel
    from kombu.transport.SQS.channel import Channel as SQSChannel
    from kombu.transport.virtual.base import Channel as VirtualChannel
    from t.fakes import servicebus as fake
    for channel_class in (asb.Channel, SLMQChannel, SQSChannel):
        assert channel_class.conninfo is VirtualChannel.conninfo
        assert channel_class.transport_options is VirtualChannel.transport_options
    options = {'wait_time_seconds': 0.2, 'queue_name_prefix': 'names-'}
    with fake.patched(asb):
        fake.reset()
        fake.namespace('names.servicebus.windows.net')
        with Connection('azureservicebus://RootManageSharedAccessKey:s3cr3t/key=@names',
                        transport_options=options) as conn:
            channel = conn.default_channel
            assert channel.conninfo is conn
            assert channel.transport_options == options
            assert channel.queue_name_prefix == 'names-'
