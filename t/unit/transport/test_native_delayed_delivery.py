"""Native delayed delivery: names, routing keys, and the topology on a real RabbitMQ."""
from __future__ import annotations

import logging

import pytest

from kombu import Exchange, Queue, binding
from kombu.transport import native_delayed_delivery as ndd
from kombu.transport import pyamqp
from t.integration.rabbitmq.broker import private_vhost, rabbitmqctl_json
from t.unit.transport.test_pyamqp import ConnInfo


def test_public_constants():
    assert ndd.MAX_NUMBER_OF_BITS_TO_USE == 28
    assert ndd.MAX_LEVEL == 27
    assert ndd.CELERY_DELAYED_DELIVERY_EXCHANGE == 'celery_delayed_delivery'


def test_level_name():
    assert ndd.level_name(0) == 'celery_delayed_0'
    assert ndd.level_name(27) == 'celery_delayed_27'
    assert ndd.level_name(3, 'app') == 'app_celery_delayed_3'
    assert ndd.level_name(3, '') == 'celery_delayed_3'
    with pytest.raises(ValueError):
        ndd.level_name(-1)


def test_calculate_routing_key():
    assert ndd.calculate_routing_key(1, 'rk') == '0.' * 27 + '1.rk'
    assert ndd.calculate_routing_key(5, 'a.b') == '0.' * 25 + '1.0.1.a.b'
    assert ndd.calculate_routing_key(2 ** 27, 'x') == '1.' + '0.' * 27 + 'x'


def test_calculate_routing_key_does_not_stack_prefixes():
    once = ndd.calculate_routing_key(3, 'tasks')
    assert ndd.calculate_routing_key(9, once) == ndd.calculate_routing_key(9, 'tasks')


def test_calculate_routing_key_rejects_bad_input():
    with pytest.raises(ValueError):
        ndd.calculate_routing_key(0, 'rk')
    with pytest.raises(ValueError):
        ndd.calculate_routing_key(-5, 'rk')
    with pytest.raises(ValueError):
        ndd.calculate_routing_key(1, '')


def test_too_long_countdown_is_capped_not_misrouted():
    key = ndd.calculate_routing_key(2 ** 40, 'rk')
    assert key == '1.' * 28 + 'rk'


def test_declare_rejects_unknown_queue_type():
    with pytest.raises(ValueError):
        ndd.declare_native_delayed_delivery_exchanges_and_queues(object(), 'stream')


@pytest.fixture
def vhost_conn():
    with private_vhost('ndd') as vhost:
        transport = pyamqp.Transport(ConnInfo(virtual_host=vhost))
        conn = transport.establish_connection()
        try:
            yield vhost, conn
        finally:
            transport.close_connection(conn)


def _bindings(vhost):
    rows = rabbitmqctl_json('list_bindings', '-p', vhost, 'source_name', 'destination_name',
                            'destination_kind', 'routing_key')
    return {(r['source_name'], r['destination_name'], r['destination_kind'], r['routing_key'])
            for r in rows if r['source_name']}


@pytest.mark.parametrize('queue_type', ['classic', 'quorum'])
def test_topology_matches_kombu(vhost_conn, queue_type):
    vhost, conn = vhost_conn
    ndd.declare_native_delayed_delivery_exchanges_and_queues(conn, queue_type, prefix='p')
    ndd.declare_native_delayed_delivery_exchanges_and_queues(conn, queue_type, prefix='p')

    queues = {q['name']: q for q in rabbitmqctl_json(
        'list_queues', '-p', vhost, 'name', 'arguments', 'durable', 'type')}
    assert set(queues) == {f'p_celery_delayed_{n}' for n in range(28)}
    level5 = dict(_arg_pairs(queues['p_celery_delayed_5']['arguments']))
    expected = {'x-queue-type': queue_type, 'x-overflow': 'reject-publish',
                'x-message-ttl': 32000, 'x-dead-letter-exchange': 'p_celery_delayed_4'}
    if queue_type == 'quorum':
        expected['x-dead-letter-strategy'] = 'at-least-once'
    assert level5 == expected
    level0 = dict(_arg_pairs(queues['p_celery_delayed_0']['arguments']))
    assert level0['x-dead-letter-exchange'] == 'p_celery_delayed_delivery'
    assert level0['x-message-ttl'] == 1000
    assert all(q['durable'] for q in queues.values())

    found = _bindings(vhost)
    expected_bindings = set()
    for level in range(28):
        name = f'p_celery_delayed_{level}'
        expected_bindings.add((name, name, 'queue', '*.' * (27 - level) + '1.#'))
        if level:
            expected_bindings.add(
                (name, f'p_celery_delayed_{level - 1}', 'exchange', '*.' * (27 - level) + '0.#'))
    expected_bindings.add(('p_celery_delayed_0', 'p_celery_delayed_delivery', 'exchange',
                           '*.' * 27 + '0.#'))
    assert found == expected_bindings


def _arg_pairs(arguments):
    # rabbitmqctl's JSON shows a table either as a dict or as [key, type, value] rows
    if isinstance(arguments, dict):
        return list(arguments.items())
    return [(a[0], a[-1]) for a in arguments]


def test_bind_queue(vhost_conn, caplog):
    vhost, conn = vhost_conn
    ndd.declare_native_delayed_delivery_exchanges_and_queues(conn, 'classic')
    chan = conn.channel()
    topic = Exchange('tasks', type='topic')
    direct = Exchange('direct_tasks', type='direct')
    plain = Queue('q_plain', topic, routing_key='job.run')
    multi = Queue('q_multi', bindings=[binding(topic, routing_key='#.any'),
                                       binding(direct, routing_key='d')])
    for q in (plain, multi):
        q(chan).declare()
    with caplog.at_level(logging.WARNING):
        ndd.bind_queue_to_native_delayed_delivery_exchange(conn, plain)
        ndd.bind_queue_to_native_delayed_delivery_exchange(conn, multi)
    assert 'direct_tasks is a direct exchange' in caplog.text
    found = _bindings(vhost)
    assert ('celery_delayed_delivery', 'tasks', 'exchange', '#.job.run') in found
    assert ('tasks', 'q_plain', 'queue', '#.job.run') in found
    assert ('celery_delayed_delivery', 'tasks', 'exchange', '#.any') in found
    assert ('tasks', 'q_multi', 'queue', '#.any') in found
    assert not any(b[1] == 'direct_tasks' and b[0] == 'celery_delayed_delivery'
                   for b in found)
