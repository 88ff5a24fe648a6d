"""QoS of the SQS channel: Kombu's reject with ``backoff_policy``/``backoff_tasks``.

A rejected message of a task named in ``backoff_tasks`` is not deleted: its
visibility becomes ``backoff_policy[receive count]`` seconds, so SQS delivers it
again after that delay (retry with backoff, counted by SQS's
``ApproximateReceiveCount``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from kombu.transport import virtual

if TYPE_CHECKING:
    from .channel import Channel

__all__ = ('QoS',)


class QoS(virtual.QoS):
    """Quality of service of an SQS channel."""

    channel: Channel

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        delay = None if requeue else self._backoff_delay(delivery_tag)
        if delay is None:
            return super().reject(delivery_tag, requeue=requeue)
        message = self._delivered[delivery_tag]
        self.channel._change_visibility([message._raw], delay)
        self.ack(delivery_tag)  # forgotten here; SQS delivers it again later
        return None

    def _backoff_config(self, queue: str | None) -> tuple[Mapping[Any, Any], Any]:
        options = self.channel.options
        entry: Mapping[str, Any] = {}
        if queue is not None:
            entry = (self.channel.predefined_queues.get(queue)
                     or self.channel.predefined_queues.get(
                         self.channel.canonical_queue_name(queue)) or {})
        policy = entry.get('backoff_policy', options.backoff_policy) or {}
        tasks = entry.get('backoff_tasks', options.backoff_tasks) or ()
        return policy, tasks

    def _backoff_delay(self, delivery_tag: Any) -> int | None:
        message = self._delivered.get(delivery_tag)
        if message is None or delivery_tag in self._dirty:
            return None
        queue = getattr(message, '_source_queue', None) or \
            message.delivery_info.get('routing_key')
        policy, tasks = self._backoff_config(queue)
        if not policy or not tasks:
            return None
        task, retries = self.extract_task_name_and_number_of_retries(delivery_tag)
        if task not in tasks:
            return None
        value = policy.get(retries, policy.get(str(retries)))
        return None if value is None else int(value)

    def is_backoff_task(self, delivery_tag: Any) -> bool:
        return self._backoff_delay(delivery_tag) is not None

    def apply_backoff_policy(self, routing_key: str, delivery_tag: Any,
                             backoff_policy: Mapping[Any, Any], backoff_tasks: Any) -> None:
        """Set the visibility of a message by ``backoff_policy`` (Kombu's signature)."""
        task, retries = self.extract_task_name_and_number_of_retries(delivery_tag)
        value = backoff_policy.get(retries)
        if task in backoff_tasks and value is not None:
            self.channel._change_visibility([self._delivered[delivery_tag]._raw], int(value))

    def extract_task_name_and_number_of_retries(self, delivery_tag: Any) -> tuple[Any, int]:
        message = self._delivered[delivery_tag]
        task = (message.headers or {}).get('task')
        sqs_message = message.properties['delivery_info'].get('sqs_message') or {}
        retries = int((sqs_message.get('Attributes') or {}).get('ApproximateReceiveCount', 1))
        return task, retries
