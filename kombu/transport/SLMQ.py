"""SoftLayer Message Queue transport (virtual), on the ``softlayer_messaging`` client.

SoftLayer (IBM Cloud) discontinued the service in 2017.  This transport is tested
with the real client against a local HTTPS fake of the service's REST API
(``t/fakes/slmq.py``), **not against the live service**; the features below are
what the conformance suite proves there.

Features
========
* Type: Virtual
* Supports Direct: Yes
* Supports Topic: Yes
* Supports Headers: Yes
* Supports Fanout: Yes (an SLMQ topic per fanout exchange, a subscription per
  bound queue: kept by the service, so shared by every client; direct and topic
  bindings are tags of the bound queues, also shared; headers bindings stay in the
  process)
* Supports Priority: Yes (queues declared with ``x-max-priority``: one SLMQ queue per
  priority step, known to the processes that declare the queue)
* Supports TTL: Yes (per message and per queue, from the virtual base)

Connection String
=================
::

    slmq://<username>:<api key>@<host>[:<port>]/<account>

``SLMQ_ACCOUNT``, ``SL_USERNAME``, ``SL_API_KEY``, ``SLMQ_HOST``, ``SLMQ_PORT`` and
``SLMQ_SECURE`` in the environment override the URL's parts, as in Kombu.  The API
key is masked in ``as_uri()`` and reprs.

Delivery
========
A received message is hidden by the service for ``visibility_timeout`` seconds and
deleted when acknowledged; if the consumer dies it reappears afterwards (at least
once).  A requeued message, and every unacknowledged one when its channel closes,
is pushed again (flagged redelivered, at the tail: the API cannot make a message
visible early) and the hidden original deleted.

Transport Options
=================
* ``visibility_timeout`` - seconds a received message stays hidden (default ``1800``).
* ``queue_name_prefix`` - prepended to every queue name (default ``''``).
* ``secure`` - HTTPS (default ``True``; Kombu's transport uses HTTPS whatever it says).
* ``priority_steps`` - priority levels with a queue of their own (default ``[0, 3, 6, 9]``).
"""
from __future__ import annotations

import dataclasses
import os
import string
import time
from queue import Empty
from typing import Any, ClassVar, Sequence

from kombu.exceptions import AccessRefused, ChannelError, ConnectionError, KombuError
from kombu.utils.encoding import bytes_to_str, safe_str
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

from . import virtual
from .virtual.errors import ErrorTranslator
from .virtual.message import as_envelope, corrupt_envelope
from .virtual.options import TransportOptions
from .virtual.settle import SettleOnAckMixin
from .virtual.shared_exchanges import SharedExchangesMixin

try:
    import requests
    from softlayer_messaging import get_client
    from softlayer_messaging.errors import ResponseError, Unauthenticated
except ImportError:  # pragma: no cover - the client library is optional
    get_client = requests = None  # type: ignore[assignment]

    class ResponseError(Exception):  # type: ignore[no-redef]
        """Stands in for the client's error when it is not installed."""

    Unauthenticated = ResponseError  # type: ignore[misc,assignment]

__all__ = ('CHARS_REPLACE_TABLE', 'Channel', 'Transport', 'SLMQOptions')

#: every punctuation character but ``_`` becomes ``_`` (SLMQ names: letters, digits, ``_``).
CHARS_REPLACE_TABLE = {ord(c): 0x5f for c in string.punctuation if c != '_'}

#: prefix of the topics standing for fanout exchanges.
_TOPIC_PREFIX = 'kombu_x_'

#: exchange types whose bindings are tags of the bound queues (fanout: topics; headers
#: patterns do not fit in a tag and stay in the process).
_TAGGED_KINDS = frozenset({'direct', 'topic'})

#: longest time a publisher routes with a table it read (its own bindings apply at once).
_TABLE_REFRESH = 1.0


def _tag(kind: str, name: str) -> str:
    """A queue tag: ``kind_`` and ``name`` in hex (tags hold letters and digits safely)."""
    return f'{kind}_{name.encode().hex()}'


