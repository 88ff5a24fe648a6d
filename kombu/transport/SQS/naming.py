"""Queue names: Kombu names to SQS names (Kombu's mangling) and priority sub-queues."""
from __future__ import annotations

import re
import string

from .exceptions import InvalidQueueException

__all__ = ('CHARS_REPLACE_TABLE', 'FIFO_SUFFIX', 'entity_name', 'is_fifo',
           'priority_queue_name', 'check_queue_name')

#: As Kombu: a dot becomes a dash, dash and underscore stay, other punctuation
#: becomes an underscore ('.fifo' at the end is kept).
CHARS_REPLACE_TABLE = {ord(c): 0x5f for c in string.punctuation if c not in '-_.'}
CHARS_REPLACE_TABLE[0x2e] = 0x2d

FIFO_SUFFIX = '.fifo'

#: What SQS accepts: 1..80 of letters, digits, '-' and '_' (FIFO: plus '.fifo').
_VALID = re.compile(r'^[A-Za-z0-9_-]{1,80}$')


def is_fifo(name: str) -> bool:
    return name.endswith(FIFO_SUFFIX)


def entity_name(name: str, table: dict[int, int] = CHARS_REPLACE_TABLE) -> str:
    """The SQS queue name for a Kombu queue name (punctuation replaced, '.fifo' kept)."""
    if is_fifo(name):
        return name[:-len(FIFO_SUFFIX)].translate(table) + FIFO_SUFFIX
    return name.translate(table)


def check_queue_name(sqs_name: str, kombu_name: str) -> None:
    """Raise :class:`InvalidQueueException` for a name SQS would refuse, saying why."""
    stem = sqs_name[:-len(FIFO_SUFFIX)] if is_fifo(sqs_name) else sqs_name
    if _VALID.match(stem) and len(sqs_name) <= 80:
        return
    raise InvalidQueueException(
        f'queue name {kombu_name!r} becomes {sqs_name!r} in SQS, which SQS refuses: a '
        f'name has 1 to 80 letters, digits, "-" or "_" (plus ".fifo" for FIFO queues, '
        f'counted in the 80); use a shorter name or a shorter queue_name_prefix')


def priority_queue_name(sqs_name: str, step: int) -> str:
    """The SQS queue holding priority ``step`` of a queue (step 0 is the queue itself)."""
    if not step:
        return sqs_name
    if is_fifo(sqs_name):
        return f'{sqs_name[:-len(FIFO_SUFFIX)]}_p{step}{FIFO_SUFFIX}'
    return f'{sqs_name}_p{step}'
