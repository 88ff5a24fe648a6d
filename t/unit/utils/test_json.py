from __future__ import annotations

import json as stdjson
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kombu.utils import json
from kombu.utils.json import JSONEncoder, dumps, loads, object_hook, register_type

# Produced by Kombu 5.7 for the same value (golden wire format).
GOLDEN_VALUE = {
    'dt': datetime(2024, 5, 6, 7, 8, 9, 123456),
    'tz': datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2))),
    'd': date(2024, 1, 2),
    't': time(1, 2, 3, 4),
    'dec': Decimal('3.14'),
    'u': uuid.UUID('12345678-1234-5678-1234-567812345678'),
    'b': b'abc',
    'b64': b'\xff\x00',
    'list': [1, 2.5, None, True, 'é'],
}
GOLDEN_TEXT = (
    '{"dt": {"__type__": "datetime", "__value__": "2024-05-06T07:08:09.123456"}, '
    '"tz": {"__type__": "datetime", "__value__": "2024-05-06T07:08:09+02:00"}, '
    '"d": {"__type__": "date", "__value__": "2024-01-02"}, '
    '"t": {"__type__": "time", "__value__": "01:02:03.000004"}, '
    '"dec": {"__type__": "decimal", "__value__": "3.14"}, '
    '"u": {"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}}, '
    '"b": {"__type__": "bytes", "__value__": "abc"}, '
    '"b64": {"__type__": "base64", "__value__": "/wA="}, '
    '"list": [1, 2.5, null, true, "\\u00e9"]}'
)


def test_golden_wire_format():
    assert dumps(GOLDEN_VALUE) == GOLDEN_TEXT
    assert loads(GOLDEN_TEXT) == GOLDEN_VALUE


def test_loads_accepts_bytes_like():
    data = GOLDEN_TEXT.encode()
    for form in (data, bytearray(data), memoryview(data)):
        assert loads(form) == GOLDEN_VALUE


def test_loads_without_decode_bytes_uses_stdlib_detection():
    assert loads(b'{"a": 1}', decode_bytes=False) == {'a': 1}


def test_custom_dumps_and_loads_functions():
    assert dumps({'b': 1, 'a': 2}, sort_keys=True) == '{"a": 2, "b": 1}'
    assert dumps([1], default_kwargs={'separators': (',', ':')}) == '[1]'
    assert dumps({'a': [1]}, default_kwargs={'indent': 1}, separators=(',', ':')) == \
        '{\n "a":[\n  1\n ]\n}'
    assert loads('{"a": 1}', _loads=stdjson.loads) == {'a': 1}
    assert loads('{"__type__": "x", "__value__": 1}', object_hook=lambda o: o) == \
        {'__type__': 'x', '__value__': 1}


def test_unknown_marker_is_an_error():
    with pytest.raises(ValueError, match='nope'):
        loads('{"__type__": "nope", "__value__": 1}')


def test_envelope_needs_exactly_two_keys():
    obj = {'__type__': 'date', '__value__': '2020-01-01', 'extra': 1}
    assert loads(stdjson.dumps(obj)) == obj
    assert object_hook({'__type__': 'x'}) == {'__type__': 'x'}


def test_dunder_json_and_unknown_objects():
    class Reducible:
        def __json__(self):
            return {'r': 1}
    assert dumps(Reducible()) == '{"r": 1}'
    with pytest.raises(TypeError):
        dumps(object())


def test_subclass_of_registered_type():
    class MyDecimal(Decimal):
        pass
    assert dumps(MyDecimal('1.5')) == '{"__type__": "decimal", "__value__": "1.5"}'


def test_register_type_with_and_without_marker():
    class Point:
        def __init__(self, x, y):
            self.x, self.y = x, y

        def __eq__(self, other):
            return (self.x, self.y) == (other.x, other.y)

    class Plain:
        pass

    try:
        register_type(Point, 'point', lambda p: [p.x, p.y], lambda v: Point(*v))
        register_type(Plain, None, lambda o: 'plain')
        text = dumps({'p': Point(1, 2), 'q': Plain()})
        assert text == '{"p": {"__type__": "point", "__value__": [1, 2]}, "q": "plain"}'
        assert loads(text) == {'p': Point(1, 2), 'q': 'plain'}
    finally:
        json._encoders.pop(Point, None)
        json._encoders.pop(Plain, None)
        json._decoders.pop('point', None)


def test_encoder_class_usable_directly():
    assert stdjson.dumps({'d': date(2020, 1, 1)}, cls=JSONEncoder) == \
        '{"d": {"__type__": "date", "__value__": "2020-01-01"}}'


json_scalars = (
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False) | st.binary()
    | st.datetimes() | st.datetimes(timezones=st.timezones()) | st.dates() | st.times()
    | st.decimals(allow_nan=False) | st.uuids()
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_roundtrip_property(value):
    assert loads(dumps(value)) == value
    assert loads(dumps(value).encode()) == value


@given(st.dictionaries(st.text(), st.integers()))
def test_plain_json_matches_stdlib(value):
    # Wire compatibility: for plain data we write exactly what json.dumps writes.
    assert dumps(value) == stdjson.dumps(value)


# -- direct C encoder/scanner paths: same text and errors as the stdlib ----------

def test_dumps_matches_stdlib_with_kombu_encoder():
    value = {'a': [1, 2.5, None, True], 'é': 'ü', 'when': datetime(2024, 1, 2, 3, 4, 5),
             'raw': b'\xff\x00', 'n': float('inf')}
    assert json.dumps(value) == stdjson.dumps(value, cls=json.JSONEncoder)


def test_dumps_circular_and_unknown_raise_like_stdlib():
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match='Circular reference'):
        json.dumps(loop)
    with pytest.raises(TypeError, match='not JSON serializable'):
        json.dumps({'x': object()})


def test_loads_escaped_type_key_whitespace_and_extra_data():
    assert json.loads('{"\\u005f_type__": "bytes", "__value__": "x"}') == b'x'
    assert json.loads(' \n{"a": 1}\t') == {'a': 1}
    with pytest.raises(stdjson.JSONDecodeError, match='Extra data'):
        json.loads('{"a": 1} 2')
    with pytest.raises(stdjson.JSONDecodeError, match='Expecting value'):
        json.loads('')