def _untag(tag: str, kind: str) -> str:
    return bytes.fromhex(tag[len(kind) + 1:]).decode()


def _binding_tag(exchange: str, routing_key: str) -> str:
    return f"kb_{exchange.encode().hex()}_{routing_key.encode().hex()}"


def _status(exc: BaseException) -> int | None:
    """The HTTP status of a client error (``ResponseError('404: ...')``)."""
    if isinstance(exc, Unauthenticated):
        return 401
    if isinstance(exc, ResponseError) and exc.args:
        head = str(exc.args[0]).split(':', 1)[0]
        if head.isdigit():
            return int(head)
    return None


class _Errors(ErrorTranslator):
    """Kinds by HTTP status: 404 not found, 401/403 refused, 5xx the service's trouble."""

    def translate(self, exc: BaseException, operation: str = '',
                  name: str | None = None) -> BaseException | None:
        if isinstance(exc, KombuError):
            return None
        status = _status(exc)
        # Unauthenticated's str() fails on the client's own args: use the first one.
        text = f'slmq {operation} {name!r}: {type(exc).__name__}: {exc.args[0] if exc.args else ""}'
        if status == 404:
            return ChannelError(text, None, None, 404)
        if status in (401, 403):
            return AccessRefused(text)
        if status is not None and status >= 500:
            return ConnectionError(text)
        return super().translate(exc, operation, name)


errors = _Errors(
    'slmq',
    connection=(requests.ConnectionError, requests.Timeout) if requests else (),
    auth=(Unauthenticated,),
    channel=(ResponseError,),
)


@dataclasses.dataclass(frozen=True)
class SLMQOptions(TransportOptions):
    """``transport_options`` of the SLMQ transport (Kombu's names and defaults)."""

    transport_name: ClassVar[str] = 'slmq'

    visibility_timeout: int | None = None
    queue_name_prefix: str = ''
    secure: bool = True
    priority_steps: Sequence[int] = (0, 3, 6, 9)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require(self.visibility_timeout is None or self.visibility_timeout > 0,
                     'visibility_timeout must be > 0')
        steps = list(self.priority_steps)
        self.require(bool(steps) and all(isinstance(s, int) and 0 <= s <= 255 for s in steps),
                     f'priority_steps must be integers 0..255, not {self.priority_steps!r}')
        object.__setattr__(self, 'priority_steps', tuple(sorted(set(steps))))


