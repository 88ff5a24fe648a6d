from __future__ import annotations

import ssl
import warnings

import pytest
import redis

from kombu import Connection
from kombu.transport.redis import Channel
from kombu.transport.redis.connparams import (
    build_connparams,
    parse_cert_reqs,
    prepare_virtual_host,
    redacted,
    warn_unknown_options,
)

DEFAULTS = {name: getattr(Channel, name) for name in (
    'max_connections', 'socket_timeout', 'socket_connect_timeout', 'socket_keepalive',
    'socket_keepalive_options', 'health_check_interval', 'retry_on_timeout', 'client_name')}


def params(url, **options):
    conn = Connection(url)
    return build_connparams(conn, dict(DEFAULTS, **options), 6379,
                            redis.Connection, redis.SSLConnection)


def test_redis_url_with_credentials_and_db():
    p = params('redis://user:secret@example.com:1234/3')
    assert (p['host'], p['port'], p['db']) == ('example.com', 1234, 3)
    assert (p['username'], p['password']) == ('user', 'secret')
    assert p['connection_class'] is redis.Connection
    assert p['health_check_interval'] == 25 and p['max_connections'] == 10


def test_default_db_and_port():
    p = params('redis://localhost')
    assert (p['port'], p['db']) == (6379, 0)


def test_rediss_ssl_options():
    p = params('rediss://h:6380/1?ssl_cert_reqs=required')
    assert p['connection_class'] is redis.SSLConnection
    assert p['ssl_cert_reqs'] == ssl.CERT_REQUIRED and p['db'] == 1


def test_unix_socket_url():
    p = params('redis+socket:///run/redis.sock?virtual_host=4')
    assert p['connection_class'] is redis.UnixDomainSocketConnection
    assert p['path'] == '/run/redis.sock' and p['db'] == 4
    assert 'host' not in p and 'port' not in p and 'socket_connect_timeout' not in p


def test_options_pass_through():
    p = params('redis://h/0', socket_timeout=2.5, client_name='worker-1', retry_on_timeout=True)
    assert (p['socket_timeout'], p['client_name'], p['retry_on_timeout']) == (
        2.5, 'worker-1', True)


@pytest.mark.parametrize('value,expected', [
    ('CERT_REQUIRED', ssl.CERT_REQUIRED), ('required', ssl.CERT_REQUIRED),
    ('optional', ssl.CERT_OPTIONAL), ('none', ssl.CERT_NONE), (ssl.CERT_NONE, ssl.CERT_NONE)])
def test_parse_cert_reqs_both_spellings(value, expected):
    assert parse_cert_reqs(value) == expected


def test_parse_cert_reqs_rejects_garbage():
    with pytest.raises(ValueError, match='ssl_cert_reqs'):
        parse_cert_reqs('maybe')


@pytest.mark.parametrize('vhost,db', [(None, 0), ('/', 0), ('', 0), ('/7', 7), ('7', 7), (3, 3)])
def test_prepare_virtual_host(vhost, db):
    assert prepare_virtual_host(vhost) == db


def test_prepare_virtual_host_rejects_names():
    with pytest.raises(ValueError, match='Database is int'):
        prepare_virtual_host('/celery')


def test_unknown_options_warn_known_ones_do_not():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        warn_unknown_options({'visibility_timeout': 1, 'polling_interval': 1,
                              'max_retries': 3}, Channel.from_transport_options)
    with pytest.warns(UserWarning, match='visibilty_timeout'):
        assert warn_unknown_options({'visibilty_timeout': 1},
                                    Channel.from_transport_options) == ['visibilty_timeout']


def test_redacted_hides_password():
    assert redacted({'password': 'secret', 'host': 'h'}) == {'password': '**', 'host': 'h'}
