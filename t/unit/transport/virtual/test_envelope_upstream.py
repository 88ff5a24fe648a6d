"""Golden test: the envelope stored by a virtual transport is byte-for-byte Kombu's.

The same public-API script runs here and under upstream Kombu (in its own
virtualenv, see t/upstream.py); the stored JSON must be identical apart from
the random delivery tag.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from t.upstream import run_upstream

SCRIPT = '''
import json
from kombu import Connection, Exchange, Queue

with Connection('memory://') as conn:
    channel = conn.channel()
    queue = Queue('golden-envelope', Exchange('golden-ex', 'direct'), routing_key='rk')
    producer = conn.Producer(channel)
    out = []
    for kwargs in (
        dict(body={'hello': 'world', 'n': [1, 2.5, None]}, serializer='json'),
        dict(body={'x': 1}, serializer='json', headers={'h': 'v'}, priority=3,
             correlation_id='c-1', reply_to='reply', delivery_mode=1),
        dict(body=b'\\x00\\xffbinary', content_type='application/data',
             content_encoding='binary'),
        dict(body='text \\u00e9', serializer='json', compression='zlib'),
    ):
        producer.publish(exchange=queue.exchange, routing_key='rk', declare=[queue], **kwargs)
        raw = channel._get('golden-envelope')
        assert raw['properties'].pop('delivery_tag')
        out.append(raw)
    queue(channel).delete()
    print(json.dumps(out))
'''


def run_here() -> str:
    proc = subprocess.run([sys.executable, '-c', SCRIPT], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_envelope_matches_upstream():
    ours = run_here()
    try:
        theirs = run_upstream(SCRIPT)
    except subprocess.TimeoutExpired:  # pragma: no cover
        pytest.skip('upstream Kombu did not answer in time')
    assert json.loads(ours) == json.loads(theirs)
    assert ours == theirs  # same key order too: the bytes stored are the same
