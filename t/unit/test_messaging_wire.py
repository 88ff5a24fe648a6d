"""Golden test: Producer.publish hands the transport exactly what upstream Kombu does.

The same script runs here and under upstream Kombu (throw-away virtualenv);
the recorded prepare_message/basic_publish/declare calls must be identical.
"""
from __future__ import annotations

import json
import subprocess
import sys

from t.upstream import run_upstream

SCRIPT = r'''
import json
from kombu import Exchange, Queue, Producer

def text(v):
    return v.decode('latin-1') if isinstance(v, bytes) else v

class Client:
    def __init__(self):
        self.declared_entities = set()

class Conn:
    def __init__(self):
        self.client = Client()

class Chan:
    def __init__(self):
        self.connection = Conn()
        self.events = {'basic_return': set()}
        self.published, self.declared = [], []
    def prepare_queue_arguments(self, arguments, **kw):
        return arguments
    def prepare_message(self, body, priority=None, content_type=None,
                        content_encoding=None, headers=None, properties=None):
        return {'body': text(body), 'priority': priority, 'content_type': content_type,
                'content_encoding': content_encoding, 'headers': dict(headers or {}),
                'properties': properties}
    def basic_publish(self, message, **kw):
        self.published.append(dict(kw, message=message))
    def exchange_declare(self, **kw):
        self.declared.append(('exchange_declare', kw))
    def queue_declare(self, **kw):
        self.declared.append(('queue_declare', kw))
        return kw['queue'], 0, 0
    def queue_bind(self, **kw):
        self.declared.append(('queue_bind', kw))

chan = Chan()
ex = Exchange('ex', 'topic')
q = Queue('q', ex, 'a.#', message_ttl=3)
p = Producer(chan, exchange=ex, routing_key='a.b')
p.publish({'a': [1, 2.5, None, 'é']})
p.publish('text é', content_type='text/plain')
p.publish(b'\x00\xff', content_type='application/octet-stream')
p.publish({'a': 1}, serializer='pickle')
p.publish({'z': 'z' * 50}, compression='zlib', headers={'x': 1})
p.publish({'p': 1}, priority=5, expiration=2.5, correlation_id='cid', reply_to='r',
          delivery_mode='transient', mandatory=True, routing_key='a.c',
          timeout=3, confirm_timeout=4, app_id='app', type='t')
p.publish(1, exchange=Exchange('other', delivery_mode=1), routing_key='x')
p.publish(2, exchange='named', declare=[q])
p.publish(3, declare=[q])
print(json.dumps({'published': chan.published, 'declared': chan.declared},
                 sort_keys=True, default=repr))
'''


def test_publish_calls_match_upstream_kombu():
    upstream = json.loads(run_upstream(SCRIPT))
    ours = json.loads(subprocess.run(
        [sys.executable, '-c', SCRIPT], check=True, capture_output=True, text=True,
        timeout=60).stdout)
    assert len(ours['published']) == 9
    for mine, theirs in zip(ours['published'], upstream['published']):
        assert mine == theirs
    assert ours == upstream
