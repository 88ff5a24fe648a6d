from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.transport.virtual import BrokerState, ttl

from .virtual.helpers import bodies, publish

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))


def options(tmp_path, **extra):
    return {'data_folder_in': str(tmp_path / 'data'), 'data_folder_out': str(tmp_path / 'data'),
            'control_folder': str(tmp_path / 'control'),
            'processed_folder': str(tmp_path / 'processed'), **extra}


def make_transport(tmp_path, **extra):
    """A filesystem transport with its own in-process state, like another process."""

    class Transport(filesystem.Transport):
        global_state = BrokerState()

    client = SimpleNamespace(transport_options=options(tmp_path, **extra), virtual_host='/')
    transport = Transport(client)
    transport.establish_connection()
    return transport


@pytest.fixture
def channel(tmp_path):
    t = make_transport(tmp_path)
    yield t.create_channel(t)
    t.close_connection(t)


def test_attributes():
    assert filesystem.Transport.driver_type == 'filesystem'
    assert filesystem.Transport.default_port == 0
    assert 'fanout' in filesystem.Transport.implements.exchange_type
    assert filesystem.Channel.supports_fanout
    assert filesystem.exchange_queue_t._fields == ('routing_key', 'pattern', 'queue')
    assert filesystem.VERSION and filesystem.EXCHANGE_NAME_RE.match('a.b-c_d')
    assert 'CON' in filesystem.WIN_RESERVED_NAMES


def test_option_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    class Transport(filesystem.Transport):
        global_state = BrokerState()

    transport = Transport(SimpleNamespace(transport_options={}, virtual_host='/'))
    channel = transport.create_channel(transport)
    assert (channel.data_folder_in, channel.data_folder_out) == ('data_in', 'data_out')
    assert channel.store_processed is False
    assert channel.processed_folder == 'processed'
    assert str(channel.control_folder) == 'control'
    assert (tmp_path / 'data_in').is_dir() and (tmp_path / 'control').is_dir()


def test_fifo_order(channel):
    channel.queue_declare('q')
    for i in range(50):
        publish(channel, str(i), routing_key='q')
    assert channel._size('q') == 50
    assert bodies(channel, 'q') == [str(i).encode() for i in range(50)]
    assert channel._size('q') == 0


def test_file_names_and_atomic_write(channel, tmp_path):
    publish(channel, 'x', routing_key='my.queue')
    names = [n for n in os.listdir(tmp_path / 'data') if not n.startswith('.')]
    assert len(names) == 1
    assert names[0].endswith('.my.queue.msg')
    assert names[0].partition('.')[2] == 'my.queue.msg'  # what upstream readers match
    stored = json.loads((tmp_path / 'data' / names[0]).read_text())
    assert stored['properties']['delivery_info'] == {'exchange': '', 'routing_key': 'my.queue'}
    assert not [n for n in os.listdir(tmp_path / 'data') if n.endswith('.tmp')]


def test_in_and_out_folders(tmp_path):
    producer = make_transport(tmp_path, data_folder_out=str(tmp_path / 'a'),
                              data_folder_in=str(tmp_path / 'b'))
    consumer = make_transport(tmp_path, data_folder_out=str(tmp_path / 'b'),
                              data_folder_in=str(tmp_path / 'a'))
    publish(producer.create_channel(producer), 'hello', routing_key='q')
    assert bodies(consumer.create_channel(consumer), 'q') == [b'hello']


def test_store_processed(tmp_path):
    t = make_transport(tmp_path, store_processed=True)
    channel = t.create_channel(t)
    publish(channel, 'x', routing_key='q')
    assert bodies(channel, 'q') == [b'x']
    assert [n for n in os.listdir(tmp_path / 'processed') if n.endswith('.q.msg')]


def test_purge_delete_size(channel):
    channel.queue_declare('q')
    for i in range(3):
        publish(channel, str(i), routing_key='q')
    assert channel.queue_declare('q', passive=True).message_count == 3
    assert channel.queue_purge('q') == 3
    publish(channel, 'x', routing_key='q')
    channel.queue_delete('q')
    assert channel._size('q') == 0
    with pytest.raises(ChannelError):
        channel.queue_declare('q', passive=True)


