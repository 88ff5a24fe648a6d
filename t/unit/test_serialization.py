from __future__ import annotations

import pickle
import sys
from unittest.mock import Mock, patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kombu import serialization
from kombu.exceptions import ContentDisallowed, DecodeError, EncodeError, SerializerNotInstalled
from kombu.serialization import (
    NOTSET,
    SKIP_DECODE,
    TRUSTED_CONTENT,
    SerializerRegistry,
    codec,
    disable_insecure_serializers,
    dumps,
    enable_insecure_serializers,
    loads,
    parenthesize_alias,
    pickle_loads,
    pickle_protocol,
    prepare_accept_content,
    raw_encode,
    register_json,
    register_msgpack,
    register_pickle,
    register_yaml,
    registry,
    unpickle,
)

ALL = {'application/json', 'application/x-python-serialize', 'application/x-yaml',
       'application/x-msgpack'}


@pytest.fixture
def reg():
    """An isolated registry with the built-in serializers."""
    r = SerializerRegistry()
    for fn in (register_json, register_pickle, register_yaml, register_msgpack):
        fn(r)
    r._set_default_serializer('json')
    return r


@pytest.fixture
def restore_disabled():
    saved = set(registry._disabled_content_types)
    yield
    registry._disabled_content_types.clear()
    registry._disabled_content_types.update(saved)


# -- the exact (content_type, content_encoding, payload) Kombu 5.7 produces ----

def test_dumps_wire_forms():
    assert dumps({'a': [1, 'x']}, 'json') == ('application/json', 'utf-8', '{"a": [1, "x"]}')
    assert dumps({'a': [1, 'x']}) == ('application/json', 'utf-8', '{"a": [1, "x"]}')
    assert dumps({'a': [1, 'x']}, 'pickle') == (
        'application/x-python-serialize', 'binary',
        b'\x80\x04\x95\x12\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94]\x94'
        b'(K\x01\x8c\x01x\x94es.')
    assert dumps({'a': [1, 'x']}, 'yaml') == ('application/x-yaml', 'utf-8', 'a:\n- 1\n- x\n')
    assert dumps({'a': [1, 'x']}, 'msgpack') == (
        'application/x-msgpack', 'binary', b'\x81\xa1a\x92\x01\xa1x')


def test_dumps_text_and_bytes_without_serializer():
    assert dumps('é') == ('text/plain', 'utf-8', 'é'.encode())
    assert dumps(b'\xff') == ('application/data', 'binary', b'\xff')


def test_raw():
    assert dumps('é', 'raw') == ('application/data', 'utf-8', b'\xc3\xa9')
    assert dumps(b'\xff', 'raw') == ('application/data', 'binary', b'\xff')
    assert raw_encode(b'x') == ('application/data', 'binary', b'x')
    assert dumps('x', 'json') == ('application/json', 'utf-8', '"x"')


def test_unencodable_text_is_encode_error():
    with pytest.raises(EncodeError):
        dumps('\ud800')
    with pytest.raises(EncodeError):
        dumps('\ud800', 'raw')


def test_encode_error_chains_original():
    with pytest.raises(EncodeError) as excinfo:
        dumps(object(), 'json')
    assert isinstance(excinfo.value.__cause__, TypeError)


def test_unknown_serializer():
    with pytest.raises(SerializerNotInstalled, match='nope'):
        dumps(1, 'nope')


# -- loads ---------------------------------------------------------------------

@pytest.mark.parametrize('name', ['json', 'pickle', 'yaml', 'msgpack'])
def test_roundtrip_each_serializer(name):
    data = {'a': [1, 2.5, 'x', None, True], 'b': {'c': 'é'}}
    ctype, cenc, payload = dumps(data, name)
    assert loads(payload, ctype, cenc, accept={ctype}) == data
    raw = payload.encode() if isinstance(payload, str) else payload
    assert loads(raw, ctype, cenc, accept={ctype}) == data
    assert loads(memoryview(raw), ctype, cenc, accept={ctype}) == data
    assert loads(bytearray(raw), ctype, cenc, accept={ctype}) == data


def test_loads_content_type_bytes_and_missing():
    assert loads(b'{"a": 1}', b'application/json', 'utf-8') == {'a': 1}
    assert loads(b'abc', None, None) == 'abc'  # application/data, decoded as utf-8 text
    assert loads(b'abc', 'application/data', 'binary') == b'abc'


def test_loads_empty_payload_is_returned_as_is():
    assert loads(b'', 'application/json', 'utf-8') == b''
    assert loads('', 'application/json', 'utf-8') == ''


