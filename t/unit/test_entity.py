from __future__ import annotations

import pickle
from copy import copy

import pytest

from kombu.entity import (
    DELIVERY_MODES,
    INTERNAL_EXCHANGE_PREFIX,
    PERSISTENT_DELIVERY_MODE,
    TRANSIENT_DELIVERY_MODE,
    Exchange,
    Queue,
    binding,
    maybe_delivery_mode,
    pretty_bindings,
)
from kombu.exceptions import ContentDisallowed, NotBoundError
from kombu.serialization import dumps
from t.unit.recording import RecordingChannel


def publish_json(chan, queue_name, payload, content_type=None):
    ctype, enc, body = dumps(payload, serializer='json')
    chan.basic_publish(chan.prepare_message(body, 0, content_type or ctype, enc),
                       exchange='', routing_key=queue_name)


# -- constants and helpers ---------------------------------------------------

def test_constants():
    assert (TRANSIENT_DELIVERY_MODE, PERSISTENT_DELIVERY_MODE) == (1, 2)
    assert DELIVERY_MODES == {'transient': 1, 'persistent': 2}
    assert INTERNAL_EXCHANGE_PREFIX == ('amq.',)


@pytest.mark.parametrize('value,expected', [
    (None, 2), (0, 2), ('', 2), (1, 1), (2, 2), ('transient', 1), ('persistent', 2),
])
def test_maybe_delivery_mode(value, expected):
    assert maybe_delivery_mode(value) == expected


def test_maybe_delivery_mode_unknown_name_is_a_clear_key_error():
    with pytest.raises(KeyError, match='unknown delivery mode'):
        maybe_delivery_mode('sometimes')
    assert maybe_delivery_mode(None, default=1) == 1


def test_pretty_bindings():
    e = Exchange('ex')
    assert pretty_bindings([binding(e, 'a')]) == '[ex->a]'


# -- Exchange ----------------------------------------------------------------

def test_exchange_defaults_and_delivery_mode_names():
    e = Exchange('ex')
    assert (e.type, e.durable, e.auto_delete, e.passive) == ('direct', True, False, False)
    assert e.delivery_mode is None and e.arguments is None
    assert Exchange('ex', delivery_mode='transient').delivery_mode == 1
    assert Exchange('ex', delivery_mode='persistent').delivery_mode == 2


def test_exchange_declare_arguments():
    chan = RecordingChannel()
    e = Exchange('ex', 'topic', channel=chan, durable=False, arguments={'a': 1})
    e.declare()
    assert chan.calls == [('exchange_declare', {
        'exchange': 'ex', 'type': 'topic', 'durable': False, 'auto_delete': False,
        'arguments': {'a': 1}, 'nowait': False, 'passive': False})]
    e.declare(nowait=True, passive=True)
    assert chan.calls[-1][1]['nowait'] is True and chan.calls[-1][1]['passive'] is True


def test_exchange_declare_uses_explicit_channel_when_unbound():
    chan = RecordingChannel()
    Exchange('ex', passive=True).declare(channel=chan)
    assert chan.calls[0][1]['passive'] is True


@pytest.mark.parametrize('exchange', [
    Exchange(''), Exchange('amq.direct'), Exchange('x', no_declare=True)])
def test_exchange_declare_skipped_for_default_internal_and_no_declare(exchange):
    chan = RecordingChannel()
    assert exchange.bind(chan).declare() is None
    assert chan.calls == []


def test_exchange_internal_flag_is_passed_only_when_set():
    chan = RecordingChannel()
    Exchange('x', internal=True).declare(channel=chan)
    assert chan.calls[0][1]['internal'] is True
    Exchange('y').declare(channel=chan)
    assert 'internal' not in chan.calls[1][1]


def test_exchange_to_exchange_bind_and_unbind():
    chan = RecordingChannel()
    dest = Exchange('dest', channel=chan)
    dest.bind_to(Exchange('src'), routing_key='k', arguments={'x': 1})
    dest.unbind_from('src', routing_key='k')
    assert chan.calls == [
        ('exchange_bind', {'destination': 'dest', 'source': 'src', 'routing_key': 'k',
                           'nowait': False, 'arguments': {'x': 1}}),
        ('exchange_unbind', {'destination': 'dest', 'source': 'src', 'routing_key': 'k',
                             'nowait': False, 'arguments': None}),
    ]


