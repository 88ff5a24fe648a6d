"""A stored envelope whose body cannot be decoded reaches on_decode_error; nothing is lost."""
from __future__ import annotations

import json
import os
import socket
from base64 import b64encode
from typing import Any

import pytest

from kombu import Connection, Consumer, Queue
from kombu.exceptions import DecodeError
from kombu.transport import memory


def corrupt_envelope(queue: str) -> dict:
    return {
        'body': '%%%not-base64%%%', 'content-encoding': 'utf-8',
        'content-type': 'application/json', 'headers': {},
        'properties': {'body_encoding': 'base64', 'delivery_tag': 'corrupt-1', 'priority': 0,
                       'delivery_mode': 2,
                       'delivery_info': {'exchange': '', 'routing_key': queue}},
    }


def test_undecodable_body_goes_to_on_decode_error_and_can_be_requeued(uname):
    name = uname('corrupt')
    with Connection('memory://') as conn:
        channel = conn.channel()
        Queue(name, channel=channel).declare()
        channel._put(name, corrupt_envelope(name))
        seen: list[tuple[object, Exception]] = []

        def on_decode_error(message, exc):
            seen.append((message, exc))
            message.reject(requeue=True)

        consumer = Consumer(channel, [Queue(name)], callbacks=[lambda body, msg: None],
                            on_decode_error=on_decode_error, accept=['json'])
        with consumer:
            conn.drain_events(timeout=1)
        assert len(seen) == 1
        message, exc = seen[0]
        assert isinstance(exc, DecodeError)
        assert message.delivery_tag == 'corrupt-1'
        assert channel._size(name) == 1  # requeued, not lost
        channel.queue_delete(name)


def _good(queue: str, n: int) -> dict:
    envelope = corrupt_envelope(queue)
    envelope['body'] = b64encode(json.dumps({'n': n}).encode()).decode()
    envelope['properties'] = dict(envelope['properties'], delivery_tag=f'good-{n}')
    return envelope


#: stored entries that are not envelopes: not a mapping, no properties,
#: properties of the wrong type, headers of the wrong type.
MALFORMED = ['not json at all', {'body': 'x'}, {'properties': ['a'], 'body': 'x'},
             {'properties': {'delivery_tag': 't'}, 'headers': 'h', 'body': 'x'}]


class _Batched(memory.Channel):
    fetch_batch_size = 10


class _BatchedTransport(memory.Transport):
    Channel = _Batched


@pytest.mark.parametrize('transport', [None, _BatchedTransport], ids=['one', 'batched'])
def test_malformed_entries_reach_on_decode_error_and_batch_mates_flow(uname, transport):
    name = uname('malformed')
    with Connection('memory://', transport=transport) as conn:
        channel = conn.channel()
        Queue(name, channel=channel).declare()
        entries = [_good(name, 0), *MALFORMED, _good(name, 1)]
        for entry in entries:
            channel._put(name, entry)
        good: list[int] = []
        bad: list[tuple[Any, Exception]] = []

        def on_decode_error(message: Any, exc: Exception) -> None:
            bad.append((message, exc))
            message.ack()

        consumer = Consumer(channel, [Queue(name)], accept=['json'],
                            callbacks=[lambda body, m: (good.append(body['n']), m.ack())],
                            on_decode_error=on_decode_error)
        with consumer:
            for calls in range(1, len(entries) + 1):
                conn.drain_events(timeout=1)  # each call hands over one, at once
                assert len(good) + len(bad) == calls
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.05)
        assert good == [0, 1]
        assert len(bad) == len(MALFORMED)
        assert all(isinstance(exc, DecodeError) for _, exc in bad)
        assert len({m.delivery_tag for m, _ in bad}) == len(MALFORMED)  # own tags
        assert channel._size(name) == 0
        channel.queue_delete(name)


def test_requeued_malformed_entry_goes_back_as_it_was(uname):
    name = uname('requeue')
    with Connection('memory://') as conn:
        channel = conn.channel()
        Queue(name, channel=channel).declare()
        channel._put(name, 'garbage')
        message = channel.basic_get(name)
        assert message.errors and message.body is None
        message.reject(requeue=True)
        assert channel._get(name) == 'garbage'
        channel.queue_delete(name)


def test_filesystem_unreadable_file_reaches_on_decode_error(tmp_path, uname):
    name = uname('fscorrupt')
    data = tmp_path / 'data'
    opts = {'data_folder_in': str(data), 'data_folder_out': str(data),
            'control_folder': str(tmp_path / 'control')}
    with Connection('filesystem://', transport_options=opts) as conn:
        channel = conn.channel()
        Queue(name, channel=channel).declare()
        with conn.Producer() as producer:
            producer.publish({'n': 0}, routing_key=name, serializer='json')
        (data / f'{"2" * 24}_{"0" * 32}.{name}.msg').write_bytes(b'{not json')  # after
        (data / f'{"2" * 24}_{"1" * 32}.{name}.msg').write_bytes(b'[1, 2]')
        with conn.Producer() as producer:
            producer.publish({'n': 1}, routing_key=name, serializer='json')
        good: list[int] = []
        bad: list[Any] = []

        def on_decode_error(message: Any, exc: Exception) -> None:
            assert isinstance(exc, DecodeError)
            bad.append(message)

        with Consumer(channel, [Queue(name)], accept=['json'], on_decode_error=on_decode_error,
                      callbacks=[lambda body, m: (good.append(body['n']), m.ack())]):
            for calls in range(1, 5):
                conn.drain_events(timeout=1)
                assert len(good) + len(bad) == calls
        assert sorted(good) == [0, 1]
        assert len(bad) == 2
        bad[0].ack()  # dropped: its claimed file goes
        bad[1].reject(requeue=True)  # back in the queue as it was
        claimed = os.listdir(data / '.claimed')
        assert claimed == []
        queued = [p.read_bytes() for p in data.glob(f'*.{name}.msg')]
        assert queued == [b'[1, 2]']
        channel.queue_delete(name)
