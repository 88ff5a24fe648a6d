"""A virtual channel over a key-value store (etcd, Consul): queues, claims, bindings as keys.

Key layout under the channel's ``prefix``::

    <prefix>/queues/<queue>                       the queue's x- arguments (JSON)
    <prefix>/messages/<queue>/<level>/<seq>       one message (the JSON envelope)
    <prefix>/claims/<queue>/<level>.<seq>         a consumer holds that message
    <prefix>/bindings/<exchange>/<digest>         one binding (JSON)

``<level>`` is ``255 - priority`` on three digits, so listing a queue's keys in
order gives the highest priority first, then the oldest.  A consumer takes a
message by *creating* its claim key (a create that fails when the key exists,
so exactly one consumer wins) on a lease that it renews while it lives: the
claims of a consumer that vanished expire and their messages are delivered
again.  An ack deletes the message, then the claim; a requeue or a restore
rewrites the message as redelivered, then drops the claim, so it is ready
again in its old place.

A store implements the few ``kv_*`` and claim primitives of
:class:`KVChannel`; everything else is here, once.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import time
from queue import Empty
from typing import Any, Callable, Iterator, TypeVar
from urllib.parse import quote, unquote

from kombu.utils.json import dumps, loads

from . import ttl
from .base import Channel
from .claims import SettlesFreshClaims, SettlingQoS
from .errors import ErrorTranslator
from .shared_policies import PolicyCache, SharedPoliciesMixin

__all__ = ('KVChannel', 'KVQoS', 'ThrottledProbe', 'encode_name', 'decode_name', 'translated')

logger = logging.getLogger(__name__)

_F = TypeVar('_F', bound=Callable[..., Any])


class ThrottledProbe:
    """A store's reachability check for ``verify_connection``, run at most once per
    ``interval`` seconds while it succeeds.

    ``Connection.drain_events`` verifies the connection on every call; over HTTP
    that round trip costs as much as taking the message.  A failed check is not
    remembered: the next call probes again.
    """

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._ok_at = float('-inf')

    def __call__(self, probe: Callable[[], bool]) -> bool:
        now = time.monotonic()
        if now - self._ok_at < self.interval:
            return True
        ok = probe()
        if ok:
            self._ok_at = now
        return ok


def translated(errors: ErrorTranslator, operation: str) -> Callable[[_F], _F]:
    """Decorate a ``kv_*`` method ``(self, key, ...)``: its client errors translated."""
    def decorate(func: _F) -> _F:
        @functools.wraps(func)
        def wrapper(self: Any, key: Any, *args: Any) -> Any:
            with errors(operation, key if isinstance(key, str) else None):
                return func(self, key, *args)
        return wrapper  # type: ignore[return-value]
    return decorate


def encode_name(name: str) -> str:
    """A queue or exchange name as one key segment (no ``/``; reversible)."""
    # quote() keeps '~', our escape character: escape it first.
    return quote(name, safe='-_.@').replace('~', '%7E').replace('%', '~') or '~'


def decode_name(segment: str) -> str:
    return '' if segment == '~' else unquote(segment.replace('~', '%'))


class KVQoS(SettlingQoS):
    """Deletes a message (then its claim) once acked or rejected."""


class KVChannel(SharedPoliciesMixin, SettlesFreshClaims, Channel):
    """Virtual channel on a key-value store: implement the ``kv_*`` and claim hooks."""

    QoS = KVQoS
    supports_fanout = True

    #: first segment of every key.
    prefix = 'kombu'

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fresh_claims: list[Any] = []
        self._last_renew = 0.0

    # -- what a store implements ------------------------------------------------

    def kv_get(self, key: str) -> str | None:
        """The value of ``key`` (None if absent)."""
        raise NotImplementedError

    def kv_list(self, prefix: str) -> list[tuple[str, str]]:
        """``(key, value)`` of every key below ``prefix/``, sorted by key."""
        raise NotImplementedError

    def kv_put(self, key: str, value: str) -> None:
        raise NotImplementedError

    def kv_append(self, prefix: str, value: str) -> None:
        """Add ``value`` under ``prefix/`` with a key sorting after every earlier one."""
        raise NotImplementedError

    def kv_delete(self, key: str) -> None:
        """Delete ``key`` (no error if absent)."""
        raise NotImplementedError

    def kv_delete_tree(self, prefix: str) -> None:
        """Delete every key below ``prefix/`` (no error if none)."""
        raise NotImplementedError

    def kv_claim(self, key: str) -> bool:
        """Create ``key`` on this connection's lease; False if it exists already."""
        raise NotImplementedError

    def kv_renew(self, keys: list[str]) -> None:
        """Extend the lease of the claim ``keys`` this connection holds."""
        raise NotImplementedError

    @property
    def visibility_timeout(self) -> float:
        """Seconds a claim outlives its consumer."""
        return float(self.options.visibility_timeout)  # type: ignore[attr-defined]

    # -- keys --------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return '/'.join((self.prefix, *parts))

    def _queue_key(self, queue: str) -> str:
        return self._key('queues', encode_name(queue))

    def _messages(self, queue: str) -> str:
        return self._key('messages', encode_name(queue))

    def _claims_of(self, queue: str) -> str:
        return self._key('claims', encode_name(queue))

    def _bindings(self, exchange: str | None = None) -> str:
        if exchange is None:
            return self._key('bindings')
        return self._key('bindings', encode_name(exchange))

    @property
    def _claims(self) -> dict[Any, tuple[str, str]]:
        # delivery tag -> (message key, claim key): per connection, since a
        # requeue may go through another channel of it.
        return self.connection.claims  # type: ignore[no-any-return]

    # -- queues --------------------------------------------------------------------

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        arguments = kwargs.get('arguments')
        if arguments or self.kv_get(self._queue_key(queue)) is None:
            self.kv_put(self._queue_key(queue), dumps(dict(arguments or {})))
        self.connection.policies.pop(queue, None)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return self.kv_get(self._queue_key(queue)) is not None

    def _policy_cache(self) -> PolicyCache:
        return self.connection.policies  # type: ignore[no-any-return]

    def _stored_queue_arguments(self, queue: str) -> Any:
        raw = self.kv_get(self._queue_key(queue))
        return loads(raw) if raw else None

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self.kv_delete_tree(self._messages(queue))
        self.kv_delete_tree(self._claims_of(queue))
        self.kv_delete(self._queue_key(queue))
        for key, value in self.kv_list(self._bindings()):
            if loads(value).get('queue') == queue:
                self.kv_delete(key)
        self.connection.policies.pop(queue, None)

    def _ready(self, queue: str) -> Iterator[tuple[str, str, str]]:
        """``(message key, claim key, value)`` of the unclaimed messages, in order."""
        base = self._messages(queue)
        claims_base = self._claims_of(queue)
        claimed = {key for key, _ in self.kv_list(claims_base)}
        for key, value in self.kv_list(base):
            claim = f'{claims_base}/{key[len(base) + 1:].replace("/", ".")}'
            if claim not in claimed:
                yield key, claim, value

    def _size(self, queue: str) -> int:
        return sum(1 for _ in self._ready(queue))

    def _purge(self, queue: str) -> int:
        count = 0
        for key, claim, _ in self._ready(queue):
            if self.kv_claim(claim):  # not taken by a consumer meanwhile
                self.kv_delete(key)
                self.kv_delete(claim)
                count += 1
        return count

    # -- bindings ------------------------------------------------------------------

    def _binding_key(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> str:
        digest = hashlib.sha1(dumps([routing_key or '', pattern or '', queue]).encode())
        return f'{self._bindings(exchange)}/{digest.hexdigest()}'

    def get_table(self, exchange: str) -> list[tuple[str, Any, str]]:
        table = []
        for _, value in self.kv_list(self._bindings(exchange)):
            entry = loads(value)
            table.append((entry['routing_key'], entry['pattern'], entry['queue']))
        return table

    def typeof(self, exchange: str, default: str = 'direct') -> Any:
        if exchange and exchange not in self.state.exchanges:
            for _, value in self.kv_list(self._bindings(exchange)):
                typ = loads(value).get('type')
                if typ in self.exchange_types:
                    return self.exchange_types[typ]
                break
        return super().typeof(exchange, default)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        decl = self.state.exchanges.get(exchange) or {}
        self.kv_put(self._binding_key(exchange, routing_key, pattern, queue), dumps({
            'routing_key': routing_key or '', 'pattern': pattern or '', 'queue': queue,
            'type': decl.get('type', 'direct')}))

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        self.kv_delete(self._binding_key(exchange, routing_key, pattern, queue))

    # -- messages ------------------------------------------------------------------

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        level = 255 - self._queue_priority(self._queue_policy(queue), message)
        self.kv_append(f'{self._messages(queue)}/{level:03d}', dumps(message))

    def _put_front(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        claim = self._claims.pop(message['properties'].get('delivery_tag'), None)
        if claim is None:
            return self._put(queue, message, **kwargs)
        key, claim_key = claim
        self.kv_put(key, dumps(message))  # now marked redelivered (base _restore)
        self.kv_delete(claim_key)
        return None

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        self._renew_claims()
        for key, claim, _ in self._ready(queue):
            if not self.kv_claim(claim):
                continue
            value = self.kv_get(key)  # acked meanwhile by the one that held it?
            if value is None:
                self.kv_delete(claim)
                continue
            payload: dict[str, Any] = loads(value)
            tag = payload['properties'].get('delivery_tag')
            self._claims[tag] = (key, claim)
            self._fresh_claims.append(tag)
            return payload
        raise Empty()

    def _settle(self, tag: Any) -> None:
        claim = self._claims.pop(tag, None)
        if claim is not None:
            self.kv_delete(claim[0])  # message first: the claim guards it until then
            self.kv_delete(claim[1])

    def _renew_claims(self) -> None:
        now = ttl.clock()
        if now - self._last_renew < min(self.visibility_timeout / 4, 30.0):
            return
        self._last_renew = now
        keys = [claim for _, claim in list(self._claims.values())]
        if keys:
            self.kv_renew(keys)
