"""Exchange types of the virtual transports: direct, topic, fanout and headers.

A binding is stored in an exchange's table as ``(routing_key, pattern, queue)``.
Lookups go through :meth:`Channel._lookup
<kombu.transport.virtual.Channel._lookup>`, which memoizes the result per
routing key until the exchange's bindings change.
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    from .base import Channel

__all__ = (
    'ExchangeType', 'DirectExchange', 'TopicExchange', 'FanoutExchange',
    'HeadersExchange', 'STANDARD_EXCHANGE_TYPES', 'topic_to_regex',
)

Table = Iterable[Sequence[Any]]


def _unique(queues: Iterable[str]) -> tuple[str, ...]:
    # A queue bound twice (two keys that both match) receives one copy, as in AMQP.
    return tuple(dict.fromkeys(queues))


def topic_to_regex(binding_key: str) -> str:
    """Return an anchored regex matching routing keys for an AMQP topic binding.

    ``*`` matches exactly one word and ``#`` zero or more words, so
    ``*.stock.#`` matches ``usd.stock`` and ``eur.stock.db`` but not
    ``stock.nasdaq``.
    """
    words: list[str] = []
    for word in binding_key.split('.'):
        if word == '#' and words and words[-1] == '#':
            continue  # '#.#' is the same as '#'
        words.append(word)
    if words == ['#']:
        return '^.*$'
    parts = []
    for i, word in enumerate(words):
        if word == '#':
            # The optional group swallows one of the dots around it, so that
            # '#' can also stand for no words at all.
            parts.append(r'(?:.*\.)?' if i == 0 else r'(?:\..*)?')
            continue
        if i and not (i == 1 and words[0] == '#'):
            parts.append(r'\.')
        parts.append('[^.]+' if word == '*' else re.escape(word))
    return '^' + ''.join(parts) + '$'


class ExchangeType:
    """Base class of the exchange types: how bindings match routing keys.

    Arguments:
        channel: the channel the exchange type works for.
    """

    type: str | None = None

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def lookup(self, table: Table, exchange: str, routing_key: str,
               default: str | None) -> Iterable[str]:
        """Return the queues in ``table`` that ``routing_key`` is routed to."""
        raise NotImplementedError('subclass responsibility')

    def prepare_bind(self, queue: str, exchange: str, routing_key: str,
                     arguments: Mapping[str, Any] | None) -> tuple[str, Any, str]:
        """Return the ``(routing_key, pattern, queue)`` entry stored for a binding."""
        return routing_key, None, queue

    def equivalent(self, prev: Mapping[str, Any], exchange: str, type: str,
                   durable: bool, auto_delete: bool,
                   arguments: Mapping[str, Any] | None) -> bool:
        """Return true if a redeclaration matches the declaration ``prev``."""
        return (type == prev['type'] and
                durable == prev['durable'] and
                auto_delete == prev['auto_delete'] and
                (arguments or {}) == (prev['arguments'] or {}))

    def deliver(self, message: dict[str, Any], exchange: str, routing_key: str,
                **kwargs: Any) -> None:
        """Route ``message`` to every queue its routing key matches."""
        channel = self.channel
        channel._put_routed(channel._lookup(exchange, routing_key), message, **kwargs)


class DirectExchange(ExchangeType):
    """Routes to the queues bound with exactly the message's routing key."""

    type = 'direct'

    def lookup(self, table: Table, exchange: str, routing_key: str,
               default: str | None) -> tuple[str, ...]:
        return _unique(queue for rkey, _, queue in table if rkey == routing_key)


class TopicExchange(ExchangeType):
    """Routes on dot-separated words with ``*`` (one word) and ``#`` (any words)."""

    type = 'topic'

    #: wildcard words and the regex each stands for between two dots.
    wildcards = {'*': r'[^.]+', '#': r'.*'}

    def __init__(self, channel: Channel) -> None:
        super().__init__(channel)
        self._compiled: dict[str, re.Pattern[str]] = {}

    def lookup(self, table: Table, exchange: str, routing_key: str,
               default: str | None) -> tuple[str, ...]:
        match = self._match
        # The stored pattern is ignored: tables written by other versions may
        # carry a regex with different wildcard semantics.
        return _unique(queue for rkey, _, queue in table if match(rkey, routing_key))

    def prepare_bind(self, queue: str, exchange: str, routing_key: str,
                     arguments: Mapping[str, Any] | None) -> tuple[str, str, str]:
        return routing_key, self.key_to_pattern(routing_key), queue

    def key_to_pattern(self, rkey: str) -> str:
        """Return the regex (as a string) for the binding key ``rkey``."""
        return topic_to_regex(rkey)

    def _match(self, binding_key: str, routing_key: str) -> bool:
        try:
            compiled = self._compiled[binding_key]
        except KeyError:
            if len(self._compiled) > 10000:
                self._compiled.clear()
            compiled = self._compiled[binding_key] = re.compile(
                topic_to_regex(binding_key), re.S)
        return compiled.match(routing_key) is not None


