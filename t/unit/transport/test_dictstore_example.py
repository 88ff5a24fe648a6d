"""The writing-transports guide's example (t/unit/transport/dictstore.py), run.

The conformance suite proves what the guide says the base gives a transport
for free; the other tests are the error paths and options every transport
tests.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from kombu import Connection
from kombu.exceptions import AccessRefused, ChannelError, ConnectionError
from kombu.transport import registry
from kombu.transport.virtual.options import TransportOptionError
from t.integration.conformance import ConformanceSuite

from . import dictstore

SCHEME = 'dictstore'


@pytest.fixture(autouse=True)
def _registered() -> Iterator[None]:
    registry.register(SCHEME, 't.unit.transport.dictstore:Transport')
    yield
    registry.unregister(SCHEME)


# -- guide: conformance --------------------------------------------------------
class TestDictStoreConformance(ConformanceSuite):
    url = 'dictstore://'
    # The store's queues are FIFO lists: no priorities.
    supports_priority = False
# -- end guide: conformance ----------------------------------------------------


@pytest.fixture
def conn() -> Iterator[Connection]:
    with Connection('dictstore://', transport_options={'namespace': 'errors'}) as c:
        yield c
    dictstore.DictStoreClient.down.discard('errors')


def test_a_server_that_is_down_is_a_connection_error(conn: Connection, uname: Any) -> None:
    channel = conn.channel()
    name = uname('down')
    channel.queue_declare(name)
    dictstore.DictStoreClient.down.add('errors')
    with pytest.raises(ConnectionError) as info:
        channel.queue_purge(name)
    assert isinstance(info.value, conn.connection_errors)
    assert isinstance(info.value.__cause__, dictstore.StoreUnavailable)
    assert f"dictstore purge '{name}'" in str(info.value)
    dictstore.DictStoreClient.down.discard('errors')
    channel.queue_delete(name)


def test_a_refused_token_is_access_refused() -> None:
    with Connection('dictstore://', transport_options={
            'namespace': 'guarded', 'token': 'right'}) as good:
        good.channel()
    with Connection('dictstore://', transport_options={
            'namespace': 'guarded', 'token': 'wrong'}) as bad:
        with pytest.raises(AccessRefused) as info:
            bad.channel()
    assert 'wrong' not in str(info.value)


def test_a_missing_queue_is_a_404(conn: Connection) -> None:
    channel = conn.channel()
    with pytest.raises(ChannelError) as info:
        channel._size('never-declared')
    assert info.value.reply_code == 404


def test_options_are_typed_and_secrets_masked() -> None:
    opts = {'namespace': 'opts', 'token': 's3cr3t'}
    with Connection('dictstore://', transport_options=opts) as c:
        options = c.default_channel.options
        assert isinstance(options, dictstore.DictStoreOptions)
        assert options.namespace == 'opts' and options.token == 's3cr3t'
        assert 's3cr3t' not in repr(options)
    with pytest.raises(TransportOptionError, match='namespace'):
        dictstore.DictStoreOptions.from_transport_options({'namespace': ''})
    with pytest.warns(UserWarning, match='namespce'):
        dictstore.DictStoreOptions.from_transport_options({'namespce': 'x'})
