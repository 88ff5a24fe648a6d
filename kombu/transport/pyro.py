"""Pyro transport (virtual): queues, bindings and queue arguments in a broker object
served by Pyro (``Pyro5``, or ``Pyro4`` when Pyro5 is not installed).

Features
========
* Type: Virtual
* Supports Direct: Yes
* Supports Topic: Yes
* Supports Headers: Yes
* Supports Fanout: Yes (the binding table lives in the broker object)
* Supports Priority: Yes (queues declared with ``x-max-priority``, 0-255)
* Supports TTL: Yes (per message and per queue, from the virtual base)

Connection String
=================
::

    pyro://<name server host>[:<name server port>]/<broker name>

The host and port (default ``9090``; Kombu's transport ignores the port) are those of a
Pyro name server, which the transport asks for the broker object registered as
``<broker name>`` (default ``kombu.broker``).  Start the broker with::

    python -m Pyro5.nameserver -n 127.0.0.1 -p 9090
    python -m kombu.transport.pyro --ns-host 127.0.0.1 --ns-port 9090

(``PYRO_NS_HOST``/``PYRO_NS_PORT``/``PYRO_HOST`` in the environment work too, as in
Kombu.)

The broker
==========
:class:`KombuBroker` keeps everything in memory in its process: the messages (one FIFO
per priority level), the queue arguments, the exchanges and their bindings.  So an
exchange declared and bound by one client process routes messages published by
another, and priorities and ``x-message-ttl`` apply whoever publishes.  A consumer that
finds its queues empty waits in the broker (a long poll) rather than polling.  Messages
do not survive a restart of the broker process; clients see a
:class:`~kombu.exceptions.ConnectionError` while it is down and reconnect (to its new
address, through the name server) when ``Connection.ensure`` retries.

Transport Options
=================
* ``polling_interval`` - longest wait of one long poll in the broker (default ``1``).
"""
from __future__ import annotations

import argparse
import collections
import logging
import os
import threading
import time
from queue import Empty
from typing import Any, Callable, Sequence

from . import virtual
from .virtual.errors import ErrorTranslator
from .virtual.message import as_envelope
from .virtual.routing import EXPIRES_AT, queue_priority
from .virtual.shared_exchanges import SharedExchangesMixin
from .virtual.shared_policies import PolicyCache, SharedPoliciesMixin

try:
    import Pyro5.api as pyro
    import Pyro5.errors as pyro_errors
    _locate_ns: Callable[..., Any] = pyro.locate_ns
except ImportError:  # pragma: no cover - Pyro4 only
    try:
        import Pyro4 as pyro  # type: ignore[no-redef]
        import Pyro4.errors as pyro_errors  # type: ignore[no-redef]
        _locate_ns = pyro.locateNS
    except ImportError:
        pyro = pyro_errors = None  # type: ignore[assignment]

__all__ = ('Channel', 'Transport', 'KombuBroker', 'DEFAULT_PORT', 'E_LOOKUP', 'E_NAMESERVER')

logger = logging.getLogger(__name__)

DEFAULT_PORT = 9090
DEFAULT_BROKER_NAME = 'kombu.broker'

E_NAMESERVER = 'Unable to locate pyro nameserver on host {0.hostname}'
E_LOOKUP = "Unable to lookup '{0.virtual_host}' in pyro nameserver on host {0.hostname}"

if pyro_errors is not None:
    errors = ErrorTranslator(
        'pyro',
        connection=(pyro_errors.CommunicationError, pyro_errors.NamingError),
        limit=(pyro_errors.MessageTooLargeError,),
        channel=(pyro_errors.PyroError,),
    )
else:  # pragma: no cover
    errors = ErrorTranslator('pyro')


def _served(cls: type) -> type:
    """Expose every method of ``cls`` through Pyro, one instance for every client."""
    if pyro is None:  # pragma: no cover
        return cls
    return pyro.behavior(instance_mode='single')(pyro.expose(cls))


