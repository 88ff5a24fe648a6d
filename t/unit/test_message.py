from __future__ import annotations

import logging

import pytest

from kombu.compression import compress
from kombu.exceptions import ContentDisallowed, DecodeError, MessageStateError
from kombu.message import ACK_STATES, Message
from kombu.serialization import dumps
from kombu.transport.base import Message as TransportMessage
from t.unit.recording import RecordingChannel


def json_message(payload, channel=None, **kwargs):
    content_type, encoding, body = dumps(payload, serializer='json')
    return Message(body=body, content_type=content_type, content_encoding=encoding,
                   channel=channel, delivery_tag=kwargs.pop('delivery_tag', 7), **kwargs)


def test_transport_base_message_is_the_same_class():
    assert TransportMessage is Message
    assert ACK_STATES == {'ACK', 'REJECTED', 'REQUEUED'}


def test_defaults():
    m = Message()
    assert m.headers == {} and m.properties == {} and m.delivery_info == {}
    assert m.errors == [] and m._state == 'RECEIVED' and not m.acknowledged


def test_decode_and_cache():
    m = json_message({'a': [1, 2]})
    first = m.decode()
    assert first == {'a': [1, 2]}
    assert m.payload is first and m.decode() is first


@pytest.mark.parametrize('falsy', [0, '', [], {}, False])
def test_falsy_payloads_are_decoded_once(falsy, monkeypatch):
    m = json_message(falsy)
    calls = []
    real = m._decode

    def counting():
        calls.append(1)
        return real()
    monkeypatch.setattr(m, '_decode', counting)
    assert m.payload == falsy and m.payload == falsy and m.decode() == falsy
    assert calls == [1]


def test_accept_is_enforced_on_decode():
    m = json_message([1], accept={'application/x-python-serialize'})
    with pytest.raises(ContentDisallowed):
        m.decode()
    assert json_message([1], accept={'application/json'}).decode() == [1]


def test_compressed_body_is_decompressed_at_construction():
    content_type, encoding, body = dumps({'big': 'x' * 100}, serializer='json')
    compressed, ctype = compress(body, 'zlib')
    m = Message(body=compressed, content_type=content_type, content_encoding=encoding,
                headers={'compression': ctype})
    assert m.errors == [] and m.body == body.encode()
    assert m.payload == {'big': 'x' * 100}


def test_decompression_failure_is_kept_and_reraised_later():
    m = Message(body=b'not zlib at all', content_type='application/json',
                headers={'compression': 'application/x-gzip'})
    assert not m.errors  # inflated lazily: the first read of the body fails
    with pytest.raises(DecodeError, match='Cannot decompress'):
        m.body
    assert len(m.errors) == 1 and m.body == b'not zlib at all'
    with pytest.raises(DecodeError, match='Cannot decompress'):
        m.decode()
    with pytest.raises(DecodeError, match='Cannot decompress'):
        m._reraise_error()
    seen = []
    m._reraise_error(lambda msg, exc: seen.append((msg, exc)))
    assert seen and seen[0][0] is m


def test_postencode_encodes_str_bodies():
    m = Message(body='héllo', postencode='utf-8')
    assert m.body == 'héllo'.encode()


def test_ack_reject_requeue_go_to_the_channel_once():
    chan = RecordingChannel()
    m = json_message(1, channel=chan, delivery_tag=1)
    m.ack()
    assert chan.acked == [1] and m.acknowledged and m._state == 'ACK'
    for settle in (m.ack, m.reject, m.requeue):
        with pytest.raises(MessageStateError):
            settle()
    r = json_message(1, channel=chan, delivery_tag=2)
    r.reject()
    assert chan.rejected == [(2, False)] and r._state == 'REJECTED'
    q = json_message(1, channel=chan, delivery_tag=3)
    q.requeue()
    assert chan.rejected[-1] == (3, True) and q._state == 'REQUEUED'
    with pytest.raises(MessageStateError, match='REQUEUED'):
        q.ack()


def test_ack_multiple():
    chan = RecordingChannel()
    json_message(1, channel=chan, delivery_tag=5).ack(multiple=True)
    assert chan.calls[-1] == ('basic_ack', {'delivery_tag': 5, 'multiple': True})


def test_settling_without_channel_raises():
    m = json_message(1)
    for settle in (m.ack, m.reject, m.requeue):
        with pytest.raises(MessageStateError, match='receiving channel'):
            settle()


def test_ack_for_no_ack_consumer_is_a_no_op():
    chan = RecordingChannel()
    chan.no_ack_consumers.add('tag-na')
    m = json_message(1, channel=chan, delivery_info={'consumer_tag': 'tag-na'})
    m.ack()
    m.ack()
    assert chan.acked == [] and not m.acknowledged
    other = json_message(1, channel=chan, delivery_info={'consumer_tag': 'tag-x'})
    other.ack()
    assert chan.acked == [7]


class FailingChannel(RecordingChannel):
    def basic_ack(self, delivery_tag, multiple=False):
        raise ConnectionResetError('gone')

    def basic_reject(self, delivery_tag, requeue=False):
        raise ConnectionResetError('gone')


