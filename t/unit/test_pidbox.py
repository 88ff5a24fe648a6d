from __future__ import annotations

import socket
import threading
import time
import warnings

import pytest

from kombu import Connection, Consumer, Queue, pidbox
from kombu.clocks import LamportClock
from kombu.utils.functional import lazy


class NodeThread(threading.Thread):
    """A pidbox node consuming its commands on a connection of its own."""

    def __init__(self, mailbox, hostname):
        super().__init__(daemon=True, name=f'node-{hostname}')
        self.connection = Connection('memory://')
        self.node = mailbox(self.connection).Node(hostname, state={'count': 0, 'seen': []})
        self._halt = threading.Event()
        self.ready = threading.Event()
        self.error = None

        @self.node.handler
        def ping(state, **kwargs):
            return {'ok': 'pong'}

        @self.node.handler
        def inc(state, by=1):
            state['count'] += by
            state['seen'].append(by)
            return state['count']

        @self.node.handler
        def count(state):
            return state['count']

        @self.node.handler
        def boom(state):
            raise RuntimeError('handler failed')

    def run(self):
        try:
            self.node.channel = self.connection.channel()
            consumer = self.node.listen()
            self.ready.set()
            with consumer:
                while not self._halt.is_set():
                    try:
                        self.connection.drain_events(timeout=0.05)
                    except socket.timeout:
                        pass
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
            self.ready.set()
        finally:
            self.connection.release()

    def stop(self):
        self._halt.set()
        self.join(10)
        assert not self.is_alive()
        if self.error is not None:
            raise self.error


@pytest.fixture
def namespace(uname):
    return uname('ns').replace('.', '-')


@pytest.fixture
def conn():
    with Connection('memory://') as connection:
        yield connection


@pytest.fixture
def nodes_of():
    started = []

    def start(mailbox, *hostnames):
        threads = [NodeThread(mailbox, hostname) for hostname in hostnames]
        for thread in threads:
            thread.start()
        for thread in threads:
            assert thread.ready.wait(10)
        started.extend(threads)
        return {t.node.hostname: t for t in threads}

    yield start
    for thread in started:
        thread.stop()


def _merge(replies):
    merged = {}
    for reply in replies:
        assert len(reply) == 1
        merged.update(reply)
    return merged


@pytest.mark.parametrize('exchange_type', ['fanout', 'direct'])
def test_multi_call_collects_three_replies(conn, namespace, nodes_of, exchange_type):
    mailbox = pidbox.Mailbox(namespace, type=exchange_type)
    nodes_of(mailbox, 'a@host', 'b@host', 'c@host')
    seen = []
    start = time.monotonic()
    replies = mailbox(conn).multi_call('ping', timeout=10, limit=3, callback=seen.append)
    assert time.monotonic() - start < 10
    assert len(replies) == 3
    assert _merge(replies) == {h: {'ok': 'pong'} for h in ('a@host', 'b@host', 'c@host')}
    assert seen == replies


def test_multi_call_without_limit_waits_for_timeout(conn, namespace, nodes_of):
    mailbox = pidbox.Mailbox(namespace, type='fanout')
    nodes_of(mailbox, 'a', 'b', 'c')
    start = time.monotonic()
    replies = mailbox(conn).multi_call('ping', timeout=0.5)
    elapsed = time.monotonic() - start
    assert sorted(_merge(replies)) == ['a', 'b', 'c']
    assert 0.5 <= elapsed < 5


def test_multi_call_limit_stops_early(conn, namespace, nodes_of):
    mailbox = pidbox.Mailbox(namespace, type='fanout')
    nodes_of(mailbox, 'a', 'b', 'c')
    replies = mailbox(conn).multi_call('ping', timeout=10, limit=2)
    assert len(replies) == 2


