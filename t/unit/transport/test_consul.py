"""Consul transport: error translation and options (no server needed)."""
from __future__ import annotations

import pytest

pytest.importorskip('consul')

import consul.base

from kombu import Connection
from kombu.exceptions import AccessRefused, ChannelError, ConnectionError
from kombu.transport import consul as consul_transport
from kombu.transport.virtual.options import TransportOptionError
from t.servers import free_port


def test_unreachable_server_is_a_connection_error():
    conn = Connection(f'consul://127.0.0.1:{free_port()}')
    with pytest.raises(ConnectionError) as info:
        conn.connect()
    assert isinstance(info.value, conn.connection_errors)
    assert not isinstance(info.value, AccessRefused)


def test_acl_denied_is_access_refused():
    exc = consul.base.ACLPermissionDenied('Permission denied')
    assert isinstance(consul_transport.errors.translate(exc, 'put', 'k'), AccessRefused)


def test_other_consul_errors_are_channel_errors():
    exc = consul.base.ConsulException('500 rpc error')
    assert isinstance(consul_transport.errors.translate(exc, 'get'), ChannelError)


def test_token_is_masked():
    opts = consul_transport.ConsulOptions.from_transport_options({'token': 'acl-s3cr3t'})
    assert opts.token == 'acl-s3cr3t'
    assert 'acl-s3cr3t' not in repr(opts)


@pytest.mark.parametrize('options', [
    {'visibility_timeout': 5}, {'visibility_timeout': 100000}, {'prefix': 'a/b'}])
def test_invalid_options(options):
    with pytest.raises(TransportOptionError):
        consul_transport.ConsulOptions.from_transport_options(options)


def test_oversized_message_is_refused_before_sending():
    from kombu.exceptions import LimitExceeded
    from t.fakes.consul_server import running
    with running() as (port, store), Connection(f'consul://127.0.0.1:{port}') as conn:
        queue = conn.SimpleQueue('big')
        with pytest.raises(LimitExceeded):
            queue.put('x' * (600 * 1024))
        assert not any(key.startswith('kombu/messages/') for key in store.kv)
        queue.close()