def test_ack_log_error_and_reject_log_error_log_and_swallow(caplog):
    logger = logging.getLogger('t.message')
    chan = FailingChannel()
    with caplog.at_level(logging.CRITICAL, logger='t.message'):
        json_message(1, channel=chan).ack_log_error(logger, (ConnectionResetError,))
        json_message(1, channel=chan).reject_log_error(logger, (ConnectionResetError,))
    assert len([r for r in caplog.records if "Couldn't" in r.getMessage()]) == 2
    with pytest.raises(ConnectionResetError):
        json_message(1, channel=chan).ack_log_error(logger, (KeyError,))


def test_ack_log_error_reraises_broken_pipe():
    class Broken(RecordingChannel):
        def basic_ack(self, delivery_tag, multiple=False):
            raise BrokenPipeError()
    with pytest.raises(BrokenPipeError):
        json_message(1, channel=Broken()).ack_log_error(
            logging.getLogger('t'), (OSError,))


def test_repr_shows_details_but_not_the_body():
    m = json_message({'secret': 'hunter2'}, properties={'correlation_id': 'c1'},
                     delivery_info={'exchange': 'ex', 'routing_key': 'rk'})
    text = repr(m)
    assert 'hunter2' not in text
    assert "'correlation_id': 'c1'" in text and "'routing_key': 'rk'" in text
    assert "'state': 'RECEIVED'" in text and 'body_length' in text


def test_ack_with_a_mock_channel_like_celery_tests():
    from unittest.mock import Mock
    channel = Mock()
    m = json_message(1, channel=channel, delivery_tag=9)
    m.ack()
    channel.basic_ack.assert_called_once_with(9, multiple=False)
    assert m.acknowledged


# -- lazy, bounded decompression ---------------------------------------------------

def _compressed_message(data, content_type='application/json', method='zlib', **kwargs):
    body, ctype = compress(data, method)
    return Message(body=body, content_type=content_type, content_encoding='utf-8',
                   headers={'compression': ctype}, **kwargs)


def test_compressed_body_is_inflated_on_first_read_only(monkeypatch):
    import kombu.message
    calls = []
    real = kombu.message.decompress
    monkeypatch.setattr(kombu.message, 'decompress',
                        lambda *a: calls.append(a) or real(*a))
    m = _compressed_message(b'{"a": 1}')
    assert calls == [] and 'body_length' in repr(m) and calls == []
    assert m.decode() == {'a': 1} and m.body == b'{"a": 1}'
    assert len(calls) == 1


def test_refused_content_type_is_never_inflated(monkeypatch):
    import kombu.message
    calls = []
    monkeypatch.setattr(kombu.message, 'decompress', lambda *a: calls.append(a))
    m = _compressed_message(bytes(1024), content_type='application/x-python-serialize',
                            accept={'application/json'})
    with pytest.raises(ContentDisallowed):
        m.decode()
    with pytest.raises(ContentDisallowed):
        Message(body=m.body, content_type='application/x-python-serialize',
                headers={'compression': 'application/x-gzip'},
                accept={'application/json'}).body
    assert calls == []


def test_bomb_raises_typed_decode_error_and_keeps_raw_body():
    from kombu.exceptions import DecompressionLimitExceeded
    m = _compressed_message(bytes(10 * 1024 * 1024), content_type='application/data')
    m.max_decompressed_size = 1024 * 1024
    raw_size = m.compressed_size
    with pytest.raises(DecompressionLimitExceeded):
        m.decode()
    assert len(m.body) == raw_size < 64 * 1024  # kept as received, for logging
    with pytest.raises(DecompressionLimitExceeded):
        m.decode()


@pytest.mark.parametrize('where', ['consumer', 'transport_options'])
def test_consumer_hands_bomb_to_on_decode_error_message_kept(where):
    from kombu import Connection, Consumer, Producer, Queue
    from kombu.exceptions import DecompressionLimitExceeded
    options = {'max_decompressed_size': 1024 * 1024} if where == 'transport_options' else {}
    with Connection('memory://', transport_options=options) as conn:
        q = Queue('bomb-q', routing_key='bomb-q')
        bomb, ctype = compress(bytes(8 * 1024 * 1024), 'zlib')
        Producer(conn).publish(bomb, routing_key='bomb-q', declare=[q], serializer=None,
                               content_type='application/data', content_encoding='binary',
                               headers={'compression': ctype})
        Producer(conn).publish({'ok': 1}, routing_key='bomb-q', compression='zlib')
        errors, bodies = [], []

        def on_error(message, exc):
            errors.append(exc)
            assert not message.acknowledged
            message.reject()

        kwargs = {'max_decompressed_size': 1024 * 1024} if where == 'consumer' else {}
        with Consumer(conn, [q], on_decode_error=on_error,
                      callbacks=[lambda body, m: (bodies.append(body), m.ack())], **kwargs):
            for _ in range(2):
                conn.drain_events(timeout=2)
        assert len(errors) == 1 and isinstance(errors[0], DecompressionLimitExceeded)
        assert errors[0].limit == 1024 * 1024
        assert bodies == [{'ok': 1}]
