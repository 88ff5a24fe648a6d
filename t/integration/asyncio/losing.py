"""The consumer-recovery scenario both brokers' tests run: messages held
unacked when the connection is lost, more published while it is down."""
from __future__ import annotations

from collections import Counter
from typing import Any, Awaitable, Callable

from kombu.asyncio import AsyncConsumer, AsyncMessage, AsyncProducer

__all__ = ('through_a_loss', 'assert_only_unacked_twice')

#: published before the loss; 5 of them taken: 3 acked, 2 held
BEFORE = 10


def _seen(message: AsyncMessage) -> tuple[int, bool]:
    return message.payload, bool(message.delivery_info.get('redelivered'))


async def through_a_loss(consumer: AsyncConsumer, producer: AsyncProducer, n: int,
                         declare: list[Any], lose: Callable[[], Awaitable[Any]],
                         recovered: Callable[[AsyncMessage], Awaitable[None]] | None = None,
                         ) -> list[tuple[int, bool]]:
    """Publish, take 5 (ack 3, hold 4th and 5th), ``lose()`` the connection,
    publish the rest, ack the 4th (on the lost connection), then consume and
    ack until every payload below ``n`` was acked; after the first message
    from the new connection the 5th (stale) is acked and ``recovered(it)``
    runs.  Returns (payload, redelivered) of every message taken."""
    for i in range(BEFORE):
        await producer.publish(i, declare=declare)
    first = [await consumer.get(timeout=10) for _ in range(5)]
    seen = [_seen(m) for m in first]
    for message in first[:3]:
        await message.ack()
    held = first[3:]  # delivered, not acked: must come back
    await lose()
    for i in range(BEFORE, n):  # published while the consumer is down
        await producer.publish(i, declare=declare)
    await held[0].ack()  # fails with the connection: nothing acked, it comes back
    later: AsyncMessage | None = held[1]
    acked = {m.payload for m in first[:3]}
    while len(acked) < n:
        message = await consumer.get(timeout=10)
        if later is not None:
            # its tag names another delivery, or its own redelivered copy, now
            assert later.stale and not message.stale
            await later.ack()
            if recovered is not None:
                await recovered(later)
            later = None
        seen.append(_seen(message))
        await message.ack()
        acked.add(message.payload)
    return seen


def assert_only_unacked_twice(seen: list[tuple[int, bool]], n: int) -> list[int]:
    """Nothing lost, only the two held came twice; returns the redelivered payloads
    (the two held first)."""
    counts = Counter(payload for payload, _ in seen)
    assert sorted(counts) == list(range(n))
    assert {p for p, times in counts.items() if times > 1} == {3, 4}
    redelivered = [p for p, flag in seen if flag]
    assert sorted(redelivered[:2]) == [3, 4]
    return redelivered
