"""A fake of the ``qpid.messaging`` and ``qpidtoollibs`` client surface over an in-process
Qpid broker model (no qpidd and no Python 3 qpid.messaging can be installed here).

What the ``qpid`` transport uses, as the real libraries define it:

* ``messaging.Connection(host, port=..., username=..., password=...,
  sasl_mechanisms=..., transport=..., timeout=...)``: ``open``, ``session``, ``close``;
  a refused login raises ``AuthenticationFailure``, no broker ``ConnectionError``;
* ``Session``: ``sender(address)``, ``receiver(address)`` (``capacity`` is the prefetch
  window), ``next_receiver(timeout)``, ``acknowledge(message=..., disposition=...)``,
  ``set_message_received_notify_handler``, ``close`` (what it holds unacknowledged goes
  back, flagged redelivered);
* addresses ``<queue>; {assert: always, node: {type: queue}}`` and
  ``<exchange>/<subject>; {...}``;
* ``Message(content=..., subject=..., ttl=..., priority=..., properties=...)``;
* ``qpidtoollibs.BrokerAgent(connection)``: ``addQueue``/``getQueue``/``delQueue``
  (``msgDepth``, ``consumerCount``, ``purge``), ``addExchange``/``getExchange``/
  ``delExchange``, ``bind``/``unbind`` (binding arguments for headers exchanges).

The broker honours what qpidd does with those: direct, topic, fanout and headers
exchanges; per-message ``ttl``; queue arguments ``qpid.priorities`` (levels, highest
first), ``qpid.max_count`` with ``qpid.policy_type: ring`` (oldest dropped) and
``alternate-exchange`` (where rejected messages go).
"""
from __future__ import annotations

import re
import threading
import time
import types
from collections import deque
from typing import Any, Callable

__all__ = ('FakeBroker', 'brokers', 'messaging', 'qpidtoollibs', 'reset')


class MessagingError(Exception):
    def __init__(self, code: int | None = None, text: str | None = None, **info: Any):
        self.code, self.text = code, text
        super().__init__(text or '')


class ConnectionError(MessagingError):
    pass


class AuthenticationFailure(ConnectionError):
    pass


class SessionError(MessagingError):
    pass


class NotFound(SessionError):
    pass


class SessionClosed(SessionError):
    pass


class Empty(Exception):
    pass


RELEASED, REJECTED = 'released', 'rejected'


class Disposition:
    def __init__(self, type: str, **options: Any) -> None:
        self.type, self.options = type, options


class Message:
    def __init__(self, content: Any = None, subject: str | None = None,
                 ttl: float | None = None, priority: int | None = None,
                 properties: dict[str, Any] | None = None, durable: bool | None = None,
                 **kwargs: Any) -> None:
        self.content, self.subject, self.ttl = content, subject, ttl
        self.priority = priority
        self.properties = dict(properties or {})
        self.durable = durable
        self.redelivered = False
        self._receiver: Receiver | None = None
        self._stored: _Stored | None = None


class _Stored:
    __slots__ = ('content', 'subject', 'priority', 'properties', 'expires_at', 'redelivered')

    def __init__(self, message: Message) -> None:
        self.content = message.content
        self.subject = message.subject
        self.priority = int(message.priority or 0)
        self.properties = dict(message.properties)
        self.expires_at = time.monotonic() + message.ttl if message.ttl else None
        self.redelivered = False


def _topic_match(pattern: str, key: str) -> bool:
    regex = '^' + re.escape(pattern).replace(r'\#', '.*').replace(r'\*', '[^.]*') + '$'
    # "a.#" must match "a" too, and "#.b" match "b" (AMQP topic semantics).
    regex = regex.replace(r'\..*', r'(\..*)?').replace(r'.*\.', r'(.*\.)?')
    return re.match(regex, key) is not None


class _Queue:
    def __init__(self, name: str, arguments: dict[str, Any]) -> None:
        self.name = name
        self.arguments = arguments
        levels = int(arguments.get('qpid.priorities') or 1)
        self.levels = max(1, min(levels, 10))
        self.ready: list[deque[_Stored]] = [deque() for _ in range(self.levels)]
        self.consumers = 0

    def level(self, stored: _Stored) -> int:
        if self.levels == 1:
            return 0
        # qpidd maps priorities 0-9 onto the levels evenly.
        return min(stored.priority, 9) * self.levels // 10

    def put(self, stored: _Stored, front: bool = False) -> None:
        fifo = self.ready[self.level(stored)]
        if front:
            fifo.appendleft(stored)
        else:
            fifo.append(stored)
        max_count = self.arguments.get('qpid.max_count')
        if max_count and self.arguments.get('qpid.policy_type') == 'ring':
            while self.depth() > int(max_count):
                for fifo in self.ready:   # the oldest of the lowest level goes first
                    if fifo:
                        fifo.popleft()
                        break

    def pop(self) -> _Stored | None:
        now = time.monotonic()
        for fifo in reversed(self.ready):
            while fifo:
                stored = fifo.popleft()
                if stored.expires_at is None or stored.expires_at > now:
                    return stored
        return None

    def depth(self) -> int:
        now = time.monotonic()
        for fifo in self.ready:
            live = [s for s in fifo if s.expires_at is None or s.expires_at > now]
            if len(live) != len(fifo):
                fifo.clear()
                fifo.extend(live)
        return sum(len(fifo) for fifo in self.ready)


