"""TransportOptions: typed, frozen, built once per connection; the legacy tuple still works."""
from __future__ import annotations

import dataclasses
import warnings
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from kombu.exceptions import KombuError
from kombu.transport import filesystem, memory, virtual
from kombu.transport.virtual import options as voptions
from kombu.transport.virtual.options import TransportOptionError, TransportOptions

from .helpers import bodies, make_transport, publish


@dataclasses.dataclass(frozen=True)
class ApiOptions(TransportOptions):
    transport_name: ClassVar[str] = 'api'
    secret_fields: ClassVar[frozenset[str]] = frozenset({'api_key'})
    passthrough: ClassVar[frozenset[str]] = frozenset({'client_extra'})
    aliases: ClassVar[dict[str, str]] = {'wait_time': 'wait_time_seconds'}

    api_key: str | None = None
    wait_time_seconds: int = 10
    fast: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require(self.wait_time_seconds >= 0, 'wait_time_seconds must be >= 0')


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(voptions, '_warned', set())


def test_fields_defaults_coercion_and_raw():
    opts = ApiOptions.from_transport_options(
        {'wait_time': '3', 'client_extra': 1}, query={'fast': 'yes', 'wait_time': '9'})
    assert (opts.wait_time_seconds, opts.fast, opts.api_key) == (3, True, None)
    assert opts.body_encoding == 'base64'  # inherited field, Kombu's default
    assert opts.given('wait_time_seconds') and not opts.given('api_key')
    assert opts.get('client_extra') == 1 and opts.get('wait_time') == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.fast = False  # type: ignore[misc]
    assert opts.replace(fast=False).fast is False


def test_bad_values_are_typed_errors():
    with pytest.raises(TransportOptionError, match='wait_time_seconds'):
        ApiOptions.from_transport_options({'wait_time_seconds': 'soon'})
    with pytest.raises(TransportOptionError, match='>= 0'):
        ApiOptions.from_transport_options({'wait_time_seconds': -1})
    assert issubclass(TransportOptionError, KombuError)
    assert issubclass(TransportOptionError, ValueError)


def test_unknown_key_warned_once_and_secret_masked():
    with pytest.warns(UserWarning, match="api transport: unknown transport option 'typo'"):
        ApiOptions.from_transport_options({'typo': 1, 'max_retries': 3})
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        ApiOptions.from_transport_options({'typo': 1})  # once per process
    opts = ApiOptions.from_transport_options({'api_key': 's3cr3t'})
    assert 's3cr3t' not in repr(opts) and 'api_key=' in repr(opts)


def test_memory_channel_options_and_unknown_key():
    with pytest.warns(UserWarning, match="memory transport: unknown transport option 'nope'"):
        transport = make_transport(nope=1, deadletter_queue='dead')
    try:
        channel = transport.create_channel(transport)
        assert isinstance(channel.options, memory.MemoryOptions)
        assert channel.options is transport.options  # built once per connection
        assert channel.deadletter_queue == 'dead'  # a legacy attribute, still set
    finally:
        transport.close_connection(transport)


def test_legacy_attributes_coerced_and_class_defaults_kept():
    class Utf8Channel(memory.Channel):
        queues: dict = {}
        body_encoding = None  # a subclass's own default

    class Transport(memory.Transport):
        Channel = Utf8Channel
        global_state = virtual.BrokerState()

    client = SimpleNamespace(transport_options={'honor_expiration': 'false'},
                             virtual_host='/')
    transport = Transport(client)
    channel = transport.create_channel(transport)
    try:
        assert channel.honor_expiration is False  # a URL-query string, coerced
        assert channel.body_encoding is None  # not given: the class attribute stays
        publish(channel, 'x', routing_key='q')
        assert channel._get('q')['body'] == 'x'  # unencoded, as the class says
    finally:
        transport.close_connection(transport)


def test_third_party_tuple_sets_raw_attributes():
    class ThirdParty(memory.Channel):
        queues: dict = {}
        from_transport_options = memory.Channel.from_transport_options + ('shard',)
        shard: Any = None

    class Transport(memory.Transport):
        Channel = ThirdParty
        global_state = virtual.BrokerState()

    client = SimpleNamespace(transport_options={'shard': 7, 'body_encoding': 'utf-8'},
                             virtual_host='/')
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # keys of the tuple are known
        transport = Transport(client)
    channel = transport.create_channel(transport)
    try:
        assert (channel.shard, channel.body_encoding) == (7, 'utf-8')
        publish(channel, 'plain', routing_key='q')
        assert bodies(channel, 'q') == [b'plain']
    finally:
        transport.close_connection(transport)


def test_filesystem_options(tmp_path):
    folder = str(tmp_path / 'data')
    client = SimpleNamespace(virtual_host='/', transport_options={
        'data_folder_in': folder, 'data_folder_out': folder,
        'control_folder': str(tmp_path / 'control'), 'store_processed': 'false'})

    class Transport(filesystem.Transport):
        global_state = virtual.BrokerState()

    transport = Transport(client)
    channel = transport.create_channel(transport)
    try:
        assert isinstance(channel.options, filesystem.FilesystemOptions)
        assert channel.store_processed is False  # 'false' from a URL is not truthy
        assert channel.data_folder_in == folder
        assert channel.processed_folder == 'processed'  # Kombu's default
        assert str(channel.control_folder) == str(tmp_path / 'control')
    finally:
        transport.close_connection(transport)
    with pytest.raises(TransportOptionError, match='data_folder_in'):
        filesystem.FilesystemOptions.from_transport_options({'data_folder_in': ''})
    with pytest.warns(UserWarning, match="filesystem transport: unknown transport option"):
        filesystem.FilesystemOptions.from_transport_options({'data_folder': 'x'})


def test_azure_options():
    from kombu.transport import azurestoragequeues as azq
    opts = azq.AzureStorageQueuesOptions.from_transport_options({'queue_name_prefix': 'p-'})
    assert opts.queue_name_prefix == 'p-'
    assert azq.Channel.Options is azq.AzureStorageQueuesOptions
    with pytest.raises(TransportOptionError):
        azq.AzureStorageQueuesOptions.from_transport_options({'queue_name_prefix': 3})