def test_call_to_named_nodes_and_cast_reaches_only_destination(conn, namespace, nodes_of):
    mailbox = pidbox.Mailbox(namespace, type='fanout')
    nodes = nodes_of(mailbox, 'a', 'b', 'c')
    bound = mailbox(conn)
    assert bound.cast(['b'], 'inc', {'by': 5}) is None
    bound.cast(['b', 'c'], 'inc')
    # Each node handles its queue in order, so the counts include the casts.
    replies = bound.call(['a', 'b', 'c'], 'count', timeout=10)
    assert _merge(replies) == {'a': 0, 'b': 6, 'c': 1}
    assert nodes['a'].node.state['seen'] == []
    assert nodes['b'].node.state['seen'] == [5, 1]
    assert nodes['c'].node.state['seen'] == [1]
    only_a = bound.call(['a'], 'ping', timeout=10)
    assert only_a == [{'a': {'ok': 'pong'}}]


def test_abcast_reaches_every_node(conn, namespace, nodes_of):
    mailbox = pidbox.Mailbox(namespace, type='fanout')
    nodes_of(mailbox, 'a', 'b', 'c')
    bound = mailbox(conn)
    bound.abcast('inc', {'by': 2})
    assert _merge(bound.multi_call('count', timeout=10, limit=3)) == {'a': 2, 'b': 2, 'c': 2}


def test_pattern_and_matcher_select_nodes(conn, namespace, nodes_of):
    mailbox = pidbox.Mailbox(namespace, type='fanout')
    nodes_of(mailbox, 'worker1@x', 'worker2@x', 'beat@x')
    replies = mailbox(conn)._broadcast('ping', {}, reply=True, timeout=0.5,
                                      pattern='worker*', matcher='glob')
    assert sorted(_merge(replies)) == ['worker1@x', 'worker2@x']


def test_handler_error_is_replied_not_raised(conn, namespace, nodes_of):
    mailbox = pidbox.Mailbox(namespace, type='fanout')
    nodes_of(mailbox, 'a')
    replies = mailbox(conn).call(['a'], 'boom', timeout=10)
    assert replies == [{'a': {'error': "RuntimeError('handler failed')"}}]
    # The node survives and answers the next command.
    assert mailbox(conn).call(['a'], 'ping', timeout=10) == [{'a': {'ok': 'pong'}}]


def test_unknown_command_on_cast_is_logged_and_node_survives(conn, namespace, nodes_of):
    mailbox = pidbox.Mailbox(namespace, type='fanout')
    nodes_of(mailbox, 'a')
    mailbox(conn).cast(['a'], 'no_such_command')
    replies = mailbox(conn).call(['a'], 'no_such_command', timeout=10)
    assert replies == [{'a': {'error': "KeyError('no_such_command')"}}]


def test_call_with_no_nodes_times_out_empty(conn, namespace):
    mailbox = pidbox.Mailbox(namespace, type='fanout')
    start = time.monotonic()
    assert mailbox(conn).multi_call('ping', timeout=0.2) == []
    assert time.monotonic() - start >= 0.2


def test_destination_must_be_a_sequence(conn, namespace):
    mailbox = pidbox.Mailbox(namespace)(conn)
    with pytest.raises(ValueError, match='destination must be a list/tuple'):
        mailbox.cast('a', 'ping')
    with pytest.raises(ValueError, match='pattern and matcher'):
        mailbox._broadcast('ping', pattern=1, matcher='glob')


def test_names_and_defaults(namespace):
    mailbox = pidbox.Mailbox(namespace)
    assert mailbox.exchange.name == f'{namespace}.pidbox'
    assert mailbox.exchange.type == 'direct'
    assert mailbox.exchange.durable is False
    assert mailbox.reply_exchange.name == f'reply.{namespace}.pidbox'
    assert mailbox.reply_exchange.type == 'direct'
    assert mailbox.accept == ['json']
    assert mailbox.serializer is None
    assert mailbox.queue_exclusive is True and mailbox.queue_durable is False
    assert mailbox.reply_queue_expires == 10.0
    assert pidbox.REPLY_QUEUE_EXPIRES == 10
    queue = mailbox.get_queue('n1')
    assert queue.name == f'n1.{namespace}.pidbox'
    assert queue.exchange is mailbox.exchange
    assert queue.auto_delete is True and queue.durable is False
    reply_queue = mailbox.get_reply_queue()
    assert reply_queue.name == f'{mailbox.oid}.reply.{namespace}.pidbox'
    assert reply_queue.routing_key == mailbox.oid
    assert reply_queue.expires == 10.0
    assert mailbox.reply_queue.routing_key == mailbox.oid
    with pytest.raises(ValueError):
        pidbox.Mailbox(namespace, queue_exclusive=True, queue_durable=True)