@_served
class KombuBroker:
    """The broker object served by Pyro: queues, queue arguments, exchanges, bindings.

    One instance serves every client (``instance_mode='single'``) from Pyro's
    thread pool, so every method takes the lock.  Methods return plain values
    (``None`` for an empty queue rather than raising across the wire).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        #: queue -> priority level -> FIFO of envelopes (levels sorted high first).
        self.queues: dict[str, dict[int, collections.deque[Any]]] = {}
        self.arguments: dict[str, dict[str, Any]] = {}
        #: exchange -> (type, bindings as [routing_key, pattern, queue]).
        self.exchanges: dict[str, tuple[str, list[list[Any]]]] = {}

    # -- queues ---------------------------------------------------------------

    def get_queue_names(self) -> list[str]:
        with self._cond:
            return list(self.queues)

    def new_queue(self, queue: str, arguments: dict[str, Any] | None = None) -> None:
        with self._cond:
            if queue not in self.queues:
                self.queues[queue] = {0: collections.deque()}
            if arguments:
                self.arguments[queue] = dict(arguments)

    def has_queue(self, queue: str) -> bool:
        with self._cond:
            return queue in self.queues

    def queue_arguments(self, queue: str) -> dict[str, Any] | None:
        with self._cond:
            return self.arguments.get(queue)

    def _level(self, queue: str, message: dict[str, Any]) -> int:
        arguments = self.arguments.get(queue)
        max_priority = arguments.get('x-max-priority') if arguments else None
        if not max_priority:
            return 0
        return queue_priority(message, min(int(max_priority), 255))

    def put(self, queue: str, message: dict[str, Any], front: bool = False) -> None:
        with self._cond:
            levels = self.queues.get(queue)
            if levels is None:   # as Kombu's broker: a put creates the queue
                levels = self.queues[queue] = {0: collections.deque()}
            level = self._level(queue, message)
            fifo = levels.get(level)
            if fifo is None:
                fifo = levels[level] = collections.deque()
                self.queues[queue] = dict(sorted(levels.items(), reverse=True))
            if front:
                fifo.appendleft(message)
            else:
                fifo.append(message)
            self._cond.notify_all()

    def _pop(self, queue: str) -> Any:
        for fifo in self.queues.get(queue, {}).values():
            if fifo:
                return fifo.popleft()
        return None

    def get(self, queue: str) -> Any:
        with self._cond:
            return self._pop(queue)

    def get_any(self, queues: Sequence[str], timeout: float = 0) -> Any:
        """``[queue, message]`` of the first of ``queues`` with a message, waiting up to
        ``timeout`` seconds for one; None if none came."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for queue in queues:
                    message = self._pop(queue)
                    if message is not None:
                        return [queue, message]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def size(self, queue: str) -> int:
        with self._cond:
            return sum(len(fifo) for fifo in self.queues.get(queue, {}).values())

    def delete(self, queue: str) -> None:
        with self._cond:
            self.queues.pop(queue, None)
            self.arguments.pop(queue, None)
            for _, table in self.exchanges.values():
                table[:] = [entry for entry in table if entry[2] != queue]

    def purge(self, queue: str) -> int:
        with self._cond:
            levels = self.queues.get(queue, {})
            count = sum(len(fifo) for fifo in levels.values())
            for fifo in levels.values():
                fifo.clear()
            return count

    # -- exchanges --------------------------------------------------------------

    def declare_exchange(self, exchange: str, type: str) -> None:
        with self._cond:
            if exchange not in self.exchanges:
                self.exchanges[exchange] = (type, [])

    def exchange_type(self, exchange: str) -> str | None:
        with self._cond:
            decl = self.exchanges.get(exchange)
            return decl[0] if decl else None

    def delete_exchange(self, exchange: str) -> None:
        with self._cond:
            self.exchanges.pop(exchange, None)

    def bind(self, exchange: str, routing_key: str, pattern: Any, queue: str,
             type: str = 'direct') -> None:
        with self._cond:
            _, table = self.exchanges.setdefault(exchange, (type, []))
            entry = [routing_key, pattern, queue]
            if entry not in table:
                table.append(entry)

    def unbind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        with self._cond:
            decl = self.exchanges.get(exchange)
            if decl is not None:
                entry = [routing_key, pattern, queue]
                decl[1][:] = [e for e in decl[1] if e != entry]

    def get_table(self, exchange: str) -> list[list[Any]] | None:
        with self._cond:
            decl = self.exchanges.get(exchange)
            return [list(entry) for entry in decl[1]] if decl else None


