"""The Redis channel provides every member its parts' protocols ask for (also checked by mypy)."""
from __future__ import annotations

import typing

import pytest

from kombu import Connection
from kombu.transport.redis import contracts

pytestmark = pytest.mark.integration

PROTOCOLS = [contracts.RedisCommands, contracts.UnackedStore, contracts.ConsumeHost,
             contracts.QueueArgsHost, contracts.ExchangeDeclHost]


def protocol_members(protocol: type) -> set[str]:
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass in (typing.Protocol, typing.Generic, object):
            continue
        names |= set(getattr(klass, '__annotations__', {}))
        names |= {n for n in vars(klass) if not n.startswith('__')}
    return names - {'_is_protocol', '_is_runtime_protocol', '_abc_impl'}


@pytest.mark.parametrize('protocol', PROTOCOLS, ids=lambda p: p.__name__)
def test_channel_has_every_member_of(protocol, redis_url):
    members = protocol_members(protocol)
    assert len(members) >= 2
    with Connection(redis_url) as conn:
        channel = conn.channel()
        missing = sorted(name for name in members if not hasattr(channel, name))
        assert missing == []
        for name in members:
            if callable(getattr(protocol, name, None)) and not isinstance(
                    getattr(type(channel), name, None), property):
                assert callable(getattr(channel, name)), name
