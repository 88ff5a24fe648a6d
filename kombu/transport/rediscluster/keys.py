"""The cluster-safe key layout and its server-side scripts.

Every key of one queue carries the hash tag ``{<queue>}``, so they all hash to
the queue's slot and a script may touch them together::

    <prefix>{<queue>}.q<step>        ready messages of one priority step (a list;
                                     LPUSH to publish, RPOP to consume)
    <prefix>{<queue>}.unacked        delivery tag -> stored message (a hash)
    <prefix>{<queue>}.unacked_index  delivery tag -> delivery time (a sorted set)
    <prefix>{<queue>}.args           the queue's x- arguments (JSON)

A name that is empty, holds ``}`` or starts with ``~`` is escaped in the tag
(``~`` + the name with ``~`` as ``~~`` and ``}`` as ``~r``), so the tag always
names the whole queue and two queues never share keys.  The global structures
live in the slot of the ``{_kombu}`` tag: the set of known queues (what the
visibility sweep visits), the exchange types (a hash) and one binding set per
exchange whose members are
``routing_key + SEP + pattern + SEP + queue``.  No command ever names keys of two
tags, so none can fail with CROSSSLOT.

A fanout exchange broadcasts over the sharded pub/sub channel
``<prefix>{<exchange>}.fanout`` (same escaping), which lives on the master
owning that tag's slot; pub/sub channels are not keys, so it shares nothing
with a queue of the same name.
"""
from __future__ import annotations

from bisect import bisect
from typing import Sequence

from kombu.transport.redis import keys as _redis_keys

SEP = '\x06\x16'
PRIORITY_STEPS = [0, 3, 6, 9]
GLOBAL_TAG = '{_kombu}'


def hash_tag(queue: str) -> str:
    """The hash tag of ``queue``'s keys: the name itself unless it must be escaped."""
    if queue and '}' not in queue and not queue.startswith('~'):
        return queue
    return '~' + queue.replace('~', '~~').replace('}', '~r')


def priority_step(steps: Sequence[int], priority: int) -> int:
    """The step (sub-list) a message of ``priority`` goes to."""
    return steps[max(bisect(steps, priority) - 1, 0)]


class Layout:
    """Key names under one ``global_keyprefix``."""

    def __init__(self, prefix: str = '', steps: Sequence[int] = PRIORITY_STEPS) -> None:
        if '{' in prefix:  # it would become the hash tag of every key: one slot for all
            raise ValueError(f'global_keyprefix must not contain "{{": {prefix!r}')
        self.prefix = prefix
        self.steps = sorted(steps)

    def queue_key(self, queue: str, step: int) -> str:
        return f'{self.prefix}{{{hash_tag(queue)}}}.q{step}'

    def queue_keys(self, queue: str) -> list[str]:
        """The lists of ``queue`` in consumption order (step 0 first, as redis://)."""
        return [self.queue_key(queue, step) for step in self.steps]

    def unacked(self, queue: str) -> str:
        return f'{self.prefix}{{{hash_tag(queue)}}}.unacked'

    def unacked_index(self, queue: str) -> str:
        return f'{self.prefix}{{{hash_tag(queue)}}}.unacked_index'

    def args(self, queue: str) -> str:
        return f'{self.prefix}{{{hash_tag(queue)}}}.args'

    @property
    def queues(self) -> str:
        return f'{self.prefix}{GLOBAL_TAG}.queues'

    @property
    def exchanges(self) -> str:
        return f'{self.prefix}{GLOBAL_TAG}.exchanges'

    def bindings(self, exchange: str) -> str:
        return f'{self.prefix}{GLOBAL_TAG}.binding.{exchange}'

    def fanout_channel(self, exchange: str) -> str:
        """The shard channel (SPUBLISH/SSUBSCRIBE) of a fanout exchange: in its own slot."""
        return f'{self.prefix}{{{hash_tag(exchange)}}}.fanout'


def binding_member(routing_key: str | None, pattern: str | None, queue: str) -> str:
    return SEP.join([routing_key or '', pattern or '', queue])


def parse_binding(value: bytes | str) -> tuple[str, str, str]:
    text = value.decode() if isinstance(value, bytes) else value
    routing_key, pattern, queue = text.split(SEP, 2)
    return routing_key, pattern, queue


#: Pop up to a budget of messages of one queue and, for a consumer that acks,
#: record each as unacked in the same atomic step (a consumer killed after the
#: pop cannot lose them).  Acks waiting for this queue are dropped first, and a
#: message BRPOP already took is recorded too, so a busy queue costs one round
#: trip per batch.  KEYS: unacked hash, unacked index, then the queue's lists
#: in consumption order.  ARGV: now (the index score), '1' to record, budget,
#: how many BRPOP'd messages follow (0 or 1), those messages, then the acked
#: tags.  Returns the popped messages, oldest first.
POP = """
local record = ARGV[2] == '1'
local held = tonumber(ARGV[4])
local function keep(item)
    if not record then return end
    local ok, msg = pcall(cjson.decode, item)
    if ok and type(msg) == 'table' and type(msg['properties']) == 'table' then
        local tag = msg['properties']['delivery_tag']
        if type(tag) == 'string' then
            redis.call('HSET', KEYS[1], tag, item)
            redis.call('ZADD', KEYS[2], ARGV[1], tag)
        end
    end
end
if #ARGV > 4 + held then
    local tags = {}
    for i = 5 + held, #ARGV do tags[#tags + 1] = ARGV[i] end
    redis.call('ZREM', KEYS[2], unpack(tags))
    redis.call('HDEL', KEYS[1], unpack(tags))
end
for i = 1, held do keep(ARGV[4 + i]) end
local out = {}
local budget = tonumber(ARGV[3])
for i = 3, #KEYS do
    while budget > 0 do
        local item = redis.call('RPOP', KEYS[i])
        if not item then break end
        keep(item)
        out[#out + 1] = item
        budget = budget - 1
    end
end
return out
"""

#: Drop the unacked records of acked messages of one queue: one round trip for
#: many acks, both keys in the queue's slot.  KEYS: unacked hash, unacked
#: index.  ARGV: the tags.
ACK = """
redis.call('ZREM', KEYS[2], unpack(ARGV))
return redis.call('HDEL', KEYS[1], unpack(ARGV))
"""

#: Give one unacked message back exactly once (redis://'s script, whose keys are
#: all of one queue here: its unacked hash and index, then the list to push to).
#: ARGV: tag, ceiling score ('+inf': unconditional), payload.
RESTORE_ONE = _redis_keys.RESTORE_ONE