def test_loads_text_plain():
    assert loads('é'.encode(), 'text/plain', 'utf-8') == 'é'
    assert loads('é'.encode('latin-1'), 'text/plain', 'LATIN-1') == 'é'
    assert loads(b'\xff', 'application/x-unknown', 'binary') == b'\xff'
    assert 'binary' in SKIP_DECODE


def test_default_disables_insecure():
    for ctype in ('application/x-python-serialize', 'application/x-yaml',
                  'application/x-msgpack'):
        assert ctype in registry._disabled_content_types
    assert 'application/json' not in registry._disabled_content_types
    payload = pickle.dumps(1)
    with pytest.raises(ContentDisallowed, match=r'disabled content of type pickle'):
        loads(payload, 'application/x-python-serialize', 'binary')
    assert loads(payload, 'application/x-python-serialize', 'binary', force=True) == 1
    assert loads(payload, 'application/x-python-serialize', 'binary',
                 accept={'application/x-python-serialize'}) == 1


def test_accept_whitelist():
    with pytest.raises(ContentDisallowed, match=r'untrusted content of type json'):
        loads(b'1', 'application/json', 'utf-8', accept={'application/x-yaml'})
    # trusted types pass whatever accept says
    assert loads(b'x', 'application/data', 'binary', accept=set()) == b'x'
    assert 'application/text' in TRUSTED_CONTENT
    with pytest.raises(ContentDisallowed):
        loads(b'x', 'application/data', 'binary', accept=set(), _trusted_content=())
    assert issubclass(ContentDisallowed, SerializerNotInstalled)


@pytest.mark.parametrize('ctype,payload', [
    ('application/json', b'{not json'),
    ('application/json', b'\xff\xfe'),
    ('application/json', b'{"__type__": "nope", "__value__": 1}'),
    ('application/x-python-serialize', b'garbage'),
    ('application/x-yaml', b'a: [1'),
    ('application/x-msgpack', b'\xc1'),
    ('text/plain', b'\xff'),
])
def test_corrupt_payloads_are_decode_errors(ctype, payload):
    with pytest.raises(DecodeError) as excinfo:
        loads(payload, ctype, 'utf-8', accept={ctype})
    assert excinfo.value.__cause__ is not None


def test_yaml_is_safe():
    with pytest.raises(DecodeError):
        loads(b'!!python/object/apply:os.system ["true"]', 'application/x-yaml', 'utf-8',
              accept={'application/x-yaml'})


# -- registry management ------------------------------------------------------

def test_isolated_registry_register_unregister(reg):
    reg.register('rev', lambda s: s[::-1], lambda s: s[::-1].decode(),
                 'application/x-rev', 'utf-8')
    assert reg.dumps('abc', 'rev') == ('application/x-rev', 'utf-8', 'cba')
    assert reg.loads(b'cba', 'application/x-rev', 'utf-8') == 'abc'
    assert reg.type_to_name['application/x-rev'] == 'rev'
    reg.unregister('rev')
    assert 'rev' not in reg.name_to_type and 'application/x-rev' not in reg._decoders
    with pytest.raises(SerializerNotInstalled):
        reg.unregister('rev')
    assert 'rev' not in registry.name_to_type  # the global registry is untouched


def test_decoder_only_and_encoder_only(reg):
    reg.register('dec', None, lambda s: 'decoded', 'application/x-dec')
    with pytest.raises(SerializerNotInstalled):
        reg.dumps(1, 'dec')
    assert reg.loads(b'x', 'application/x-dec', 'utf-8') == 'decoded'
    reg.register('enc', lambda s: 'E', None, 'application/x-enc')
    assert reg.dumps(1, 'enc')[2] == 'E'


def test_enable_disable_by_name_or_type(reg):
    reg.disable('json')
    with pytest.raises(ContentDisallowed):
        reg.loads(b'1', 'application/json', 'utf-8')
    reg.enable('application/json')
    assert reg.loads(b'1', 'application/json', 'utf-8') == 1
    with pytest.raises(SerializerNotInstalled):
        reg.enable('nope')
    with pytest.raises(KeyError):  # Kombu raised KeyError here
        reg.disable('nope')


def test_set_default_serializer(reg):
    reg._set_default_serializer('pickle')
    assert reg.dumps({'a': 1})[0] == 'application/x-python-serialize'
    with pytest.raises(SerializerNotInstalled):
        reg._set_default_serializer('nope')


