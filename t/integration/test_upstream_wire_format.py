"""Serialization and compression output must match upstream Kombu byte for byte.

Upstream Kombu runs in a throw-away virtualenv (t/upstream.py): each side
encodes the same values, and each side decodes what the other encoded.
"""
from __future__ import annotations

import base64
import json as stdjson

import pytest

from kombu import compression, serialization
from t.upstream import run_upstream

pytestmark = pytest.mark.integration

VALUES = '''
import datetime, decimal, uuid
VALUES = [
    {'a': [1, 2.5, None, True, 'é', {'n': -1}]},
    'plain text é',
    b'\\xff\\x00bytes',
    {'when': datetime.datetime(2024, 5, 6, 7, 8, 9, 123456),
     'aware': datetime.datetime(2024, 5, 6, 7, 8, 9,
                                tzinfo=datetime.timezone(datetime.timedelta(hours=-3))),
     'day': datetime.date(2024, 1, 2), 'at': datetime.time(1, 2, 3, 4),
     'money': decimal.Decimal('-12.50'),
     'id': uuid.UUID('12345678-1234-5678-1234-567812345678'),
     'blob': b'\\x00\\xff', 'text_bytes': b'abc'},
]
'''

ENCODE = VALUES + '''
import base64, json
from kombu import serialization, compression
out = []
for value in VALUES:
    for ser in (None, 'json', 'pickle', 'raw'):
        if ser == 'raw' and not isinstance(value, (str, bytes)):
            continue
        ctype, cenc, payload = serialization.dumps(value, ser)
        if isinstance(payload, str):
            payload = payload.encode('utf-8')
        out.append([repr(ser), ctype, cenc, base64.b64encode(payload).decode()])
for method in ('gzip', 'bzip2', 'lzma'):
    body, ctype = compression.compress(b'hello world' * 10, method)
    out.append([method, ctype, '', base64.b64encode(body).decode()])
print(json.dumps(out))
'''


def _ours() -> list[list[str]]:
    namespace: dict = {}
    exec(VALUES, namespace)
    out = []
    for value in namespace['VALUES']:
        for ser in (None, 'json', 'pickle', 'raw'):
            if ser == 'raw' and not isinstance(value, (str, bytes)):
                continue
            ctype, cenc, payload = serialization.dumps(value, ser)
            if isinstance(payload, str):
                payload = payload.encode('utf-8')
            out.append([repr(ser), ctype, cenc, base64.b64encode(payload).decode()])
    for method in ('gzip', 'bzip2', 'lzma'):
        body, ctype = compression.compress(b'hello world' * 10, method)
        out.append([method, ctype, '', base64.b64encode(body).decode()])
    return out


def test_encoded_bytes_match_upstream():
    upstream = stdjson.loads(run_upstream(ENCODE, timeout=120))
    assert _ours() == upstream


def test_upstream_decodes_what_we_encode():
    encoded = _ours()
    script = VALUES + f'''
import base64
from kombu import serialization, compression
encoded = {encoded!r}
decoded = []
for ser, ctype, cenc, payload in encoded:
    raw = base64.b64decode(payload)
    if cenc == '':
        decoded.append(compression.decompress(raw, ctype) == b'hello world' * 10)
    else:
        decoded.append(serialization.loads(raw, ctype, cenc, accept={{ctype}}))
expected = []
for value in VALUES:
    for ser in (None, 'json', 'pickle', 'raw'):
        if ser == 'raw' and not isinstance(value, (str, bytes)):
            continue
        expected.append(value)
expected += [True, True, True]
assert decoded == expected, (decoded, expected)
print('ok')
'''
    assert run_upstream(script, timeout=120).strip() == 'ok'