class FanoutExchange(ExchangeType):
    """Routes a copy of every message to every bound queue.

    The table must be shared by every client of the broker, so a channel
    needs ``supports_fanout = True`` plus ``_queue_bind``, ``get_table`` and
    ``_put_fanout`` working on shared storage; otherwise messages are dropped.
    """

    type = 'fanout'

    def lookup(self, table: Table, exchange: str, routing_key: str,
               default: str | None) -> tuple[str, ...]:
        return _unique(queue for _, _, queue in table)

    def deliver(self, message: dict[str, Any], exchange: str, routing_key: str,
                **kwargs: Any) -> None:
        if self.channel.supports_fanout:
            self.channel._put_fanout(exchange, message, routing_key, **kwargs)


#: Stands in for an absent header (a header may be present with value None).
_MISSING = object()


class HeadersExchange(ExchangeType):
    """Routes on message headers matching the binding arguments.

    ``x-match`` in the binding arguments is ``all`` (the default: every
    argument must match) or ``any`` (one is enough); arguments starting with
    ``x-`` are not compared, unless ``x-match`` is ``all-with-x`` or
    ``any-with-x``.  An argument whose value is ``None`` only requires the
    header to be present.  The arguments are stored as JSON in the pattern
    slot so that string-only stores can keep them.
    """

    type = 'headers'

    def __init__(self, channel: Channel) -> None:
        super().__init__(channel)
        self._parsed: dict[str, tuple[bool, tuple[tuple[str, Any], ...]]] = {}

    def prepare_bind(self, queue: str, exchange: str, routing_key: str,
                     arguments: Mapping[str, Any] | None) -> tuple[str, str, str]:
        return routing_key, json.dumps(dict(arguments or {}), sort_keys=True), queue

    def lookup(self, table: Table, exchange: str, routing_key: str,
               default: str | None, headers: Mapping[str, Any] | None = None,
               ) -> tuple[str, ...]:
        headers = headers or {}
        match = self._match
        return _unique(queue for _, pattern, queue in table if match(pattern, headers))

    def deliver(self, message: dict[str, Any], exchange: str, routing_key: str,
                **kwargs: Any) -> None:
        channel = self.channel
        try:
            table: Table = channel.get_table(exchange)
        except KeyError:
            table = ()
        queues: Sequence[str] = self.lookup(table, exchange, routing_key, None,
                                            headers=message.get('headers'))
        if not queues:
            queues = channel._lookup_default(exchange, routing_key)
        channel._put_routed(queues, message, **kwargs)

    def _rule(self, pattern: Any) -> tuple[bool, tuple[tuple[str, Any], ...]]:
        key = pattern if isinstance(pattern, str) else json.dumps(pattern, sort_keys=True)
        try:
            return self._parsed[key]
        except KeyError:
            pass
        arguments = json.loads(key) if isinstance(pattern, str) and pattern else (pattern or {})
        mode = str(arguments.get('x-match', 'all'))
        with_x = mode.endswith('-with-x')
        rule = (mode.startswith('any'), tuple(
            (k, v) for k, v in arguments.items()
            if k != 'x-match' and (with_x or not k.startswith('x-'))))
        if len(self._parsed) > 10000:
            self._parsed.clear()
        self._parsed[key] = rule
        return rule

    def _match(self, pattern: Any, headers: Mapping[str, Any]) -> bool:
        match_any, pairs = self._rule(pattern)
        results = (
            headers.get(k, _MISSING) is not _MISSING if v is None
            else headers.get(k, _MISSING) == v
            for k, v in pairs)
        return any(results) if match_any else all(results)


#: The exchange types every virtual channel supports, by name.
STANDARD_EXCHANGE_TYPES: dict[str, type[ExchangeType]] = {
    'direct': DirectExchange,
    'topic': TopicExchange,
    'fanout': FanoutExchange,
    'headers': HeadersExchange,
}