class FakeBroker:
    """One broker (``host:port``): queues, exchanges, bindings; users and passwords."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.queues: dict[str, _Queue] = {}
        self.exchanges: dict[str, dict[str, Any]] = {
            '': {'type': 'direct', 'bindings': []},
            'amq.direct': {'type': 'direct', 'bindings': []},
            'amq.topic': {'type': 'topic', 'bindings': []},
            'amq.fanout': {'type': 'fanout', 'bindings': []},
            'amq.match': {'type': 'headers', 'bindings': []},
        }
        #: username -> password; None: anybody.
        self.users: dict[str, str] | None = None
        self.running = True
        self.sessions: list[Session] = []

    def route(self, exchange: str, subject: str, stored: _Stored) -> list[str]:
        decl = self.exchanges.get(exchange)
        if decl is None:
            raise NotFound(code=404, text=f'no such exchange: {exchange}')
        kind = decl['type']
        targets = []
        for queue, key, arguments in decl['bindings']:
            if kind == 'fanout' or (kind == 'direct' and key == subject) or (
                    kind == 'topic' and _topic_match(key, subject)) or (
                    kind == 'headers' and self._headers_match(arguments, stored)):
                if queue not in targets:
                    targets.append(queue)
        return targets

    @staticmethod
    def _headers_match(arguments: dict[str, Any], stored: _Stored) -> bool:
        wanted = {k: v for k, v in (arguments or {}).items() if not k.startswith('x-')}
        headers = (stored.content or {}).get('headers') or {}
        hits = [k in headers and (v is None or headers[k] == v) for k, v in wanted.items()]
        if (arguments or {}).get('x-match', 'all') == 'any':
            return any(hits)
        return all(hits)

    def deliver(self, queue_names: list[str], message: Message) -> None:
        for name in queue_names:
            queue = self.queues.get(name)
            if queue is not None:
                queue.put(_Stored(message))
        self.cond.notify_all()
        for session in list(self.sessions):
            session._notify()


#: "host:port" -> broker.
brokers: dict[str, FakeBroker] = {}


def broker(host: str, port: int) -> FakeBroker:
    return brokers.setdefault(f'{host}:{port}', FakeBroker())


def reset() -> None:
    brokers.clear()


def _parse(address: str) -> tuple[str, str | None]:
    name = address.split(';', 1)[0].strip()
    node, slash, subject = name.partition('/')
    return node, (subject if slash else None)


class Connection:
    def __init__(self, host: str = 'localhost', port: int = 5672, username: str | None = None,
                 password: str | None = None, sasl_mechanisms: str | None = None,
                 transport: str = 'tcp', timeout: float | None = None, **options: Any):
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.sasl_mechanisms, self.transport, self.timeout = sasl_mechanisms, transport, timeout
        self.options = options
        self._broker: FakeBroker | None = None
        self._sessions: list[Session] = []

    def open(self) -> None:
        candidate = brokers.get(f'{self.host}:{self.port}')
        if candidate is None or not candidate.running:
            raise ConnectionError(text=f'[Errno 111] Connection refused: {self.host}:{self.port}')
        users = candidate.users
        if users is not None and users.get(self.username or '') != self.password:
            raise AuthenticationFailure(text='sasl negotiation failed: no mechanism agreed')
        self._broker = candidate

    def opened(self) -> bool:
        return self._broker is not None

    def session(self) -> Session:
        if self._broker is None or not self._broker.running:
            raise ConnectionError(text='connection is closed')
        session = Session(self, self._broker)
        self._sessions.append(session)
        with self._broker.cond:
            self._broker.sessions.append(session)
        return session

    def close(self, timeout: float | None = None) -> None:
        for session in list(self._sessions):
            session.close()
        self._broker = None


class Sender:
    def __init__(self, session: Session, address: str) -> None:
        self.session, self.address = session, address
        self.target, self.subject = _parse(address)

    def send(self, message: Message, sync: bool = True, timeout: float | None = None) -> None:
        broker = self.session._check()
        with broker.cond:
            if self.subject is None:   # a queue address
                if self.target not in broker.queues:
                    raise NotFound(code=404, text=f'no such queue: {self.target}')
                broker.deliver([self.target], message)
            else:
                subject = message.subject if message.subject is not None else self.subject
                broker.deliver(broker.route(self.target, subject, _Stored(message)), message)

    def close(self) -> None:
        pass


class Receiver:
    def __init__(self, session: Session, address: str) -> None:
        self.session, self.source = session, _parse(address)[0]
        self.capacity = 0
        self.closed = False
        with session._broker.cond:
            queue = session._broker.queues.get(self.source)
            if queue is None:
                raise NotFound(code=404, text=f'no such queue: {self.source}')
            queue.consumers += 1

    def _take(self) -> Message | None:
        broker = self.session._check()
        queue = broker.queues.get(self.source)
        if queue is None:
            raise NotFound(code=404, text=f'no such queue: {self.source}')
        stored = queue.pop()
        if stored is None:
            return None
        message = Message(stored.content, stored.subject, priority=stored.priority,
                          properties=stored.properties)
        message.redelivered = stored.redelivered
        message._receiver, message._stored = self, stored
        self.session._unacked.append((message, self.source))
        return message

    def available(self) -> int:
        with self.session._broker.cond:
            queue = self.session._broker.queues.get(self.source)
            return queue.depth() if queue is not None else 0

    def fetch(self, timeout: float | None = None) -> Message:
        broker = self.session._broker
        deadline = None if timeout is None else time.monotonic() + timeout
        with broker.cond:
            while True:
                message = self._take()
                if message is not None:
                    return message
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Empty()
                broker.cond.wait(remaining)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with self.session._broker.cond:
                queue = self.session._broker.queues.get(self.source)
                if queue is not None:
                    queue.consumers -= 1
            if self in self.session._receivers:
                self.session._receivers.remove(self)


class Session:
    def __init__(self, connection: Connection, broker: FakeBroker) -> None:
        self.connection, self._broker = connection, broker
        self._receivers: list[Receiver] = []
        self._unacked: list[tuple[Message, str]] = []
        self._handler: Callable[[Session], Any] | None = None
        self.closed = False

    def _check(self) -> FakeBroker:
        if self.closed:
            raise SessionClosed(text='session is closed')
        if not self._broker.running:
            raise ConnectionError(text='connection aborted')
        return self._broker

    def _notify(self) -> None:
        handler = self._handler
        if handler is not None and not self.closed:
            handler(self)

    def set_message_received_notify_handler(self, handler: Callable[[Session], Any]) -> None:
        self._handler = handler

    def sender(self, address: str) -> Sender:
        self._check()
        return Sender(self, address)

    def receiver(self, address: str) -> Receiver:
        self._check()
        receiver = Receiver(self, address)
        self._receivers.append(receiver)
        return receiver

    def next_receiver(self, timeout: float | None = None) -> Receiver:
        deadline = None if timeout is None else time.monotonic() + timeout
        broker = self._broker
        with broker.cond:
            while True:
                self._check()
                for receiver in list(self._receivers):
                    held = sum(1 for m, _ in self._unacked if m._receiver is receiver)
                    if receiver.capacity and held >= receiver.capacity:
                        continue   # its prefetch window is full
                    if receiver.available():
                        return receiver
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Empty()
                broker.cond.wait(remaining if remaining is None else min(remaining, 0.05))

    def acknowledge(self, message: Message | None = None,
                    disposition: Disposition | None = None, sync: bool = True) -> None:
        broker = self._check()
        with broker.cond:
            entries = [e for e in self._unacked if message is None or e[0] is message]
            for entry in entries:
                self._unacked.remove(entry)
                acked, source = entry
                if disposition is None:
                    continue
                stored = acked._stored
                assert stored is not None
                queue = broker.queues.get(source)
                if disposition.type == RELEASED and queue is not None:
                    stored.redelivered = True
                    queue.put(stored, front=True)
                elif disposition.type == REJECTED and queue is not None:
                    alternate = queue.arguments.get('alternate-exchange')
                    if alternate:
                        again = Message(stored.content, stored.subject,
                                        priority=stored.priority, properties=stored.properties)
                        broker.deliver(broker.route(alternate, stored.subject or '', stored),
                                       again)
            broker.cond.notify_all()

    def close(self, timeout: float | None = None) -> None:
        if self.closed:
            return
        broker = self._broker
        with broker.cond:
            for receiver in list(self._receivers):
                receiver.close()
            # What this session held unacknowledged goes back, oldest first.
            for message, source in reversed(self._unacked):
                queue = broker.queues.get(source)
                if queue is not None and message._stored is not None:
                    message._stored.redelivered = True
                    queue.put(message._stored, front=True)
            self._unacked.clear()
            self.closed = True
            if self in broker.sessions:
                broker.sessions.remove(self)
            broker.cond.notify_all()


class _QueueObject:
    """What ``BrokerAgent.getQueue`` returns: ``values`` and ``purge``."""

    def __init__(self, agent: BrokerAgent, name: str) -> None:
        self._agent, self.name = agent, name

    @property
    def values(self) -> dict[str, Any]:
        broker = self._agent._broker
        with broker.cond:
            queue = broker.queues[self.name]
            return {'name': self.name, 'msgDepth': queue.depth(),
                    'consumerCount': queue.consumers, 'arguments': dict(queue.arguments)}

    def getAttributes(self) -> dict[str, Any]:
        return self.values

    def purge(self, count: int = 0) -> None:
        broker = self._agent._broker
        with broker.cond:
            queue = broker.queues[self.name]
            for _ in range(count or queue.depth()):
                if queue.pop() is None:
                    break


class BrokerAgent:
    """``qpidtoollibs.BrokerAgent`` over the fake broker (QMF management calls)."""

    def __init__(self, connection: Connection) -> None:
        if connection._broker is None:
            raise ConnectionError(text='connection is not open')
        self._broker = connection._broker

    def _check(self) -> FakeBroker:
        if not self._broker.running:
            raise ConnectionError(text='connection aborted')
        return self._broker

    def addQueue(self, name: str, options: dict[str, Any] | None = None) -> None:
        broker = self._check()
        options = dict(options or {})
        arguments = dict(options.pop('arguments', None) or {})
        arguments.update({k: v for k, v in options.items() if k.startswith('qpid.')
                          or k == 'alternate-exchange'})
        with broker.cond:
            if name in broker.queues:
                raise SessionError(text=f'object already exists: {name}')
            broker.queues[name] = _Queue(name, arguments)

    def getQueue(self, name: str) -> _QueueObject | None:
        broker = self._check()
        with broker.cond:
            return _QueueObject(self, name) if name in broker.queues else None

    def delQueue(self, name: str) -> None:
        broker = self._check()
        with broker.cond:
            if broker.queues.pop(name, None) is None:
                raise NotFound(code=404, text=f'no such queue: {name}')
            for decl in broker.exchanges.values():
                decl['bindings'] = [b for b in decl['bindings'] if b[0] != name]

    def addExchange(self, exchange_type: str, name: str,
                    options: dict[str, Any] | None = None) -> None:
        broker = self._check()
        with broker.cond:
            if name in broker.exchanges:
                raise SessionError(text=f'object already exists: {name}')
            if exchange_type not in ('direct', 'topic', 'fanout', 'headers'):
                raise SessionError(text=f'unknown exchange type: {exchange_type}')
            broker.exchanges[name] = {'type': exchange_type, 'bindings': []}

    def getExchange(self, name: str) -> Any:
        broker = self._check()
        with broker.cond:
            decl = broker.exchanges.get(name)
            return types.SimpleNamespace(name=name, values={'type': decl['type']}) \
                if decl else None

    def delExchange(self, name: str) -> None:
        broker = self._check()
        with broker.cond:
            if broker.exchanges.pop(name, None) is None:
                raise NotFound(code=404, text=f'no such exchange: {name}')

    def bind(self, exchange: str, queue: str, key: str = '',
             options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        broker = self._check()
        with broker.cond:
            decl = broker.exchanges.get(exchange)
            if decl is None or queue not in broker.queues:
                raise NotFound(code=404, text=f'no such exchange or queue: {exchange}/{queue}')
            entry = (queue, key, dict(options or {}))
            if entry not in decl['bindings']:
                decl['bindings'].append(entry)

    def unbind(self, exchange: str, queue: str, key: str = '', **kwargs: Any) -> None:
        broker = self._check()
        with broker.cond:
            decl = broker.exchanges.get(exchange)
            if decl is not None:
                decl['bindings'] = [b for b in decl['bindings']
                                    if not (b[0] == queue and b[1] == key)]

    def close(self) -> None:
        pass


#: the module objects the transport imports, as ``qpid.messaging`` and ``qpidtoollibs``.
messaging = types.SimpleNamespace(
    Connection=Connection, Message=Message, Empty=Empty, Disposition=Disposition,
    RELEASED=RELEASED, REJECTED=REJECTED,
    exceptions=types.SimpleNamespace(
        MessagingError=MessagingError, ConnectionError=ConnectionError,
        AuthenticationFailure=AuthenticationFailure, SessionError=SessionError,
        NotFound=NotFound, SessionClosed=SessionClosed, Empty=Empty))
qpidtoollibs = types.SimpleNamespace(BrokerAgent=BrokerAgent)