class Channel(SettleOnAckMixin, SharedExchangesMixin, virtual.Channel):
    """SLMQ channel."""

    Options = SLMQOptions
    options: SLMQOptions

    supports_fanout = True
    #: routes are memoized and dropped when the shared table is re-read.
    cache_routes = True

    default_visibility_timeout = 1800  # 30 minutes.
    domain_format = 'kombu%(vhost)s'

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if get_client is None:
            raise ImportError('the SLMQ transport needs softlayer_messaging '
                              '(pip install "kombu[slmq]")')
        super().__init__(*args, **kwargs)
        self._queue_cache: dict[str, Any] = {}
        self._noack_queues: set[str] = set()
        #: delivery tag -> (SLMQ queue, message id) of received, unacknowledged messages.
        self._pending: dict[Any, tuple[str, str]] = {}
        self._fanout_known: dict[str, float] = {}

    def __repr__(self) -> str:
        return f'<{type(self).__name__} slmq id={self.channel_id}>'

    # -- names ----------------------------------------------------------------

    def entity_name(self, name: str, table: dict[int, int] = CHARS_REPLACE_TABLE) -> str:
        """The SLMQ queue name for a Kombu queue name."""
        return str(safe_str(name)).translate(table)

    def _entities(self, queue: str) -> list[str]:
        """The SLMQ queues of ``queue``, highest priority first."""
        name = self.entity_name(self.queue_name_prefix + queue)
        policy = self._queue_policy(queue)
        if policy is None or not policy.max_priority:
            return [name]
        return [self._step_entity(name, s) for s in reversed(self.options.priority_steps)]

    @staticmethod
    def _step_entity(name: str, step: int) -> str:
        return name if not step else f'{name}_kombu_p{step}'

    def _queue(self, entity: str) -> Any:
        """The client's queue object for ``entity``, created on first use."""
        cached = self._queue_cache.get(entity)
        if cached is None:
            with errors('declare', entity):
                self.slmq.create_queue(entity, visibility_interval=self.visibility_timeout)
            cached = self._queue_cache[entity] = self.slmq.queue(entity)
        return cached

    # -- queues ---------------------------------------------------------------

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        for entity in self._entities(queue):
            self._queue(entity)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        try:
            with errors('declare', queue):
                self.slmq.queue(self._entities(queue)[-1]).detail()
        except ChannelError as exc:
            if exc.reply_code == 404:
                return False
            raise
        return True

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        if len(args) >= 3 and self._kind(args[0]) == 'fanout':
            # a subscription of the queue (tags go with the queue itself)
            self._queue_unbind(args[0], args[1], args[2], queue)
        for entity in self._entities(queue):
            self._queue_cache.pop(entity, None)
            try:
                with errors('delete', entity):
                    self.slmq.queue(entity).delete(force=True)
            except ChannelError as exc:
                if exc.reply_code != 404:
                    raise

    def _size(self, queue: str) -> int:
        total = 0
        for entity in self._entities(queue):
            with errors('size', entity):
                detail = self._queue(entity).detail()
            total += detail.get('visible_message_count', detail['message_count'])
        return total

    def _purge(self, queue: str) -> int:
        count = 0
        for entity in self._entities(queue):
            q = self._queue(entity)
            while True:
                with errors('purge', entity):
                    items = q.pop(100)['items']
                    for item in items:
                        q.message(item['id']).delete()
                count += len(items)
                if not items:
                    break
        return count

    # -- messages -------------------------------------------------------------

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        entity = self.entity_name(self.queue_name_prefix + queue)
        policy = self._queue_policy(queue)
        if policy is not None and policy.max_priority:
            level = self._queue_priority(policy, message)
            step = max([s for s in self.options.priority_steps if s <= level] or [0])
            entity = self._step_entity(entity, step)
        with errors('publish', queue):
            # A str is what a corrupt entry held (requeued as it was stored).
            self._queue(entity).push(message if isinstance(message, str) else dumps(message))

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        for entity in self._entities(queue):
            q = self._queue(entity)
            with errors('receive', queue):
                items = q.pop(1)['items']
            if items:
                return self._unpack(items[0], entity, noack=queue in self._noack_queues)
        raise Empty()

    def _unpack(self, item: dict[str, Any], entity: str, noack: bool) -> dict[str, Any]:
        text = bytes_to_str(item['body'])
        try:
            message = as_envelope(loads(text))
        except ValueError as exc:   # not JSON: on_decode_error gets it
            message = corrupt_envelope(text, f'message is not JSON: {exc}')
        props = message['properties']
        # A tag of its own: a copy that reappeared must not settle another delivery.
        props['delivery_tag'] = tag = self._next_delivery_tag()
        if noack:
            self.delete_message(entity, item['id'])
        else:
            self._pending[tag] = (entity, item['id'])
        return message

    def delete_message(self, queue: str, message_id: str) -> Any:
        """Delete a received message (``queue`` is the SLMQ queue it came from)."""
        try:
            with errors('delete message', queue):
                return self.slmq.queue(self.entity_name(queue)).message(message_id).delete()
        except ChannelError as exc:
            if exc.reply_code != 404:   # 404: deleted already (its copy reappeared)
                raise
        return False

    def _settle(self, tag: Any, action: str = 'complete') -> None:
        """Delete the received message ``tag`` from SLMQ (its only way to settle)."""
        entry = self._pending.pop(tag, None)
        if entry is not None:
            self.delete_message(*entry)

    def _restore(self, message: Any) -> None:
        tag = message.delivery_tag
        super()._restore(message)   # a redelivered copy first: at least once
        self._settle(tag)

    # -- fanout: SLMQ topics --------------------------------------------------

    def _topic_name(self, exchange: str) -> str:
        return self.entity_name(f'{self.queue_name_prefix}{_TOPIC_PREFIX}{exchange}')

    def _kind(self, exchange: str) -> str:
        decl = self.state.exchanges.get(exchange)
        return decl['type'] if decl is not None else self.typeof(exchange).type

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        kind = self._kind(exchange)
        if kind in _TAGGED_KINDS:
            self._retag(queue, exchange, add=routing_key)
        if kind != 'fanout':
            return
        topic_name = self._topic_name(exchange)
        entity = self.entity_name(self.queue_name_prefix + queue)
        with errors('bind', queue):
            self.slmq.create_topic(topic_name)
            topic = self.slmq.topic(topic_name)
            subscribed = {s['endpoint'].get('queue_name')
                          for s in topic.subscriptions()['items']}
            if entity not in subscribed:
                topic.create_subscription('queue', queue_name=entity)
        self._fanout_known[exchange] = float('inf')

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        kind = self._kind(exchange)
        if kind in _TAGGED_KINDS:
            self._retag(queue, exchange, remove=routing_key)
            return
        entity = self.entity_name(self.queue_name_prefix + queue)
        topic = self.slmq.topic(self._topic_name(exchange))
        try:
            with errors('unbind', queue):
                for sub in topic.subscriptions()['items']:
                    if sub['endpoint'].get('queue_name') == entity:
                        topic.subscription(sub['id']).delete()
        except ChannelError as exc:
            if exc.reply_code != 404:
                raise

    # -- direct and topic bindings: tags of the bound queue ---------------------

    def _retag(self, queue: str, exchange: str, add: str | None = None,
               remove: str | None = None) -> None:
        """Add or remove the tags recording a binding of ``queue`` to ``exchange``."""
        q = self._queue(self.entity_name(self.queue_name_prefix + queue))
        with errors('bind', queue):
            tags = list(q.detail().get('tags') or [])
            prefix = _binding_tag(exchange, '')
            if add is not None:   # kt_: the exchange's type, for processes that did not declare it
                kind = self._kind(exchange)
                tags += [t for t in (_tag('kq', queue), _tag('kx', exchange),
                                     _tag(f'kt_{kind}', exchange),
                                     _binding_tag(exchange, add)) if t not in tags]
            if remove is not None:
                tags = [t for t in tags if t != _binding_tag(exchange, remove)]
                if not any(t.startswith(prefix) for t in tags):
                    hexed = exchange.encode().hex()
                    tags = [t for t in tags if t != _tag('kx', exchange)
                            and not (t.startswith('kt_') and t.endswith(f'_{hexed}'))]
            q.modify(tags=tags)
        self.connection._tables.pop(exchange, None)
        self.state.invalidate_routes(exchange)

    def get_table(self, exchange: str) -> list[Any]:
        kind = self._kind(exchange)
        if kind not in _TAGGED_KINDS:
            return super().get_table(exchange)
        tables = self.connection._tables
        now = time.monotonic()
        hit = tables.get(exchange)
        if hit is not None and now - hit[0] < _TABLE_REFRESH:
            return hit[1]
        with errors('read bindings', exchange):
            items = self.slmq.queues(tags=[_tag('kx', exchange)])['items']
        typ, prefix, table = self.exchange_types[kind], _binding_tag(exchange, ''), []
        for item in items:
            tags = item.get('tags') or []
            names = [_untag(t, 'kq') for t in tags if t.startswith('kq_')]
            if not names:
                continue
            for t in tags:
                if t.startswith(prefix):
                    key = bytes.fromhex(t[len(prefix):]).decode()
                    table.append(tuple(typ.prepare_bind(names[0], exchange, key, None)))
        tables[exchange] = (now, table)
        return table

    def _lookup(self, exchange: str, routing_key: str, default: str | None = None) -> Any:
        if exchange:
            hit = self.connection._tables.get(exchange)
            if hit is None or time.monotonic() - hit[0] >= _TABLE_REFRESH:
                self.state.invalidate_routes(exchange)   # re-read the shared table
        return super()._lookup(exchange, routing_key, default)

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str,
                    **kwargs: Any) -> None:
        if 'expiration' in message['properties']:
            self._stamp_expiry(message['properties'], None)
        try:
            with errors('publish', exchange):
                self.slmq.topic(self._topic_name(exchange)).push(dumps(message))
        except ChannelError as exc:
            if exc.reply_code != 404:
                raise
            # No topic: nobody ever bound a queue, so (as AMQP) nobody gets a copy.

    def _store_exchange(self, exchange: str, type: str) -> None:
        if type == 'fanout':   # the topic says "fanout" to processes that did not declare it
            with errors('declare exchange', exchange):
                self.slmq.create_topic(self._topic_name(exchange))
            self._fanout_known[exchange] = float('inf')

    def _stored_exchange_type(self, exchange: str) -> str | None:
        # A fanout exchange is a topic; a direct or topic one is in its queues' tags.
        if self._is_fanout(exchange):
            return 'fanout'
        with errors('declare exchange', exchange):
            items = self.slmq.queues(tags=[_tag('kx', exchange)])['items']
        suffix = f'_{exchange.encode().hex()}'
        for item in items:
            for tag in item.get('tags') or []:
                if tag.startswith('kt_') and tag.endswith(suffix):
                    return tag[3:-len(suffix)]
        return None

    def _is_fanout(self, exchange: str) -> bool:
        now = time.monotonic()
        if self._fanout_known.get(exchange, 0) > now:
            return True
        try:
            with errors('declare exchange', exchange):
                self.slmq.topic(self._topic_name(exchange)).detail()
        except ChannelError as exc:
            if exc.reply_code != 404:
                raise
            return False
        self._fanout_known[exchange] = float('inf')
        return True

    def exchange_delete(self, exchange: str, if_unused: bool = False,
                        nowait: bool = False) -> None:
        fanout = self.typeof(exchange).type == 'fanout'
        super().exchange_delete(exchange, if_unused, nowait)
        self._fanout_known.pop(exchange, None)
        if fanout:
            try:
                with errors('delete exchange', exchange):
                    self.slmq.topic(self._topic_name(exchange)).delete(force=True)
            except ChannelError as exc:
                if exc.reply_code != 404:
                    raise

    # -- client and options -----------------------------------------------------

    @property
    def slmq(self) -> Any:
        return self.connection.slmq_client(self)

    @cached_property
    def visibility_timeout(self) -> int:
        return self.options.visibility_timeout or self.default_visibility_timeout

    @cached_property
    def queue_name_prefix(self) -> str:
        return self.options.queue_name_prefix