def test_exchange_message_and_publish():
    chan = RecordingChannel()
    e = Exchange('ex', channel=chan, delivery_mode='transient')
    m = e.Message('héllo', priority=3)
    assert m['properties'] == {'delivery_mode': 1, 'priority': 3}
    assert m['content-encoding'] == 'utf-8'
    assert e.Message(b'x', delivery_mode=2)['properties']['delivery_mode'] == 2
    chan.queue_bind(queue='q', exchange='ex', routing_key='rk')
    e.publish(m, routing_key='rk')
    e.publish('plain str', routing_key='rk')
    assert [entry[0]['body'] for entry in chan.queues['q']] == ['héllo', 'plain str']


def test_exchange_delete():
    chan = RecordingChannel()
    Exchange('ex', channel=chan).delete(if_unused=True)
    assert chan.calls == [('exchange_delete',
                           {'exchange': 'ex', 'if_unused': True, 'nowait': False})]


def test_exchange_unbound_operations_raise():
    with pytest.raises(NotBoundError):
        Exchange('ex').declare()


def test_exchange_call_binds_a_copy():
    chan = RecordingChannel()
    e = Exchange('ex', 'fanout')
    bound = e(chan)
    assert bound is not e and bound.channel is chan and bound == e
    assert repr(bound) == f'<Exchange ex(fanout) bound to chan:{chan.channel_id}>'
    assert repr(e) == '<unbound Exchange ex(fanout)>'
    assert str(Exchange('')) == "Exchange ''(direct)"


def test_exchange_equality_and_hash():
    a = Exchange('ex', 'topic', arguments={'x': 1})
    assert a == Exchange('ex', 'topic', arguments={'x': 1})
    assert a != Exchange('ex', 'direct')
    assert a != Exchange('other', 'topic', arguments={'x': 1})
    assert a != Exchange('ex', 'topic', durable=False, arguments={'x': 1})
    assert hash(a) == hash(Exchange('ex', 'fanout'))
    assert a != 'ex'


def test_exchange_pickle_and_copy_keep_attributes():
    e = Exchange('ex', 'headers', durable=False, auto_delete=True,
                 delivery_mode=1, arguments={'x-match': 'all'}, no_declare=True)
    for other in (pickle.loads(pickle.dumps(e)), copy(e)):
        assert other == e and other.as_dict() == e.as_dict()
        assert other.no_declare is True and not other.is_bound


def test_exchange_can_cache_declaration():
    assert Exchange('ex').can_cache_declaration
    assert not Exchange('ex', auto_delete=True).can_cache_declaration


def test_exchange_binding_helper():
    e = Exchange('ex')
    b = e.binding('rk', arguments={'a': 1})
    assert isinstance(b, binding) and b.exchange is e and b.routing_key == 'rk'


# -- binding -------------------------------------------------------------------

def test_binding_declare_bind_unbind():
    chan = RecordingChannel()
    e = Exchange('ex', 'topic')
    b = binding(e, 'a.#', arguments={'x': 1}, unbind_arguments={'y': 2})
    q = Queue('q', [b], channel=chan)
    q.declare()
    assert chan.names() == ['queue_declare', 'exchange_declare', 'queue_bind']
    assert chan.calls[2][1] == {'queue': 'q', 'exchange': 'ex', 'routing_key': 'a.#',
                                'arguments': {'x': 1}, 'nowait': False}
    b.unbind(q)
    assert chan.calls[-1] == ('queue_unbind', {
        'queue': 'q', 'exchange': 'ex', 'routing_key': 'a.#', 'arguments': {'y': 2},
        'nowait': False})


def test_binding_equality_repr():
    e = Exchange('ex')
    assert binding(e, 'k') == binding(Exchange('ex'), 'k')
    assert binding(e, 'k') != binding(e, 'other')
    assert len({binding(e, 'k'), binding(e, 'k')}) == 1
    assert repr(binding(e, 'k')) == '<binding: ex->k>'
    assert binding(e, 'k').as_dict(recurse=True)['exchange']['name'] == 'ex'


def test_binding_without_exchange_name_declares_nothing():
    chan = RecordingChannel()
    binding(Exchange(''), 'k').declare(chan)
    binding(None, 'k').declare(chan)
    assert chan.calls == []


# -- Queue -----------------------------------------------------------------------

def test_queue_defaults():
    q = Queue('q')
    assert q.exchange == Exchange('') and q.routing_key == ''
    assert (q.durable, q.exclusive, q.auto_delete, q.no_ack) == (True, False, False, False)
    assert Queue('q', exclusive=True).auto_delete is True
    assert Queue('q', 'ex').exchange == Exchange('ex')


