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
    assert len(m.errors) == 1 and m.body == b'not zlib at all'
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
