"""Headers exchanges on Redis: bindings in the shared table, seen across processes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from kombu import Connection, Exchange, Producer, Queue
from kombu.transport.redis import keys as K

pytestmark = pytest.mark.integration

HOLDER = '''
import sys, time
from kombu import Connection
url, queue = sys.argv[1], sys.argv[2]
with Connection(url, transport_options={'visibility_timeout': 1}) as conn:
    message = conn.default_channel.basic_get(queue)
    print('held', message is not None, flush=True)
    time.sleep(60)
'''


def headers_setup(conn, uname):
    exchange = Exchange(uname('hdr-x'), 'headers')
    pdf = Queue(uname('hdr-pdf'), exchange, binding_arguments={'x-match': 'any', 'format': 'pdf'})
    zips = Queue(uname('hdr-zip'), exchange, binding_arguments={'format': 'zip'})
    channel = conn.channel()
    for entity in (exchange, pdf, zips):
        entity.bind(channel).declare()
    return exchange, pdf, zips


def test_binding_stored_in_the_shared_table(redis_url, uname, rclient):
    with Connection(redis_url) as conn:
        exchange, pdf, _ = headers_setup(conn, uname)
    members = {m.decode() for m in rclient.smembers(f'_kombu.binding.{exchange.name}')}
    arguments = {'format': 'pdf', 'x-match': 'any'}
    assert K.binding_member('', json.dumps(arguments, sort_keys=True), pdf.name) in members


def test_binding_made_by_another_process_routes_at_once(redis_url, uname, rclient):
    exchange = Exchange(uname('hdr-x'), 'headers')
    with Connection(redis_url) as publisher:
        exchange.bind(publisher.default_channel).declare()
        producer = Producer(publisher.default_channel)
        producer.publish('early', exchange=exchange, headers={'format': 'pdf'})  # table cached
        # another process binds (written as it would, not through this process)
        queue = uname('hdr-late')
        rclient.sadd(f'_kombu.binding.{exchange.name}',
                     K.binding_member('', json.dumps({'format': 'pdf'}), queue))
        producer.publish('late', exchange=exchange, headers={'format': 'pdf'})
    assert rclient.llen(queue) == 1


def test_restore_of_a_dead_consumers_message_routes_on_headers(redis_url, uname, rclient):
    with Connection(redis_url) as conn:
        exchange, pdf, zips = headers_setup(conn, uname)
        Producer(conn.default_channel).publish(
            'doc', exchange=exchange, headers={'format': 'pdf'}, serializer='json')
    assert rclient.llen(pdf.name) == 1 and rclient.llen(zips.name) == 0
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, '-c', textwrap.dedent(HOLDER), redis_url, pdf.name],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == 'held True'
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert rclient.hlen('unacked') == 1 and rclient.llen(pdf.name) == 0
    time.sleep(1.3)
    with Connection(redis_url, transport_options={'visibility_timeout': 1}) as conn:
        channel = conn.channel()
        for entity in (exchange, pdf, zips):  # a consumer of these queues sweeps
            entity.bind(channel).declare()
        assert channel.qos.restore_visible(num=None, interval=1) == 1
    assert rclient.llen(pdf.name) == 1 and rclient.llen(zips.name) == 0
    assert rclient.hlen('unacked') == 0