class Channel(SharedPoliciesMixin, SharedExchangesMixin, virtual.Channel):
    """Pyro channel: every storage hook is a call to the broker object."""

    supports_fanout = True
    #: tables are read from the broker at each publish (no memo to go stale).
    cache_routes = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if pyro is None:
            raise ImportError('the Pyro transport needs Pyro5 or Pyro4 '
                              '(pip install "kombu[pyro]")')
        super().__init__(*args, **kwargs)
        self._long_poll_pos = 0

    @property
    def shared_queues(self) -> Any:
        """The proxy of the broker object (one per thread)."""
        return self.connection.shared_queues

    def _call(self, operation: str, name: str | None, method: str, *args: Any) -> Any:
        with errors(operation, name):
            try:
                return getattr(self.shared_queues, method)(*args)
            except pyro_errors.CommunicationError:
                self.connection._forget_proxy()   # the broker may be back elsewhere
                raise

    def queues(self) -> list[str]:
        return self._call('list queues', None, 'get_queue_names')

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        arguments = kwargs.get('arguments')
        self._call('declare', queue, 'new_queue', queue, dict(arguments) if arguments else None)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return self._call('declare', queue, 'has_queue', queue)

    def _policy_cache(self) -> PolicyCache:
        return self.connection._policies  # type: ignore[no-any-return]

    def _stored_queue_arguments(self, queue: str) -> Any:
        return self._call('declare', queue, 'queue_arguments', queue)

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        self._call('publish', queue, 'put', queue, message)

    def _put_front(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        self._call('restore', queue, 'put', queue, message, True)

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        message = self._call('get', queue, 'get', queue)
        if message is None:
            raise Empty()
        return as_envelope(message)   # another client may have put anything there

    def _size(self, queue: str) -> int:
        return self._call('size', queue, 'size', queue)

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self._call('delete', queue, 'delete', queue)
        self.connection._policies.pop(queue, None)

    def _purge(self, queue: str) -> int:
        return self._call('purge', queue, 'purge', queue)

    def after_reply_message_received(self, queue: str) -> None:
        # Kombu's Pyro transport keeps reply queues (other clients may share them).
        pass

    def _poll(self, cycle: Any, callback: Callable[..., Any],
              timeout: float | None = None) -> Any:
        queues = list(self._active_queues)
        if not queues:
            raise Empty()
        # One call for every consumed queue, in turn first (fairness), waiting in
        # the broker up to the polling interval (never past the caller's timeout).
        self._long_poll_pos = (self._long_poll_pos + 1) % len(queues)
        queues = queues[self._long_poll_pos:] + queues[:self._long_poll_pos]
        wait = self.connection.polling_interval or 0
        if timeout is not None:
            wait = min(wait, timeout)
        deadline = time.monotonic() + wait
        while True:
            got = self._call('get', None, 'get_any', queues, max(wait, 0))
            if got is None:
                raise Empty()
            queue, message = got
            message = as_envelope(message)
            if EXPIRES_AT not in message['properties'] or not self._expired(queue, message):
                return callback(message, queue)
            wait = deadline - time.monotonic()

    # -- exchanges and bindings: in the broker ------------------------------------

    def _stored_exchange_type(self, exchange: str) -> str | None:
        return self._call('declare exchange', exchange, 'exchange_type', exchange)

    def _store_exchange(self, exchange: str, type: str) -> None:
        self._call('declare exchange', exchange, 'declare_exchange', exchange, type)

    def exchange_delete(self, exchange: str, if_unused: bool = False,
                        nowait: bool = False) -> None:
        if if_unused and self.get_table(exchange):
            return
        super().exchange_delete(exchange, if_unused, nowait)
        self._call('delete exchange', exchange, 'delete_exchange', exchange)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        decl = self.state.exchanges.get(exchange)
        self._call('bind', queue, 'bind', exchange, routing_key or '', pattern or '',
                   queue, decl['type'] if decl else 'direct')

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any,
                      queue: str) -> None:
        self._call('unbind', queue, 'unbind', exchange, routing_key or '', pattern or '',
                   queue)

    def get_table(self, exchange: str) -> list[Any]:
        table = self._call('read bindings', exchange, 'get_table', exchange)
        if table is None:
            raise KeyError(exchange)
        return [tuple(entry) for entry in table]


