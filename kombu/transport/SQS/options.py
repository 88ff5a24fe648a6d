"""``transport_options`` of the SQS transport: Kombu 5.7's names and defaults, typed."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping

from kombu.transport.virtual.options import TransportOptions

__all__ = ('SQSOptions', 'DEFAULT_REGION', 'DEFAULT_VISIBILITY_TIMEOUT',
           'DEFAULT_WAIT_TIME_SECONDS', 'MAX_DELAY_SECONDS', 'MAX_MESSAGE_SIZE')

DEFAULT_REGION = 'us-east-1'
#: seconds a received message stays invisible to other consumers (30 minutes, as Kombu).
DEFAULT_VISIBILITY_TIMEOUT = 1800
#: long polling: seconds a ReceiveMessage call may wait for a message (SQS allows 0..20).
DEFAULT_WAIT_TIME_SECONDS = 10
#: the longest ``DelaySeconds`` SQS accepts (15 minutes).
MAX_DELAY_SECONDS = 900
#: SQS's classic limit for one message body plus attributes (256 KiB).
MAX_MESSAGE_SIZE = 256 * 1024
#: SQS's limit for a visibility timeout (12 hours).
MAX_VISIBILITY_TIMEOUT = 12 * 60 * 60


def _whole_seconds(name: str, value: Any, options: TransportOptions) -> int:
    """``value`` as an int, refusing fractions: SQS only takes whole seconds."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        options.require(False, f'{name} must be a whole number of seconds, not {value!r}')
    options.require(number == int(number),
                    f'{name} must be a whole number of seconds (SQS has no fractions), '
                    f'not {value!r}')
    return int(number)


@dataclasses.dataclass(frozen=True)
class SQSOptions(TransportOptions):
    """Options of ``sqs://`` connections (see the module documentation of
    :mod:`kombu.transport.SQS` for what each does)."""

    transport_name: ClassVar[str] = 'sqs'
    secret_fields: ClassVar[frozenset[str]] = frozenset(
        {'aws_secret_access_key', 'session_token', 'aws_session_token'})
    passthrough: ClassVar[frozenset[str]] = frozenset({'port', 'regioninfo'})
    aliases: ClassVar[Mapping[str, str]] = {
        'sqs-creation-attributes': 'sqs_creation_attributes',
        'client-config': 'client_config',
    }

    region: str | None = None
    queue_name_prefix: str = ''
    predefined_queues: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=dict)
    predefined_exchanges: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=dict)
    endpoint_url: str | None = None
    is_secure: bool | None = None
    visibility_timeout: Any = DEFAULT_VISIBILITY_TIMEOUT
    wait_time_seconds: Any = DEFAULT_WAIT_TIME_SECONDS
    backoff_policy: Mapping[int, int] | None = None
    backoff_tasks: list[str] | None = None
    sts_role_arn: str | None = None
    sts_token_timeout: int = 900
    sts_token_buffer_time: int = 0
    fetch_message_attributes: Any = None
    sqs_base64_encoding: bool = True
    supports_fanout: bool = False
    sqs_creation_attributes: Mapping[str, str] | None = None
    queue_tags: Mapping[str, str] | None = None
    client_config: Mapping[str, Any] | None = None
    session_token: str | None = None
    #: bytes; a bigger message raises LimitExceeded instead of being sent.
    max_message_size: int = MAX_MESSAGE_SIZE
    #: group id of FIFO publishes that give none (None: such a publish is refused).
    fifo_default_message_group_id: str | None = None
    #: extend the visibility of messages held long (``ChangeMessageVisibility``).
    visibility_heartbeat: bool = True
    #: priority steps of queues declared with ``x-max-priority`` (one SQS queue each).
    priority_steps: tuple[int, ...] = (0, 3, 6, 9)

    def __post_init__(self) -> None:
        super().__post_init__()
        # Given as strings in a URL query, or as floats by Celery settings.
        vt = self.visibility_timeout
        vt = DEFAULT_VISIBILITY_TIMEOUT if vt in (None, '') else vt
        vt = _whole_seconds('visibility_timeout', vt, self)
        self.require(0 <= vt <= MAX_VISIBILITY_TIMEOUT,
                     f'visibility_timeout must be within 0..{MAX_VISIBILITY_TIMEOUT} s, '
                     f'not {vt}')
        object.__setattr__(self, 'visibility_timeout', vt)
        wait = _whole_seconds('wait_time_seconds', self.wait_time_seconds, self)
        self.require(0 <= wait <= 20, f'wait_time_seconds must be within 0..20, not {wait}')
        object.__setattr__(self, 'wait_time_seconds', wait)
        self.require(isinstance(self.queue_name_prefix, str),
                     f'queue_name_prefix must be a string, not {self.queue_name_prefix!r}')
        self.require(isinstance(self.predefined_queues, Mapping),
                     'predefined_queues must map queue names to {"url": ...} dicts')
        for name, queue in self.predefined_queues.items():
            self.require(isinstance(queue, Mapping) and 'url' in queue,
                         f'predefined_queues[{name!r}] needs a "url"')
        self.require(self.sts_token_timeout >= 900,
                     'sts_token_timeout must be at least 900 s (the STS minimum)')
        self.require(0 <= self.sts_token_buffer_time < self.sts_token_timeout,
                     'sts_token_buffer_time must be within 0..sts_token_timeout')
        self.require(self.max_message_size > 0, 'max_message_size must be > 0')
        steps = tuple(sorted({int(s) for s in self.priority_steps}))
        self.require(bool(steps) and steps[0] == 0, 'priority_steps must start at 0')
        object.__setattr__(self, 'priority_steps', steps)