def test_queue_declare_declares_exchange_queue_and_binding():
    chan = RecordingChannel()
    q = Queue('q', Exchange('ex', 'direct'), 'rk', channel=chan,
              queue_arguments={'x-queue-type': 'quorum'}, binding_arguments={'b': 1})
    assert q.declare() == 'q'
    assert chan.names() == ['exchange_declare', 'queue_declare', 'queue_bind']
    assert chan.calls[1][1] == {
        'queue': 'q', 'passive': False, 'durable': True, 'exclusive': False,
        'auto_delete': False, 'arguments': {'x-queue-type': 'quorum'}, 'nowait': False}
    assert chan.calls[2][1] == {'queue': 'q', 'exchange': 'ex', 'routing_key': 'rk',
                                'arguments': {'b': 1}, 'nowait': False}


def test_queue_on_default_exchange_is_not_bound():
    chan = RecordingChannel()
    Queue('q', channel=chan).declare()
    assert chan.names() == ['queue_declare']


def test_queue_no_declare():
    chan = RecordingChannel()
    assert Queue('q', Exchange('ex'), channel=chan, no_declare=True).declare() == 'q'
    assert chan.calls == []


def test_queue_declare_server_named_updates_name_and_calls_on_declared():
    chan = RecordingChannel()
    seen = []
    q = Queue('', Exchange('ex'), 'rk', exclusive=True,
              on_declared=lambda *ret: seen.append(ret))
    bound = q.bind(chan)
    name = bound.declare()
    assert name.startswith('amq.gen-') and bound.name == name
    assert seen == [(name, 0, 0)]
    assert chan.calls[-1][1]['queue'] == name  # bound under its new name


def test_queue_arguments_go_through_prepare_queue_arguments():
    chan = RecordingChannel(rabbitmq_arguments=True)
    Queue('q', channel=chan, expires=1.5, message_ttl=0.25, max_length=10,
          max_length_bytes=1024, max_priority=9,
          queue_arguments={'x-dead-letter-exchange': 'dlx'}).queue_declare()
    assert chan.calls[0][1]['arguments'] == {
        'x-dead-letter-exchange': 'dlx', 'x-expires': 1500, 'x-message-ttl': 250,
        'x-max-length': 10, 'x-max-length-bytes': 1024, 'x-max-priority': 9}


def test_queue_arguments_unchanged_by_plain_channels():
    chan = RecordingChannel()
    Queue('q', channel=chan, message_ttl=3).queue_declare(passive=True)
    assert chan.calls[0][1]['arguments'] == {} and chan.calls[0][1]['passive'] is True


def test_queue_with_several_bindings_drops_exchange():
    chan = RecordingChannel()
    e1, e2 = Exchange('e1', 'topic'), Exchange('e2', 'fanout')
    q = Queue('q', [binding(e1, 'a.*'), binding(e2)], channel=chan)
    assert q.exchange is None
    q.declare()
    assert sorted(c[1]['exchange'] for c in chan.calls if c[0] == 'queue_bind') == [
        'e1', 'e2']
    assert 'Queue q -> [' in repr(q)


def test_queue_bindings_keyword_merges_with_list():
    e = Exchange('e')
    q = Queue('q', [binding(e, 'a')], bindings=[binding(e, 'b')])
    assert {b.routing_key for b in q.bindings} == {'a', 'b'}


def test_queue_get_returns_decoded_message_and_none_when_empty():
    chan = RecordingChannel()
    q = Queue('q', channel=chan)
    assert q.get() is None
    publish_json(chan, 'q', {'n': 1})
    message = q.get(no_ack=True)
    assert message.payload == {'n': 1} and message.accept is None
    assert chan.calls[-1] == ('basic_get', {'queue': 'q', 'no_ack': True})


def test_queue_get_sets_accept():
    chan = RecordingChannel()
    q = Queue('q', channel=chan)
    publish_json(chan, 'q', [1], content_type='application/json')
    message = q.get(accept=['pickle'])
    assert message.accept == {'application/x-python-serialize'}
    with pytest.raises(ContentDisallowed):
        message.decode()


def test_queue_purge_consume_cancel_delete():
    chan = RecordingChannel()
    q = Queue('q', channel=chan, consumer_arguments={'x-priority': 5})
    publish_json(chan, 'q', 1)
    publish_json(chan, 'q', 2)
    assert q.purge() == 2 and q.purge() == 0
    got = []
    q.consume('tag1', callback=got.append, no_ack=True)
    assert chan.calls[-1] == ('basic_consume', {
        'queue': 'q', 'no_ack': True, 'consumer_tag': 'tag1', 'nowait': False,
        'arguments': {'x-priority': 5}, 'on_cancel': None})
    publish_json(chan, 'q', 3)
    assert len(got) == 1
    q.cancel('tag1')
    q.delete(if_empty=True)
    assert chan.calls[-2:] == [
        ('basic_cancel', {'consumer_tag': 'tag1'}),
        ('queue_delete', {'queue': 'q', 'if_unused': False, 'if_empty': True,
                          'nowait': False})]