def test_restore_goes_to_front(tmp_path):
    t = make_transport(tmp_path)
    channel = t.create_channel(t)
    for body in 'abc':
        publish(channel, body, routing_key='q')
    first, second = channel.basic_get('q'), channel.basic_get('q')
    channel.close()
    other = t.create_channel(t)
    assert bodies(other, 'q') == [b'a', b'b', b'c']
    assert first.body == b'a' and second.body == b'b'


def test_reject_requeue(channel):
    for body in 'ab':
        publish(channel, body, routing_key='q')
    channel.basic_get('q').reject(requeue=True)
    assert bodies(channel, 'q') == [b'a', b'b']


def test_priority(channel):
    channel.queue_declare('q', arguments={'x-max-priority': 10})
    for priority in (1, 9, 5, 9):
        publish(channel, str(priority), routing_key='q', priority=priority)
    assert channel.basic_get('q').body == b'9'
    publish(channel, '10', routing_key='q', priority=10)
    assert bodies(channel, 'q') == [b'10', b'9', b'5', b'1']


def test_routing_across_processes(tmp_path):
    """Bindings made by one process route the messages of another."""
    t1, t2 = make_transport(tmp_path), make_transport(tmp_path)
    consumer, producer = t1.create_channel(t1), t2.create_channel(t2)
    consumer.exchange_declare('fan', 'fanout')
    consumer.queue_bind('f1', 'fan', '')
    consumer.queue_bind('f2', 'fan', '')
    consumer.exchange_declare('top', 'topic')
    consumer.queue_bind('t1', 'top', '*.stock.#')
    producer.exchange_declare('fan', 'fanout')
    producer.exchange_declare('top', 'topic')
    publish(producer, 'all', 'fan', '')
    publish(producer, 'usd', 'top', 'usd.stock')
    publish(producer, 'no', 'top', 'stock.nasdaq')
    assert bodies(consumer, 'f1') == [b'all'] and bodies(consumer, 'f2') == [b'all']
    assert bodies(consumer, 't1') == [b'usd']
    # an unbind in one process is seen by the other (routes memo invalidated)
    consumer.queue_unbind('f2', 'fan', '')
    publish(producer, 'again', 'fan', '')
    assert bodies(consumer, 'f1') == [b'again'] and bodies(consumer, 'f2') == []
    assert [tuple(e) for e in producer.get_table('fan')] == [('', '', 'f1')]


