"""A stored envelope whose body cannot be decoded reaches on_decode_error; nothing is lost."""
from __future__ import annotations

from kombu import Connection, Consumer, Queue
from kombu.exceptions import DecodeError


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
