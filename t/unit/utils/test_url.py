from __future__ import annotations

import ssl

import pytest

from kombu.utils import url as url_mod
from kombu.utils.url import (
    _parse_url,
    as_url,
    maybe_sanitize_url,
    parse_ssl_cert_reqs,
    parse_url,
    sanitize_url,
    url_to_parts,
    urlparse,
    urlparts,
)


def test_amqp_default_vhost():
    assert parse_url('amqp://user:pass@localhost:5672//') == {
        'transport': 'amqp', 'hostname': 'localhost', 'port': 5672,
        'userid': 'user', 'password': 'pass', 'virtual_host': '/',
    }


def test_redis_db_and_no_credentials():
    parsed = parse_url('redis://h:6379/1')
    assert parsed['virtual_host'] == '1'
    assert parsed['userid'] is None and parsed['password'] is None


def test_redis_password_only():
    parsed = parse_url('redis://:secret@h/0')
    assert parsed['userid'] is None and parsed['password'] == 'secret'


def test_transport_prefix_is_kept():
    assert parse_url('sqla+postgresql://u@db/x')['transport'] == 'sqla+postgresql'
    assert parse_url('SQS://')['transport'] == 'sqs'


def test_socket_path():
    parsed = parse_url('redis+socket:///tmp/r.sock')
    assert parsed['transport'] == 'redis+socket'
    assert parsed['hostname'] is None
    assert parsed['virtual_host'] == 'tmp/r.sock'


def test_ipv6():
    parsed = parse_url('amqp://u:p@[::1]:5672/vh')
    assert parsed['hostname'] == '::1' and parsed['port'] == 5672


def test_percent_decoded_credentials_and_vhost():
    parsed = parse_url('amqp://us%40er:p%2Fa%3Ass@h/v%2Fh')
    assert parsed['userid'] == 'us@er'
    assert parsed['password'] == 'p/a:ss'
    assert parsed['virtual_host'] == 'v/h'


def test_query_options_merged_and_ssl_grouped():
    parsed = parse_url('rediss://h:6380/0?ssl_cert_reqs=required&ssl_check_hostname=false'
                       '&ssl_ca_certs=/ca.pem&visibility_timeout=30')
    assert parsed['visibility_timeout'] == '30'
    assert parsed['ssl'] == {'ssl_cert_reqs': ssl.CERT_REQUIRED,
                             'ssl_check_hostname': False, 'ssl_ca_certs': '/ca.pem'}


def test_query_cannot_override_url_parts():
    with pytest.raises(ValueError, match='clashes'):
        parse_url('amqp://h/?password=x')


@pytest.mark.parametrize('value,expected', [
    ('CERT_REQUIRED', ssl.CERT_REQUIRED), ('required', ssl.CERT_REQUIRED),
    ('CERT_OPTIONAL', ssl.CERT_OPTIONAL), ('optional', ssl.CERT_OPTIONAL),
    ('CERT_NONE', ssl.CERT_NONE), ('none', ssl.CERT_NONE), ('Required', ssl.CERT_REQUIRED),
])
def test_parse_ssl_cert_reqs(value, expected):
    assert parse_ssl_cert_reqs(value) == expected


def test_parse_ssl_cert_reqs_invalid():
    with pytest.raises(ValueError, match='CERT_REQUIRED'):
        parse_ssl_cert_reqs('bogus')
    with pytest.raises(KeyError):  # what Kombu raised
        parse_ssl_cert_reqs('bogus')


@pytest.mark.parametrize('bad', [
    'amqp://user:secretpw@host:notaport/',
    'amqp://user:secret/pw@host/',       # unescaped '/' turns the password into a "port"
    'amqp://user:secretpw@host:99999/',
    'amqp://user:secretpw@[::1/',
])
def test_malformed_urls_raise_without_password(bad):
    with pytest.raises(ValueError) as excinfo:
        parse_url(bad)
    message = str(excinfo.value)
    assert 'secret' not in message and 'pw' not in message
    assert 'amqp' in message


def test_missing_scheme():
    with pytest.raises(ValueError, match='://'):
        parse_url('user:secret@localhost')
    with pytest.raises(ValueError) as excinfo:
        parse_url('user:secret@localhost')
    assert 'secret' not in str(excinfo.value)


def test_url_to_parts():
    parts = url_to_parts('redis://u:p@h:1/2?a=b')
    assert parts == urlparts('redis', 'h', 1, 'u', 'p', '2', {'a': 'b'})
    assert _parse_url is url_to_parts
    assert parts.hostname == 'h' and parts.query == {'a': 'b'}


def test_as_url():
    assert as_url('amqp', 'h', 5672, 'u', 'p', '/') == 'amqp://u:p@h:5672//'
    assert as_url('redis', 'h', password='p@ss') == 'redis://:p%40ss@h/'
    assert as_url('redis', 'h', 6379, path='0', query={'a': 'b'}) == 'redis://h:6379/0?a=b'
    assert as_url('memory') == 'memory:///'


def test_sanitize_url():
    assert sanitize_url('amqp://u:secret@h:5672//') == 'amqp://u:**@h:5672//'
    assert sanitize_url('redis://:secret@h:6379/0?token=x') == 'redis://:**@h:6379/0'
    assert sanitize_url('amqp://u:secret@h//', mask='XX') == 'amqp://u:XX@h//'
    assert maybe_sanitize_url('redis://:secret@h/') == 'redis://:**@h/'
    assert maybe_sanitize_url('not a url') == 'not a url'
    assert maybe_sanitize_url(None) is None


def test_roundtrip_through_as_url():
    url = 'amqp://us%40er:p%2Fw@host:5672/vhost'
    assert as_url(*url_to_parts(url)) == url


def test_reexports():
    assert url_mod.urlparse is urlparse
    assert url_mod.safequote('a/b') == 'a%2Fb'


@pytest.mark.parametrize('bad', [
    'amqp://user:secret@host:notaport/', 'amqp://user:secret@host:99999/',
    'amqp://[::1/', 'no-scheme-separator', 'amqp://host/?hostname=other',
    'amqp://host/?ssl_cert_reqs=bogus',
])
def test_malformed_url_is_value_error_and_kombu_error(bad):
    from kombu import Connection
    from kombu.exceptions import KombuError, MalformedURL
    with pytest.raises(MalformedURL) as info:
        url_mod.parse_url(bad)
    assert isinstance(info.value, ValueError) and isinstance(info.value, KombuError)
    assert 'secret' not in str(info.value)
    if '://' in bad:  # a bare word is a host name to Connection
        with pytest.raises(KombuError):
            Connection(bad).transport
