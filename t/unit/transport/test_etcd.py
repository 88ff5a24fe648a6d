"""etcd transport: error translation and options (no server needed)."""
from __future__ import annotations

import pytest

etcd = pytest.importorskip('etcd')

from kombu import Connection  # noqa: E402
from kombu.exceptions import AccessRefused, ChannelError, ConnectionError  # noqa: E402
from kombu.transport import etcd as etcd_transport  # noqa: E402
from kombu.transport.virtual.kv import decode_name, encode_name  # noqa: E402
from kombu.transport.virtual.options import TransportOptionError  # noqa: E402
from t.servers import free_port  # noqa: E402


def test_unreachable_server_is_a_connection_error_without_password():
    conn = Connection(f'etcd://bob:s3cr3tpw@127.0.0.1:{free_port()}',
                      transport_options={'timeout': 1})
    with pytest.raises(ConnectionError) as info:
        conn.connect()
    assert isinstance(info.value.__cause__, etcd.EtcdConnectionFailed)
    assert 's3cr3tpw' not in str(info.value) and 's3cr3tpw' not in repr(conn)
    assert isinstance(info.value, conn.connection_errors)


def test_refused_credentials_are_access_refused():
    exc = etcd.EtcdInsufficientPermissions('The request requires user authentication')
    assert isinstance(etcd_transport.errors.translate(exc, 'get', 'k'), AccessRefused)


def test_other_etcd_errors_are_channel_errors():
    translated = etcd_transport.errors.translate(etcd.EtcdNotDir('Not a directory'), 'list')
    assert isinstance(translated, ChannelError)


@pytest.mark.parametrize('options', [
    {'visibility_timeout': 0.5}, {'prefix': 'a/b'}, {'prefix': ''}, {'timeout': 0}])
def test_invalid_options(options):
    with pytest.raises(TransportOptionError):
        etcd_transport.EtcdOptions.from_transport_options(options)


@pytest.mark.parametrize('name', ['celery', 'a/b', 'x~y', 'sp ace', '', 'amq.gen-1'])
def test_names_are_one_reversible_key_segment(name):
    segment = encode_name(name)
    assert '/' not in segment and segment
    assert decode_name(segment) == name
