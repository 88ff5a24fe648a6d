"""Producer-scoped publish batches: many publishes, one pipelined round trip."""
from __future__ import annotations

from typing import Any

from kombu.exceptions import BatchPublishError


class PublishBatch:
    """Buffer the final Redis commands of publishes and send them together."""

    def __init__(self, channel: Any, max_size: int) -> None:
        self.channel = channel
        self.max_size = max(int(max_size), 1)
        self._commands: list[tuple] = []
        self._collecting: list[tuple] | None = None
        self._failed: BaseException | None = None
        self._aborted = False
        self._closed = False

    def publish(self, message: Any, **kwargs: Any) -> Any:
        """Route one prepared message and buffer its Redis commands."""
        self._check_usable()
        collected: list[tuple] = []
        self._collecting = collected
        try:
            result = self.channel.basic_publish(message, _publish_batch=self, **kwargs)
        finally:
            self._collecting = None
        if collected:
            if self._commands and len(self._commands) + len(collected) > self.max_size:
                self.flush()
            self._commands += collected
            if len(self._commands) >= self.max_size:
                self.flush()
        return result

    def add(self, name: str, *args: Any) -> None:
        """Add one Redis command of the message being routed."""
        if self._collecting is None:
            raise RuntimeError('Redis publish command added outside publication')
        self._collecting.append((name.upper(), *args))

    def flush(self) -> None:
        """Send every buffered command once (no automatic retry)."""
        self._check_usable()
        if not self._commands:
            return
        commands, self._commands = self._commands, []
        try:
            replies = self.channel._execute_many(commands)
        except Exception as exc:
            self._failed = exc
            raise BatchPublishError('Redis publish batch failed; delivery is uncertain') from exc
        errors = [r for r in replies if isinstance(r, Exception)]
        if errors:
            self._failed = errors[0]
            raise BatchPublishError('Redis publish batch failed') from errors[0]

    def discard(self) -> None:
        """Drop commands not yet sent."""
        self._aborted = True
        self._commands = []

    def close(self) -> None:
        self._closed = True
        self._commands = []

    def _check_usable(self) -> None:
        if self._closed:
            raise RuntimeError('Redis publish batch is closed')
        if self._aborted:
            raise RuntimeError('Redis publish batch is aborted')
        if self._failed is not None:
            raise BatchPublishError(
                'Redis publish batch cannot be reused after a failure') from self._failed