class Transport(virtual.Transport):
    """Pyro transport."""

    Channel = Channel

    #: Kombu's name; unused: each connection has its own state and what clients
    #: share is kept by the broker object.
    global_state = None

    default_port = DEFAULT_PORT
    polling_interval: float = 1.0
    driver_type = driver_name = 'pyro'
    implements = virtual.Transport.implements.extend(
        exchange_type=frozenset(['direct', 'topic', 'fanout', 'headers']))

    connection_errors = errors.connection_errors
    channel_errors = errors.channel_errors

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self._local = threading.local()
        self._broker_uri: Any = None
        self._policies: PolicyCache = {}

    def _wait_for_messages(self, timeout: float, token: Any) -> None:
        # Channels wait in the broker (get_any); only a channel that cannot consume
        # (prefetch full, no consumer) gets here.
        time.sleep(min(timeout, 0.05))

    def _locate(self) -> Any:
        conninfo = self.client
        logger.debug('locating the broker through the Pyro name server')
        port = conninfo.port or self.default_port
        try:
            with errors('locate name server', conninfo.hostname):
                nameserver = _locate_ns(host=conninfo.hostname, port=port)
        except Exception as exc:
            raise type(exc)(f'{E_NAMESERVER.format(conninfo)} (port {port})') from exc
        name = self.broker_name
        try:
            with errors('lookup', name):
                return nameserver.lookup(name)
        except Exception as exc:
            raise type(exc)(E_LOOKUP.format(conninfo)) from exc

    @property
    def broker_name(self) -> str:
        vhost = (self.client.virtual_host or '').strip('/')
        return vhost or DEFAULT_BROKER_NAME

    @property
    def shared_queues(self) -> Any:
        """A proxy of the broker object for the calling thread (Pyro5 proxies are
        owned by one thread)."""
        proxy = getattr(self._local, 'proxy', None)
        if proxy is None:
            if self._broker_uri is None:
                self._broker_uri = self._locate()
            proxy = self._local.proxy = pyro.Proxy(self._broker_uri)
            # No call may hang for ever; a long poll lasts at most polling_interval.
            proxy._pyroTimeout = max(30.0, (self.polling_interval or 0) * 3)
        return proxy

    def _forget_proxy(self) -> None:
        proxy = getattr(self._local, 'proxy', None)
        self._local.proxy = None
        self._broker_uri = None
        if proxy is not None:
            try:
                proxy._pyroRelease()
            except Exception:  # pragma: no cover - already gone
                pass

    def establish_connection(self) -> Transport:
        self.shared_queues._pyroBind()   # fails now if the broker is not there
        super().establish_connection()
        return self

    def close_connection(self, connection: Any) -> None:
        super().close_connection(connection)
        self._forget_proxy()

    def driver_version(self) -> str:
        return str(pyro.__version__) if pyro is not None else 'N/A'


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a :class:`KombuBroker` and register it with a Pyro name server."""
    parser = argparse.ArgumentParser(
        prog='python -m kombu.transport.pyro',
        description="Broker for Kombu's Pyro transport.")
    parser.add_argument('--host', default=os.environ.get('PYRO_HOST', '127.0.0.1'),
                        help='address the broker listens on')
    parser.add_argument('--port', type=int, default=0, help='its port (0: any)')
    parser.add_argument('--ns-host', default=os.environ.get('PYRO_NS_HOST', '127.0.0.1'))
    parser.add_argument('--ns-port', type=int,
                        default=int(os.environ.get('PYRO_NS_PORT', DEFAULT_PORT)))
    parser.add_argument('--name', default=DEFAULT_BROKER_NAME,
                        help='name registered with the name server')
    args = parser.parse_args(argv)
    if pyro is None:
        raise SystemExit('the Pyro broker needs Pyro5 or Pyro4')
    with pyro.Daemon(host=args.host, port=args.port) as daemon:
        uri = daemon.register(KombuBroker)
        with _locate_ns(host=args.ns_host, port=args.ns_port) as nameserver:
            nameserver.register(args.name, uri)
        print(f'Kombu Pyro broker {uri} registered as {args.name!r}; connect with '
              f'pyro://{args.ns_host}:{args.ns_port}/{args.name}', flush=True)
        daemon.requestLoop()


if __name__ == '__main__':  # pragma: no cover
    main()