def test_queue_unbind():
    chan = RecordingChannel()
    q = Queue('q', Exchange('ex'), 'rk', channel=chan)
    q.queue_unbind(arguments={'a': 1})
    q.unbind_from('other', 'k2')
    assert chan.calls == [
        ('queue_unbind', {'queue': 'q', 'exchange': 'ex', 'routing_key': 'rk',
                          'arguments': {'a': 1}, 'nowait': False}),
        ('queue_unbind', {'queue': 'q', 'exchange': 'other', 'routing_key': 'k2',
                          'arguments': None, 'nowait': False})]


def test_queue_bind_binds_exchange_to_same_channel_and_keeps_on_declared():
    chan = RecordingChannel()
    cb = object()
    q = Queue('q', Exchange('ex'), on_declared=cb)
    bound = q.bind(chan)
    assert bound.exchange.channel is chan and bound.on_declared is cb
    assert not q.exchange.is_bound


def test_queue_equality_hash_pickle():
    q = Queue('q', Exchange('ex', 'topic'), 'a.#', queue_arguments={'x': 1},
              max_priority=10, message_ttl=5)
    assert q == Queue('q', Exchange('ex', 'topic'), 'a.#', queue_arguments={'x': 1})
    assert q != Queue('q', Exchange('ex', 'topic'), 'b.#', queue_arguments={'x': 1})
    assert q != Queue('q2', Exchange('ex', 'topic'), 'a.#', queue_arguments={'x': 1})
    assert hash(q) == hash(Queue('q'))
    restored = pickle.loads(pickle.dumps(q))
    assert restored == q and restored.max_priority == 10 and restored.message_ttl == 5.0
    assert copy(q).as_dict() == q.as_dict()


def test_queue_can_cache_declaration():
    assert Queue('q').can_cache_declaration
    assert not Queue('q', auto_delete=True).can_cache_declaration
    assert not Queue('q', exclusive=True).can_cache_declaration
    assert not Queue('q', expires=10).can_cache_declaration
    assert not Queue('q', queue_arguments={'x-expires': 10}).can_cache_declaration


def test_queue_repr():
    assert repr(Queue('q', Exchange('ex'), 'rk')) == (
        '<unbound Queue q -> <unbound Exchange ex(direct)> -> rk>')


def test_queue_from_dict_celery_format():
    q = Queue.from_dict(
        'celery', exchange='celery_ex', exchange_type='topic', routing_key='task.#',
        durable=False, exchange_durable=True, queue_arguments={'x-max-priority': 10},
        consumer_arguments={'x-priority': 1}, delivery_mode='transient',
        auto_delete=False, no_ack=True, message_ttl=30)
    assert q.name == 'celery' and q.routing_key == 'task.#'
    assert q.exchange == Exchange('celery_ex', 'topic', durable=True, delivery_mode=1)
    assert q.durable is False and q.no_ack is True and q.message_ttl == 30.0
    assert q.queue_arguments == {'x-max-priority': 10}
    assert q.consumer_arguments == {'x-priority': 1}
    assert Queue.from_dict('q', binding_key='bk', routing_key='rk').routing_key == 'bk'


def test_queue_as_dict_recurse_bindings():
    e = Exchange('ex')
    d = Queue('q', [binding(e, 'a')]).as_dict(recurse=True)
    assert d['bindings'] == [{'exchange': e.as_dict(), 'routing_key': 'a',
                              'arguments': None, 'unbind_arguments': None}]
    assert d['exchange'] is None and d['name'] == 'q'


def test_queue_content_disallowed_alias():
    assert Queue.ContentDisallowed is ContentDisallowed


def test_queue_as_dict_from_dict_roundtrip_keeps_options():
    q = Queue('rt', Exchange('ex', 'topic', durable=False), 'a.#', max_priority=10,
              message_ttl=2.5, expires=60, max_length=5, consumer_arguments={'c': 1},
              alias='alias', exclusive=True)
    for d in (q.as_dict(), q.as_dict(recurse=True)):
        d = dict(d)
        name = d.pop('name')
        again = Queue.from_dict(name, **d)
        assert again == q and again.as_dict() == q.as_dict()


