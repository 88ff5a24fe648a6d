from __future__ import annotations

import pytest

from kombu.exceptions import BatchPublishError
from kombu.transport.redis import PublishBatch


class RecordingChannel:
    """Routes every publish to one LPUSH and records pipelines sent."""

    def __init__(self, fail=None):
        self.sent = []
        self.fail = fail

    def basic_publish(self, message, _publish_batch=None, **kwargs):
        _publish_batch.add('lpush', 'q', message)

    def _execute_many(self, commands):
        if self.fail is not None:
            raise self.fail
        self.sent.append(list(commands))
        return [1] * len(commands)


def test_flushes_at_max_size_and_on_demand():
    channel = RecordingChannel()
    batch = PublishBatch(channel, max_size=3)
    for i in range(7):
        batch.publish(i)
    assert [len(p) for p in channel.sent] == [3, 3]
    batch.flush()
    assert [len(p) for p in channel.sent] == [3, 3, 1]
    assert channel.sent[0][0] == ('LPUSH', 'q', 0)


def test_failure_is_reported_and_poisons_the_batch():
    batch = PublishBatch(RecordingChannel(fail=ConnectionError('down')), max_size=10)
    batch.publish('m')
    with pytest.raises(BatchPublishError):
        batch.flush()
    with pytest.raises(BatchPublishError):
        batch.publish('again')


def test_add_outside_publish_and_closed_batch():
    batch = PublishBatch(RecordingChannel(), max_size=2)
    with pytest.raises(RuntimeError):
        batch.add('lpush', 'q', 'x')
    batch.discard()
    with pytest.raises(RuntimeError):
        batch.publish('x')
    batch.close()
