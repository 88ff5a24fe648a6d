from __future__ import annotations

import ssl

import pytest

from kombu.brokerurl import (
    check_url_transport,
    coerce_query_value,
    format_host,
    from_url,
    mask_url,
    split_alternates,
)


def test_from_url_splits_parameters_and_transport_options():
    url = from_url('redis://:pw@h:6380/2?visibility_timeout=30&heartbeat=5'
                   '&ssl_cert_reqs=none&fanout_prefix=true')
    assert url.uri_prefix is None
    assert url.params == {'transport': 'redis', 'hostname': 'h', 'port': 6380,
                          'password': 'pw', 'virtual_host': '2', 'heartbeat': 5.0,
                          'ssl': {'ssl_cert_reqs': ssl.CERT_NONE}}
    assert url.options == {'visibility_timeout': 30, 'fanout_prefix': True}


def test_from_url_prefix_and_whole_url_transports():
    prefixed = from_url('sqla+postgresql://u:p@h/db')
    assert prefixed.params == {'transport': 'sqla', 'hostname': 'postgresql://u:p@h/db'}
    assert prefixed.uri_prefix == 'sqla'
    whole = from_url('mongodb://u:p@h1,h2/db')
    assert whole.params == {'transport': 'mongodb', 'hostname': 'mongodb://u:p@h1,h2/db'}
    assert from_url('localhost').params == {'hostname': 'localhost'}
    assert from_url('amqp://h//', transport='memory').params['transport'] == 'memory'


def test_url_transport_is_never_an_import_path():
    for bad in ('os.path', 'x:y'):
        with pytest.raises(ValueError):
            check_url_transport(bad)
    with pytest.raises(ValueError):
        from_url('os.path+x://h')


def test_split_alternates():
    assert split_alternates('amqp://a//', None) == ('amqp://a//', [])
    assert split_alternates('amqp://a//; amqp://b//', None) == (
        'amqp://a//', ['amqp://a//', 'amqp://b//'])
    assert split_alternates(['amqp://a//', 'amqp://b//'], ['amqp://b//', 'amqp://c//']) == (
        'amqp://a//', ['amqp://a//', 'amqp://b//', 'amqp://c//'])
    assert split_alternates('amqp://a//', ['amqp://b//']) == (
        'amqp://a//', ['amqp://a//', 'amqp://b//'])
    assert split_alternates('host', ['amqp://b//']) == ('host', ['amqp://b//'])
    with pytest.raises(ValueError):
        split_alternates('amqp://a//;os.path://b', None)


def test_mask_url_never_raises():
    assert mask_url('amqp://u:secret@h:5672/v') == 'amqp://u:**@h:5672/v'
    assert mask_url('mongodb://u:secret@h1:1,h2:2/db', mask='XX') == 'mongodb://u:XX@h1:1,h2:2/db'
    assert mask_url('not a url') == 'not a url'
    assert mask_url(None) is None


def test_coerce_and_format_host():
    assert [coerce_query_value(v) for v in ('1', '1.5', 'yes', 'off', 'abc', 3)] == [
        1, 1.5, True, False, 'abc', 3]
    assert format_host('::1') == '[::1]'
    assert format_host('[::1]') == '[::1]'
    assert format_host('h') == 'h'