def test_queue_from_dict_with_bindings():
    e = Exchange('ex')
    q = Queue('q', [binding(e, 'a'), binding(e, 'b')])
    d = q.as_dict(recurse=True)
    again = Queue.from_dict(d.pop('name'), **d)
    assert {(b.exchange.name, b.routing_key) for b in again.bindings} == {
        ('ex', 'a'), ('ex', 'b')}


# -- key= alias, unknown keywords, Kombu's as_dict keys -----------------------------

def test_key_is_the_alias_of_routing_key_on_queue_and_binding():
    import pytest

    from kombu import Exchange, Queue, binding
    media = Exchange('media', 'direct')
    assert Queue('video', exchange=media, key='video').routing_key == 'video'
    assert Queue('video', media, 'video', key='video').routing_key == 'video'
    assert binding(media, key='k').routing_key == 'k'
    assert Queue('q', [binding(media, key='a')]).bindings == {binding(media, 'a')}
    with pytest.raises(TypeError, match='alias'):
        Queue('video', exchange=media, routing_key='a', key='b')
    with pytest.raises(TypeError, match='bogus'):
        binding(media, bogus=1)


def test_unknown_keywords_are_named_in_a_warning():
    import warnings

    import pytest

    from kombu import Connection, Consumer, Exchange, Producer, Queue
    from kombu.exceptions import UnknownArgumentWarning
    with pytest.warns(UnknownArgumentWarning, match="'routingkey'"):
        Queue('q', routingkey='x')
    with pytest.warns(UnknownArgumentWarning, match="'kind'"):
        Exchange('e', kind='topic')
    with Connection('memory://') as conn:
        with pytest.raises(TypeError, match='bogus'):
            Consumer(conn, [Queue('q')], bogus=True)
        producer = Producer(conn)
        with pytest.warns(UnknownArgumentWarning, match='key=.*routing_key'):
            producer.publish({}, key='q')
        with pytest.warns(UnknownArgumentWarning, match='serialiser.*serializer'):
            producer.publish({}, routing_key='q', serialiser='json')
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            # message properties, and the extras Celery passes, go through quietly
            producer.publish({}, routing_key='q', correlation_id='1', reply_to='r',
                             message_id='m', app_id='a', shadow='x', retries=1)
            Queue('q', exchange=Exchange('e', internal=True), routing_key='k', durable=False,
                  queue_arguments={'x': 1}, alias='a', max_priority=3)


# Printed by upstream Kombu 5.7.0 for the same declarations (t/upstream.py's venv):
#   Exchange('media', 'direct', durable=True).as_dict()
#   Queue('video', exchange=..., routing_key='video', message_ttl=5,
#         max_priority=3).as_dict(recurse=True)
UPSTREAM_EXCHANGE = {
    'name': 'media', 'type': 'direct', 'arguments': None, 'durable': True,
    'passive': False, 'auto_delete': False, 'delivery_mode': None, 'no_declare': False,
}
UPSTREAM_QUEUE = {
    'name': 'video', 'exchange': UPSTREAM_EXCHANGE, 'routing_key': 'video',
    'queue_arguments': None, 'binding_arguments': None, 'consumer_arguments': None,
    'durable': True, 'exclusive': False, 'auto_delete': False, 'no_ack': False,
    'alias': None, 'bindings': [], 'no_declare': None, 'expires': None,
    'message_ttl': 5.0, 'max_length': None, 'max_length_bytes': None, 'max_priority': 3,
}


def test_as_dict_has_exactly_kombus_keys_and_values():
    import copy
    import pickle

    from kombu import Exchange, Queue, binding
    media = Exchange('media', 'direct', durable=True)
    assert media.as_dict() == UPSTREAM_EXCHANGE
    assert list(media.as_dict()) == list(UPSTREAM_EXCHANGE)
    video = Queue('video', exchange=media, routing_key='video', message_ttl=5, max_priority=3)
    assert video.as_dict(recurse=True) == UPSTREAM_QUEUE
    assert list(video.as_dict(recurse=True)) == list(UPSTREAM_QUEUE)
    assert binding(media, 'k').as_dict(recurse=True) == {
        'exchange': UPSTREAM_EXCHANGE, 'routing_key': 'k', 'arguments': None,
        'unbind_arguments': None}
    # internal (this package's addition) is kept by copies, pickles and binds
    internal = Exchange('i', 'topic', internal=True)
    assert 'internal' not in internal.as_dict()
    for clone in (copy.copy(internal), pickle.loads(pickle.dumps(internal)),
                  internal.bind(None)):
        assert clone.internal is True
