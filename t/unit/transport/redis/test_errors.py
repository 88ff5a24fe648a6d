"""redis-py exceptions -> kombu's kinds (the translator behind every channel call)."""
from __future__ import annotations

import pytest
from redis import exceptions as rexc

from kombu.exceptions import (
    AccessRefused,
    ChannelError,
    ConnectionError,
    LimitExceeded,
    OperationalError,
)
from kombu.transport.redis import Transport
from kombu.transport.redis.errors import RedisConnectionError, errors, reraise


@pytest.mark.parametrize('exc,kind', [
    (rexc.AuthenticationError('invalid username-password pair'), AccessRefused),
    (rexc.NoPermissionError('this user has no permissions'), AccessRefused),
    (rexc.ResponseError('WRONGPASS invalid username-password pair'), AccessRefused),
    (rexc.ResponseError('NOAUTH Authentication required.'), AccessRefused),
    (rexc.TimeoutError('Timeout reading from socket'), RedisConnectionError),
    (rexc.ConnectionError('Connection closed by server.'), RedisConnectionError),
    (rexc.BusyLoadingError('Redis is loading the dataset in memory'), RedisConnectionError),
    (rexc.ReadOnlyError("You can't write against a read only replica."),
     RedisConnectionError),
    (rexc.ResponseError('LOADING Redis is loading'), RedisConnectionError),
    (rexc.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
     LimitExceeded),
    (rexc.ResponseError('OOM command not allowed'), LimitExceeded),
])
def test_kinds(exc, kind):
    translated = errors.translate(exc, 'LPUSH', 'q')
    assert type(translated) is kind
    assert "redis LPUSH 'q'" in str(translated) and type(exc).__name__ in str(translated)


def test_connection_kinds_are_operational_errors_and_in_the_transport_tuples():
    translated = errors.translate(rexc.TimeoutError('t'))
    assert isinstance(translated, ConnectionError) and isinstance(translated, OperationalError)
    for kind in (RedisConnectionError, AccessRefused):
        assert issubclass(kind, Transport.connection_errors)
    assert issubclass(LimitExceeded, Transport.channel_errors)
    assert not issubclass(LimitExceeded, Transport.connection_errors)
    assert issubclass(ChannelError, Transport.channel_errors)


@pytest.mark.parametrize('exc', [
    rexc.ResponseError('WRONGTYPE Operation against a key holding the wrong kind of value'),
    rexc.NoScriptError('No matching script.'), KeyError('x'), AccessRefused('already ours')])
def test_other_errors_are_left_alone(exc):
    assert errors.translate(exc) is None
    with pytest.raises(type(exc)) as info:
        reraise(exc)
    assert info.value is exc


def test_reraise_chains_the_original():
    original = rexc.TimeoutError('slow')
    with pytest.raises(RedisConnectionError) as info:
        reraise(original, 'BRPOP')
    assert info.value.__cause__ is original and 'BRPOP' in str(info.value)