def test_queue_ttl_declared_by_another_process(tmp_path, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(ttl, 'clock', lambda: now[0])
    t1, t2 = make_transport(tmp_path), make_transport(tmp_path)
    consumer, producer = t1.create_channel(t1), t2.create_channel(t2)
    consumer.queue_declare('q', arguments={'x-message-ttl': 1000})
    publish(producer, 'a', routing_key='q')
    now[0] += 2
    assert consumer.basic_get('q') is None


def test_invalid_names(channel):
    for name in ('../evil', 'a/b', 'CON', '..', 'x' * 0 + '.'):
        with pytest.raises(ChannelError):
            channel._exchange_file(name)
    with pytest.raises(ChannelError):
        publish(channel, 'x', routing_key='a/b')
    assert channel.get_table('') == []


def test_missing_table_is_empty(channel):
    assert channel.get_table('nothing-here') == []


CONSUMER = textwrap.dedent('''
    import json, socket, sys
    from kombu import Connection
    opts = json.loads(sys.argv[1])
    got = []
    with Connection('filesystem://', transport_options=opts) as conn:
        queue = conn.SimpleQueue('race')
        print('ready', flush=True)
        sys.stdin.readline()  # both processes start together
        while True:
            try:
                message = queue.get(timeout=1.0)
            except queue.Empty:
                break
            got.append(message.payload)
            message.ack()
        queue.close()
    print(json.dumps(got))
''')


def test_two_consumer_processes_race(tmp_path):
    """Two real processes drain one queue: every message exactly once."""
    count = 1000
    opts = options(tmp_path)

    from kombu import Connection
    with Connection('filesystem://', transport_options=opts) as conn:
        queue = conn.SimpleQueue('race')
        for i in range(count):
            queue.put(i)
        queue.close()
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = [subprocess.Popen([sys.executable, '-c', CONSUMER, json.dumps(opts)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, cwd=ROOT, env=env, text=True)
             for _ in range(2)]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == 'ready'
        for proc in procs:
            proc.stdin.write('go\n')
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=90)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    merged = results[0] + results[1]
    assert len(merged) == count
    assert sorted(merged) == list(range(count))
    # each process saw its share in FIFO order
    for got in results:
        assert got == sorted(got)
    assert results[0] and results[1]


FANOUT_CONSUMER = textwrap.dedent('''
    import json, sys
    from kombu import Connection, Exchange, Queue
    opts, name = json.loads(sys.argv[1]), sys.argv[2]
    exchange = Exchange('bcast', 'fanout')
    with Connection('filesystem://', transport_options=opts) as conn:
        queue = Queue(name, exchange)
        queue(conn.default_channel).declare()
        print('ready', flush=True)
        sys.stdin.readline()
        got = []
        with conn.Consumer([queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            while len(got) < 5:
                conn.drain_events(timeout=10)
        print(json.dumps(got), flush=True)
''')


def test_fanout_across_processes(tmp_path):
    opts = options(tmp_path)
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = [subprocess.Popen(
        [sys.executable, '-c', FANOUT_CONSUMER, json.dumps(opts), f'listener-{n}'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env=env, text=True) for n in range(2)]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == 'ready'
        from kombu import Connection, Exchange
        with Connection('filesystem://', transport_options=opts) as conn:
            producer = conn.Producer(exchange=Exchange('bcast', 'fanout'))
            for i in range(5):
                producer.publish(i)
        for proc in procs:
            proc.stdin.write('go\n')
            proc.stdin.flush()
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert json.loads(out.strip().splitlines()[-1]) == [0, 1, 2, 3, 4]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def claimed_files(tmp_path):
    return os.listdir(tmp_path / 'data' / '.claimed')


def test_claim_kept_until_ack(channel, tmp_path):
    publish(channel, 'a', routing_key='q')
    publish(channel, 'b', routing_key='q')
    message = channel.basic_get('q')
    assert len(claimed_files(tmp_path)) == 1
    message.ack()
    assert claimed_files(tmp_path) == []
    channel.basic_get('q', no_ack=True)
    assert claimed_files(tmp_path) == []


def test_claim_settled_on_reject_and_close(tmp_path):
    t = make_transport(tmp_path)
    channel = t.create_channel(t)
    for body in 'abc':
        publish(channel, body, routing_key='q')
    channel.basic_get('q').reject(requeue=True)
    channel.basic_get('q').reject(requeue=False)
    channel.basic_get('q')
    assert len(claimed_files(tmp_path)) == 1
    channel.close()
    assert claimed_files(tmp_path) == []
    assert bodies(t.create_channel(t), 'q') == [b'b', b'c']  # 'a' requeued, then dropped


def test_claim_settled_for_consumer_without_ack(tmp_path):
    t = make_transport(tmp_path)
    channel = t.create_channel(t)
    got = []
    channel.basic_consume('q', True, lambda m: got.append(m.body), 'tag')
    publish(channel, 'a', routing_key='q')
    t.drain_events(t, timeout=1)
    assert got == [b'a'] and claimed_files(tmp_path) == []


CRASHER = textwrap.dedent('''
    import json, os, sys
    from kombu import Connection
    opts = json.loads(sys.argv[1])
    with Connection('filesystem://', transport_options=opts) as conn:
        queue = conn.SimpleQueue('crash')
        message = queue.get(timeout=5)
        print(message.payload, flush=True)
        os._exit(1)  # dies holding the message unacked
''')


def test_messages_of_a_dead_consumer_are_recovered(tmp_path):
    opts = options(tmp_path)
    from kombu import Connection
    with Connection('filesystem://', transport_options=opts) as conn:
        queue = conn.SimpleQueue('crash')
        queue.put('precious')
        queue.put('second')
        queue.close()
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, '-c', CRASHER, json.dumps(opts)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert proc.returncode == 1 and proc.stdout.strip() == 'precious', proc.stderr
    with Connection('filesystem://', transport_options=opts) as conn:
        queue = conn.SimpleQueue('crash')
        got = [queue.get(timeout=2).payload for _ in range(2)]
        queue.close()
    assert sorted(got) == ['precious', 'second']