class Transport(virtual.Transport):
    """SLMQ transport."""

    Channel = Channel

    polling_interval: float = 1
    default_port: int | None = None
    driver_type = driver_name = 'slmq'
    implements = virtual.Transport.implements.extend(
        exchange_type=frozenset(['direct', 'topic', 'fanout', 'headers']))

    connection_errors = errors.connection_errors
    channel_errors = errors.channel_errors

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self._slmq: Any = None
        #: exchange -> (read at, table) of the bindings kept as queue tags.
        self._tables: dict[str, tuple[float, list[Any]]] = {}

    def slmq_client(self, channel: Any) -> Any:
        """The authenticated client of this connection (built on first use)."""
        if self._slmq is None:
            conninfo = self.client
            env = os.environ
            account = env.get('SLMQ_ACCOUNT', conninfo.virtual_host)
            user = env.get('SL_USERNAME', conninfo.userid)
            api_key = env.get('SL_API_KEY', conninfo.password)
            host = env.get('SLMQ_HOST', conninfo.hostname)
            port = env.get('SLMQ_PORT', conninfo.port)
            secure = channel.options.secure
            if 'SLMQ_SECURE' in env:
                secure = env['SLMQ_SECURE'].strip().lower() not in ('0', 'false', 'no', '')
            endpoint = f"{'https' if secure else 'http'}://{host}{f':{port}' if port else ''}"
            client = get_client(account, endpoint=endpoint)
            with errors('authenticate', account):
                client.authenticate(user, api_key)
            self._slmq = client
        return self._slmq

    def close_connection(self, connection: Any) -> None:
        super().close_connection(connection)
        self._slmq = None
