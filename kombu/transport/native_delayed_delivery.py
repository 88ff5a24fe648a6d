"""RabbitMQ native delayed delivery: the binary-level delay topology Celery uses.

A delay of ``n`` seconds is written as the 28 binary digits of ``n``, one per
routing-key word, in front of the real routing key.  Level ``L`` is a topic
exchange and a queue of the same name whose messages expire after ``2**L``
seconds.  A message enters at the highest level; at each level it either
waits in the queue (digit ``1``) or is passed straight on to the next level's
exchange (digit ``0``).  Expired messages are dead-lettered to the next level,
and level 0 dead-letters to the delivery exchange, to which the destination
exchanges are bound with ``#.<routing key>``.

Exchange and queue names, arguments and binding keys are the ones upstream
Kombu and Celery use, so both can share a broker.
"""
from __future__ import annotations

import logging
import re
from typing import Any

logger = logging.getLogger(__name__)

MAX_NUMBER_OF_BITS_TO_USE = 28
MAX_LEVEL = MAX_NUMBER_OF_BITS_TO_USE - 1
CELERY_DELAYED_DELIVERY_EXCHANGE = 'celery_delayed_delivery'

#: largest delay the 28 levels can express, in seconds (about 8.5 years).
MAX_COUNTDOWN = 2 ** MAX_NUMBER_OF_BITS_TO_USE - 1

# A routing key that already went through calculate_routing_key (Celery
# re-reads it from delivery_info on retries): 28 binary words, each with a dot.
_DELAY_PREFIX = re.compile(r'^(?:[01]\.){' + str(MAX_NUMBER_OF_BITS_TO_USE) + '}')

QUEUE_TYPES = ('classic', 'quorum')


def level_name(level: int, prefix: str | None = None) -> str:
    """Name of the exchange and the queue of one delay level."""
    if level < 0:
        raise ValueError('level must be a non-negative number')
    name = f'celery_delayed_{level}'
    return f'{prefix}_{name}' if prefix else name


def _delivery_exchange_name(prefix: str | None = None) -> str:
    if prefix:
        return f'{prefix}_{CELERY_DELAYED_DELIVERY_EXCHANGE}'
    return CELERY_DELAYED_DELIVERY_EXCHANGE


def _level_queue_arguments(level: int, queue_type: str, prefix: str | None) -> dict[str, Any]:
    dead_letter_to = (level_name(level - 1, prefix) if level > 0
                      else _delivery_exchange_name(prefix))
    arguments: dict[str, Any] = {
        'x-queue-type': queue_type,
        'x-overflow': 'reject-publish',
        'x-message-ttl': 2 ** level * 1000,
        'x-dead-letter-exchange': dead_letter_to,
    }
    if queue_type == 'quorum':
        # with reject-publish, at-least-once keeps a message until the next level took it
        arguments['x-dead-letter-strategy'] = 'at-least-once'
    return arguments


def declare_native_delayed_delivery_exchanges_and_queues(
        connection: Any, queue_type: str, prefix: str | None = None) -> None:
    """Declare the 28 delay levels and the delivery exchange (idempotent).

    ``queue_type`` is ``'classic'`` or ``'quorum'``.  ``prefix`` (when not
    empty) is prepended to every name as ``'{prefix}_...'``.
    """
    if queue_type not in QUEUE_TYPES:
        raise ValueError('queue_type must be either classic or quorum')
    channel = connection.channel()
    try:
        _declare_levels(channel, queue_type, prefix)
    finally:
        _close_quietly(channel)


def _declare_levels(channel: Any, queue_type: str, prefix: str | None) -> None:
    # Level L's queue takes the messages whose digit for 2**L is 1; the
    # "*." words skip the digits of the higher levels.
    for level in range(MAX_LEVEL, -1, -1):
        name = level_name(level, prefix)
        channel.exchange_declare(exchange=name, type='topic', durable=True,
                                 auto_delete=False)
        channel.queue_declare(queue=name, durable=True, exclusive=False, auto_delete=False,
                              arguments=_level_queue_arguments(level, queue_type, prefix))
        channel.queue_bind(queue=name, exchange=name,
                           routing_key='*.' * (MAX_LEVEL - level) + '1.#')
    # A 0 digit passes the message on to the next level's exchange at once.
    for level in range(MAX_LEVEL, 0, -1):
        channel.exchange_bind(destination=level_name(level - 1, prefix),
                              source=level_name(level, prefix),
                              routing_key='*.' * (MAX_LEVEL - level) + '0.#')
    delivery = _delivery_exchange_name(prefix)
    channel.exchange_declare(exchange=delivery, type='topic', durable=True,
                             auto_delete=False)
    # a delay whose last digit is 0 leaves level 0 without waiting there
    channel.exchange_bind(destination=delivery, source=level_name(0, prefix),
                          routing_key='*.' * MAX_LEVEL + '0.#')


def bind_queue_to_native_delayed_delivery_exchange(
        connection: Any, queue: Any, prefix: str | None = None) -> None:
    """Route delayed messages for ``queue`` from the delivery exchange to it.

    Each exchange the queue is bound to (``queue.exchange`` or its
    ``bindings``) gets an exchange-to-exchange binding from the delivery
    exchange and the queue gets an extra binding with the ``#.`` key.
    Direct exchanges cannot match the prefixed keys; they are skipped with a
    warning (ETA messages sent through them stay in the worker until due).
    """
    entries = []
    if queue.exchange is not None and queue.exchange.name:
        entries.append((queue.exchange, queue.routing_key or ''))
    elif queue.bindings:
        entries.extend((b.exchange, b.routing_key or '') for b in queue.bindings)
    delivery = _delivery_exchange_name(prefix)
    channel = connection.channel()
    try:
        for exchange, routing_key in entries:
            name = exchange if isinstance(exchange, str) else exchange.name
            if getattr(exchange, 'type', None) == 'direct':
                # Upstream's wording, word for word: Celery's tests match this text.
                logger.warning(
                    'Exchange %s is a direct exchange and native delayed delivery do not '
                    'support direct exchanges.\nETA tasks published to this exchange will '
                    'block the worker until the ETA arrives.', name)
                continue
            key = routing_key if routing_key.startswith('#') else f'#.{routing_key}'
            channel.exchange_bind(destination=name, source=delivery, routing_key=key)
            channel.queue_bind(queue=queue.name, exchange=name, routing_key=key)
    finally:
        _close_quietly(channel)


def calculate_routing_key(countdown: int, routing_key: str) -> str:
    """Routing key that delays a message by ``countdown`` whole seconds."""
    if countdown < 1:
        raise ValueError('countdown must be a positive number')
    if not routing_key:
        raise ValueError('routing_key must be non-empty')
    if countdown > MAX_COUNTDOWN:
        # more digits than levels would be misrouted; deliver at the maximum delay
        logger.warning('countdown %s exceeds the %s s native delayed delivery can express',
                       countdown, MAX_COUNTDOWN)
        countdown = MAX_COUNTDOWN
    routing_key = _DELAY_PREFIX.sub('', routing_key)  # retries must not stack prefixes
    digits = format(int(countdown), f'0{MAX_NUMBER_OF_BITS_TO_USE}b')
    return '.'.join(digits) + '.' + routing_key


def _close_quietly(channel: Any) -> None:
    try:
        channel.close()
    except Exception as exc:  # the work is done; a close failure must not hide it
        logger.debug('closing the delayed-delivery channel failed: %r', exc)