def test_bound_copies_have_their_own_reply_routing(conn, namespace):
    mailbox = pidbox.Mailbox(namespace)
    first, second = mailbox(conn), mailbox(conn)
    assert first.connection is conn and mailbox.connection is None
    assert first.oid != second.oid
    assert first.reply_queue.routing_key == first.oid
    assert second.reply_queue.routing_key == second.oid


def _capture(conn, mailbox):
    """A queue bound to the mailbox exchange, recording what is published there."""
    queue = Queue(f'capture.{mailbox.namespace}', mailbox.exchange, routing_key='')
    captured = []
    consumer = Consumer(conn.channel(), [queue], no_ack=True, accept=['json'],
                        callbacks=[lambda body, message: captured.append((body, message))])
    consumer.consume()
    return consumer, captured


def test_wire_format_of_cast_and_call(conn, namespace):
    clock = LamportClock()
    mailbox = pidbox.Mailbox(namespace, type='fanout', clock=clock)
    bound = mailbox(conn)
    consumer, captured = _capture(conn, mailbox)
    with consumer:
        sent_at = time.time()
        bound.cast(['n1'], 'shutdown', {'reason': 'x'})
        conn.drain_events(timeout=2)
        body, message = captured.pop()
        assert body == {'method': 'shutdown', 'arguments': {'reason': 'x'},
                        'destination': ['n1'], 'pattern': None, 'matcher': None}
        assert message.content_type == 'application/json'
        assert message.headers['clock'] == 1
        # As in Kombu, a cast has _broadcast's default timeout of one second.
        assert sent_at + 1 <= message.headers['expires'] <= time.time() + 1

        before = time.time()
        assert bound.multi_call('ping', timeout=0.2) == []
        # The command was drained by the collect loop, on the same connection.
        body, message = captured.pop()
        assert set(body) == {'method', 'arguments', 'destination', 'pattern', 'matcher',
                             'ticket', 'reply_to'}
        assert body['method'] == 'ping' and body['arguments'] == {}
        assert body['destination'] is None
        assert body['reply_to'] == {'exchange': f'reply.{namespace}.pidbox',
                                    'routing_key': bound.oid}
        assert isinstance(body['ticket'], str) and len(body['ticket']) == 36
        assert message.headers['clock'] == 2
        assert before + 0.2 <= message.headers['expires'] <= time.time() + 0.2


def test_reply_wire_format_and_clock(conn, namespace):
    mailbox = pidbox.Mailbox(namespace, type='fanout')
    node = mailbox(conn).Node('n1', channel=conn.default_channel)
    node.handlers['ping'] = lambda state: 'pong'
    reply_queue = Queue(f'captured.{namespace}', mailbox.reply_exchange,
                        routing_key='rk-1')
    with conn.SimpleQueue(reply_queue) as replies:
        class FakeMessage:
            headers = {'clock': 41}
        result = node.handle_message(
            {'method': 'ping', 'arguments': {}, 'destination': None,
             'reply_to': {'exchange': f'reply.{namespace}.pidbox', 'routing_key': 'rk-1'},
             'ticket': 'T-1'}, FakeMessage())
        assert result == 'pong'
        reply = replies.get(timeout=2)
        assert reply.payload == {'n1': 'pong'}
        assert reply.headers['ticket'] == 'T-1'
        # Adjusted to the sender's 41, then forwarded for the reply.
        assert reply.headers['clock'] == 43
        reply.ack()


