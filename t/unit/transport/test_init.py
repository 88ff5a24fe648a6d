from __future__ import annotations

import sys
import types

import pytest

from kombu import transport
from kombu.transport import (
    TRANSPORT_ALIASES,
    TransportRegistry,
    UnknownTransport,
    get_transport_cls,
    resolve_transport,
    supports_librabbitmq,
)
from kombu.transport.base import Transport

REFERENCE_ALIASES = {
    'amqp': 'kombu.transport.pyamqp:Transport',
    'amqps': 'kombu.transport.pyamqp:SSLTransport',
    'pyamqp': 'kombu.transport.pyamqp:Transport',
    'librabbitmq': 'kombu.transport.librabbitmq:Transport',
    'confluentkafka': 'kombu.transport.confluentkafka:Transport',
    'kafka': 'kombu.transport.confluentkafka:Transport',
    'memory': 'kombu.transport.memory:Transport',
    'redis': 'kombu.transport.redis:Transport',
    'rediss': 'kombu.transport.redis:Transport',
    'SQS': 'kombu.transport.SQS:Transport',
    'sqs': 'kombu.transport.SQS:Transport',
    'mongodb': 'kombu.transport.mongodb:Transport',
    'zookeeper': 'kombu.transport.zookeeper:Transport',
    'sqlalchemy': 'kombu.transport.sqlalchemy:Transport',
    'sqla': 'kombu.transport.sqlalchemy:Transport',
    'SLMQ': 'kombu.transport.SLMQ.Transport',
    'slmq': 'kombu.transport.SLMQ.Transport',
    'filesystem': 'kombu.transport.filesystem:Transport',
    'qpid': 'kombu.transport.qpid:Transport',
    'sentinel': 'kombu.transport.redis:SentinelTransport',
    'consul': 'kombu.transport.consul:Transport',
    'etcd': 'kombu.transport.etcd:Transport',
    'azurestoragequeues': 'kombu.transport.azurestoragequeues:Transport',
    'azureservicebus': 'kombu.transport.azureservicebus:Transport',
    'pyro': 'kombu.transport.pyro:Transport',
    'gcpubsub': 'kombu.transport.gcpubsub:Transport',
    'pgmq': 'kombu.transport.pgmq:Transport',
}

#: schemes this package adds to Kombu's (none of them shadows one of Kombu's).
OWN_ALIASES = {
    'rediscluster': 'kombu.transport.rediscluster:Transport',
}


class MyTransport(Transport):
    pass


@pytest.fixture
def thirdparty(monkeypatch):
    module = types.ModuleType('t_thirdparty_transport')
    module.MyTransport = MyTransport
    monkeypatch.setitem(sys.modules, 't_thirdparty_transport', module)
    return module


def test_aliases_match_kombu():
    assert not set(OWN_ALIASES) & set(REFERENCE_ALIASES)
    assert TRANSPORT_ALIASES == {**REFERENCE_ALIASES, **OWN_ALIASES}


def test_non_string_is_returned_as_is():
    assert resolve_transport(MyTransport) is MyTransport
    assert resolve_transport(None) is None


@pytest.mark.parametrize('path', ['t_thirdparty_transport:MyTransport',
                                  't_thirdparty_transport.MyTransport'])
def test_dotted_paths(thirdparty, path):
    assert resolve_transport(path) is MyTransport


def test_alias_that_is_callable(thirdparty):
    reg = TransportRegistry({'dyn': lambda: 't_thirdparty_transport:MyTransport'},
                            entry_point_group=None)
    assert reg.resolve('dyn') is MyTransport


def test_registered_alias_and_cache(thirdparty):
    reg = TransportRegistry({}, entry_point_group=None)
    reg.register('mine', 't_thirdparty_transport:MyTransport')
    assert reg.get('mine') is MyTransport and reg.get('mine') is MyTransport
    assert reg._cache == {'mine': MyTransport}
    reg.unregister('mine')
    with pytest.raises(UnknownTransport):
        reg.get('mine')


def test_unknown_transport_error_is_key_and_import_error_with_hint():
    with pytest.raises(KeyError) as info:
        resolve_transport('redsi')
    exc = info.value
    assert isinstance(exc, ImportError) and isinstance(exc, UnknownTransport)
    text = str(exc)
    assert "No such transport: 'redsi'" in text and "Did you mean 'redis'" in text
    assert 'memory' in text and 'kombu.transports' in text
    with pytest.raises(ImportError):
        resolve_transport('zzzzzz')