def test_enable_disable_insecure_serializers(restore_disabled):
    enable_insecure_serializers()
    assert not (ALL & registry._disabled_content_types)
    assert loads(pickle.dumps(2), 'application/x-python-serialize', 'binary') == 2
    disable_insecure_serializers()
    assert registry._disabled_content_types >= ALL - {'application/json'}
    disable_insecure_serializers(allowed=['json', 'application/x-msgpack'])
    assert 'application/x-msgpack' not in registry._disabled_content_types
    disable_insecure_serializers(allowed=None)
    assert 'application/json' in registry._disabled_content_types
    enable_insecure_serializers(['json', 'unknown-name'])  # unknown names ignored
    assert 'application/json' not in registry._disabled_content_types
    enable_insecure_serializers(None)
    assert NOTSET is serialization.NOTSET


def test_prepare_accept_content():
    assert prepare_accept_content(None) is None
    assert prepare_accept_content(['json', 'application/x-yaml', 'pickle']) == {
        'application/json', 'application/x-yaml', 'application/x-python-serialize'}
    assert prepare_accept_content(['x'], name_to_type={'x': 'application/x'}) == {'application/x'}
    with pytest.raises(SerializerNotInstalled, match='nope'):
        prepare_accept_content(['json', 'nope'])


def test_missing_library_names_the_pip_extra():
    reg = SerializerRegistry()
    with patch.dict(sys.modules, {'msgpack': None, 'yaml': None}):
        register_msgpack(reg)
        register_yaml(reg)
    with pytest.raises(SerializerNotInstalled, match=r'pip install "kombu\[msgpack\]"'):
        reg.dumps(1, 'msgpack')
    with pytest.raises(SerializerNotInstalled, match=r'pip install "kombu\[msgpack\]"'):
        reg.loads(b'\x01', 'application/x-msgpack', 'binary')
    with pytest.raises(SerializerNotInstalled, match=r'pip install "kombu\[yaml\]"'):
        reg.loads(b'a: 1', 'application/x-yaml', 'utf-8')
    with pytest.raises(SerializerNotInstalled, match=r'pip install "kombu\[yaml\]"'):
        reg.dumps(1, 'yaml')
    assert reg.name_to_type['yaml'] == 'application/x-yaml'


def test_entry_point_serializers_load_lazily_once(reg):
    ep = Mock()
    ep.name = 'plug'
    hook = Mock(side_effect=lambda: reg.register(
        'plug', lambda s: 'P', lambda s: 'p', 'application/x-plug'))
    reg._on_miss = hook
    assert reg.dumps(1, 'json')[0] == 'application/json'
    hook.assert_not_called()  # no miss, no metadata scan
    assert reg.dumps(1, 'plug')[2] == 'P'
    with pytest.raises(SerializerNotInstalled):
        reg.dumps(1, 'other')
    hook.assert_called_once_with()


def test_broken_entry_point_does_not_break_lookups(reg):
    reg._on_miss = Mock(side_effect=RuntimeError('bad plugin'))
    with pytest.raises(SerializerNotInstalled):
        reg.dumps(1, 'missing')
    assert reg.dumps(1, 'json')[0] == 'application/json'


def test_helpers():
    assert parenthesize_alias('json', 'application/json') == 'json (application/json)'
    assert parenthesize_alias('', 'application/json') == 'application/json'
    assert pickle_loads(memoryview(pickle.dumps([1]))) == [1]
    assert unpickle(pickle.dumps([2])) == [2]
    assert isinstance(pickle_protocol, int)
    assert codec('a', 'b', None).content_encoding == 'b'
    assert serialization.pickle is pickle


# -- property tests: every serializer round-trips -------------------------------

common = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)


@pytest.mark.parametrize('name', ['json', 'pickle', 'yaml', 'msgpack'])
@settings(max_examples=50)
@given(value=common)
def test_roundtrip_property(name, value):
    ctype, cenc, payload = dumps(value, name)
    if isinstance(payload, str):
        payload = payload.encode(cenc)
    assert loads(payload, ctype, cenc, accept={ctype}) == value


@given(st.binary(min_size=1))
def test_bytes_roundtrip_without_serializer(value):
    ctype, cenc, payload = dumps(value)
    assert loads(payload, ctype, cenc, accept=set()) == value


@given(st.text(min_size=1).filter(lambda s: not any(0xd800 <= ord(c) < 0xe000 for c in s)))
def test_text_roundtrip_without_serializer(value):
    ctype, cenc, payload = dumps(value)
    assert loads(payload, ctype, cenc, accept={'text/plain'}) == value


@given(st.binary(min_size=1))
def test_garbage_never_escapes_as_untyped_error(data):
    # (pickle is left out: unpickling arbitrary bytes is exactly what not to do)
    for ctype in sorted(ALL - {'application/x-python-serialize'}):
        try:
            loads(data, ctype, 'utf-8', accept=ALL)
        except DecodeError:
            pass