def test_node_ignores_commands_for_others(conn, namespace):
    mailbox = pidbox.Mailbox(namespace)
    node = mailbox.Node('me', channel=conn.default_channel, handlers={'ping': lambda s: 1})
    assert node.handle_message({'method': 'ping', 'destination': ['other']}) is None
    assert node.handle_message({'method': 'ping', 'destination': ['me']}) == 1
    assert node.handle_message({'method': 'ping', 'pattern': 'o.*',
                                'matcher': 'pcre'}) is None
    assert node.handle_message({'method': 'ping', 'pattern': 'm.*',
                                'matcher': 'pcre'}) == 1
    assert node.dispatch_from_message({'method': 'ping'}) == 1


def test_node_defaults_and_handler_registry_is_shared(namespace):
    mailbox = pidbox.Mailbox(namespace)
    registry = {}
    node = mailbox.Node('n', handlers=registry)

    @node.handler
    def stats(state):
        return state
    assert registry == {'stats': stats}
    assert node.mailbox is mailbox
    assert mailbox.Node().hostname == socket.gethostname()


def test_pidbox_in_use_warning(conn, namespace):
    mailbox = pidbox.Mailbox(namespace)(conn)
    node = mailbox.Node('dup', channel=conn.default_channel)
    consumer = node.Consumer()
    queue = consumer.queues[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        queue.on_declared(queue.name, 0, 0)
        assert caught == []
        queue.on_declared(queue.name, 0, 1)
    assert len(caught) == 1
    assert 'A node named dup is already using this process mailbox' in str(caught[0].message)


def test_replies_of_other_tickets_are_not_returned(conn, namespace):
    mailbox = pidbox.Mailbox(namespace, type='fanout')
    bound = mailbox(conn)
    reply_queue = bound.reply_queue(conn.default_channel)
    reply_queue.declare()
    # A stale reply (another ticket) sits in our reply queue.
    bound._publish_reply({'old': 1}, bound.reply_exchange.name, bound.oid, 'stale-ticket',
                         channel=conn.default_channel)
    assert bound._collect('fresh-ticket', timeout=0.2, channel=conn.default_channel) == []
    assert list(bound.unclaimed['stale-ticket']) == [{'old': 1}]


def test_producer_pool_is_used_and_reevaluated(conn, namespace, nodes_of):
    from kombu.pools import producers
    calls = []

    def pool():
        calls.append(1)
        return producers[conn]
    mailbox = pidbox.Mailbox(namespace, type='fanout', producer_pool=lazy(pool))
    nodes_of(mailbox, 'a')
    assert mailbox(conn).call(['a'], 'ping', timeout=10) == [{'a': {'ok': 'pong'}}]
    assert mailbox.producer_pool is producers[conn]
    del mailbox.producer_pool  # what Celery does after a fork
    assert mailbox.producer_pool is producers[conn]
    assert len(calls) >= 2


def test_collect_refuses_replies_outside_accept(conn, namespace):
    from kombu.exceptions import ContentDisallowed
    bound = pidbox.Mailbox(namespace)(conn)
    channel = conn.channel()
    bound.reply_queue(channel).declare()
    exchange = bound.reply_exchange.name
    bound._publish_reply({'ok': 1}, exchange, bound.oid, 't1')
    seen = []
    assert bound._collect('t1', limit=1, callback=seen.append, channel=channel) == [{'ok': 1}]
    assert seen == [{'ok': 1}]
    bound._publish_reply({'evil': 1}, exchange, bound.oid, 't2', serializer='pickle')
    with pytest.raises(ContentDisallowed):
        bound._collect('t2', limit=1, channel=channel)
    bound._publish_reply({'fine': 1}, exchange, bound.oid, 't3', serializer='pickle')
    assert bound._collect('t3', limit=1, channel=channel, accept=['pickle']) == [{'fine': 1}]