def test_missing_dotted_module_raises_import_error():
    with pytest.raises(ImportError):
        resolve_transport('t_no_such_module_anywhere:Transport')


class FakeEntryPoint:
    def __init__(self, name, value):
        self.name, self.value = name, value


def test_entry_point_discovery(thirdparty, monkeypatch):
    seen = []

    def fake(group):
        seen.append(group)
        return [FakeEntryPoint('mq', 't_thirdparty_transport:MyTransport')]

    monkeypatch.setattr(transport, '_iter_entry_points', fake)
    reg = TransportRegistry({'memory': 'kombu.transport.memory:Transport'})
    assert reg.resolve('mq') is MyTransport
    assert seen == ['kombu.transports']
    assert 'mq' in reg.known() and 'memory' in reg.known()
    reg.resolve('mq')
    assert seen == ['kombu.transports']   # scanned once


def test_aliases_win_over_entry_points(thirdparty, monkeypatch):
    monkeypatch.setattr(transport, '_iter_entry_points',
                        lambda group: [FakeEntryPoint('memory', 'nope:Nope')])
    reg = TransportRegistry({'memory': 't_thirdparty_transport:MyTransport'})
    assert reg.resolve('memory') is MyTransport


def test_get_transport_cls_is_cached(thirdparty):
    name = 't_thirdparty_transport:MyTransport'
    assert get_transport_cls(name) is MyTransport
    assert transport.registry._cache[name] is MyTransport


def test_editing_transport_aliases_is_seen_by_resolve(thirdparty, monkeypatch):
    monkeypatch.setitem(TRANSPORT_ALIASES, 'custom', 't_thirdparty_transport:MyTransport')
    assert resolve_transport('custom') is MyTransport


def test_supports_librabbitmq_false_without_library(monkeypatch):
    monkeypatch.setitem(sys.modules, 'librabbitmq', None)
    assert not supports_librabbitmq()


def test_entry_point_from_an_installed_distribution(tmp_path, monkeypatch):
    (tmp_path / 't_ep_transport_mod.py').write_text(
        'from kombu.transport.base import Transport\n'
        'class EPTransport(Transport):\n'
        '    driver_type = "ep"\n')
    info = tmp_path / 't_ep_transport-1.0.dist-info'
    info.mkdir()
    (info / 'METADATA').write_text(
        'Metadata-Version: 2.1\nName: t-ep-transport\nVersion: 1.0\n')
    (info / 'entry_points.txt').write_text(
        '[kombu.transports]\nepq = t_ep_transport_mod:EPTransport\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = TransportRegistry(dict(TRANSPORT_ALIASES))
    cls = reg.get('epq')
    assert cls.__name__ == 'EPTransport' and cls.driver_type == 'ep'
    assert 'epq' in reg.known()


def test_kombu_transport_not_shipped_says_so():
    import importlib.util

    from kombu.transport import TRANSPORT_ALIASES, TransportNotAvailable, resolve_transport

    def module(target: str) -> str:
        return target.split(':')[0] if ':' in target else target.rpartition('.')[0]

    # Any alias whose module is not written (yet): which ones changes as transports land.
    unshipped = [alias for alias, target in TRANSPORT_ALIASES.items()
                 if isinstance(target, str) and importlib.util.find_spec(module(target)) is None]
    if not unshipped:
        pytest.skip('every transport Kombu names is shipped')
    with pytest.raises(TransportNotAvailable, match=f"'{unshipped[0]}' transport") as info:
        resolve_transport(unshipped[0])
    assert isinstance(info.value, ImportError)  # what a missing module raised before


def test_unknown_transport_is_a_kombu_error_as_well():
    from kombu import Connection
    from kombu.exceptions import KombuError
    for fetch in (lambda: transport.resolve_transport('nosuchbroker'),
                  lambda: Connection('nosuchbroker://host/').transport):
        with pytest.raises(KombuError) as info:
            fetch()
        exc = info.value
        assert isinstance(exc, KeyError) and isinstance(exc, ImportError)
        assert isinstance(exc, transport.UnknownTransport)
    assert issubclass(transport.TransportNotAvailable, (KombuError, ImportError))
