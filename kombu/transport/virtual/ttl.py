"""Message expiry and dead-lettering for the virtual transports.

Expiry is computed when a message is put on a queue: the earlier of the
message's ``expiration`` property (milliseconds, as a string) and the queue's
``x-message-ttl``.  The deadline (a UNIX time in seconds) is stored in the
message properties under :data:`EXPIRES_AT`, so it survives a requeue and
works across processes; messages without a TTL are left untouched.

Tests replace :data:`clock` (``monkeypatch.setattr(ttl, 'clock', fake)``) to
control time.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from .state import QueuePolicy

__all__ = ('EXPIRES_AT', 'clock', 'expiry_deadline', 'dead_letter_copy')

#: Property holding the absolute expiry time of a queued message.
EXPIRES_AT = 'x-expires-at'

#: The clock used for every TTL decision (seconds since the epoch).
clock: Callable[[], float] = time.time


def message_ttl(properties: dict[str, Any]) -> float | None:
    """Return the ``expiration`` property in seconds (None if absent or invalid)."""
    expiration = properties.get('expiration')
    if expiration is None:
        return None
    try:
        return max(int(expiration), 0) / 1000.0
    except (TypeError, ValueError):
        return None


def expiry_deadline(properties: dict[str, Any], policy: QueuePolicy | None,
                    now: float) -> float | None:
    """Return when a message put now on a queue with ``policy`` expires."""
    ttl = message_ttl(properties)
    queue_ttl = policy.message_ttl if policy is not None else None
    if queue_ttl is not None and (ttl is None or queue_ttl < ttl):
        ttl = queue_ttl
    return None if ttl is None else now + ttl


def _death_entry(deaths: list[Any], queue: str, reason: str) -> dict[str, Any] | None:
    for death in deaths:
        if isinstance(death, dict) and death.get('queue') == queue \
                and death.get('reason') == reason:
            return death
    return None


def dead_letter_copy(message: dict[str, Any], queue: str, reason: str,
                     now: float) -> dict[str, Any]:
    """Return the message to dead-letter from ``queue``, with an ``x-death`` record.

    As in RabbitMQ the ``expiration`` property is removed (so the copy does
    not expire again) and ``x-death`` counts deaths per queue and reason.
    """
    properties = dict(message.get('properties') or {})
    original_expiration = properties.pop('expiration', None)
    properties.pop(EXPIRES_AT, None)
    delivery_info = dict(properties.get('delivery_info') or {})
    properties['delivery_info'] = delivery_info
    headers = dict(message.get('headers') or {})
    deaths = [dict(d) if isinstance(d, dict) else d for d in headers.get('x-death') or ()]
    death = _death_entry(deaths, queue, reason)
    if death is None:
        death = {'count': 0, 'reason': reason, 'queue': queue,
                 'exchange': delivery_info.get('exchange', ''),
                 'routing-keys': [delivery_info.get('routing_key', '')]}
        if original_expiration is not None:
            death['original-expiration'] = original_expiration
    else:
        deaths.remove(death)
    death['count'] = int(death.get('count') or 0) + 1
    death['time'] = int(now)
    deaths.insert(0, death)
    headers['x-death'] = deaths
    headers.setdefault('x-first-death-reason', reason)
    headers.setdefault('x-first-death-queue', queue)
    headers.setdefault('x-first-death-exchange', delivery_info.get('exchange', ''))
    copy = dict(message)
    copy.pop('redelivered', None)
    copy['headers'] = headers
    copy['properties'] = properties
    return copy
