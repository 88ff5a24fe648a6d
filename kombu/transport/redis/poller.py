"""One poller for all channels of a transport: BRPOP and pub/sub sockets."""
from __future__ import annotations

import logging
import selectors
import time
from queue import Empty
from time import monotonic
from typing import Any, Callable

logger = logging.getLogger('kombu.transport.redis')

READ, WRITE, ERR = 0x001, 0x004, 0x008 | 0x010


class _Selector:
    """Minimal poll object (register/unregister/poll) for drain_events."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()

    def register(self, fd: Any, events: int) -> None:
        try:
            self._sel.register(fd, selectors.EVENT_READ)
        except KeyError:
            self._sel.modify(fd, selectors.EVENT_READ)
        except ValueError:  # closed socket
            pass

    def unregister(self, fd: Any) -> None:
        try:
            self._sel.unregister(fd)
        except (KeyError, ValueError):
            pass

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        if not self._sel.get_map():
            # nothing to wait on (no consumer yet): sleep rather than spin
            time.sleep(1.0 if timeout is None else min(timeout, 1.0))
            return []
        return [(key.fd, READ) for key, _ in self._sel.select(timeout)]

    def close(self) -> None:
        self._sel.close()


class MultiChannelPoller:
    """Waits on every channel's BRPOP and LISTEN connections at once."""

    eventflags = READ | ERR

    #: Set by :meth:`get` while reading from the socket.
    _in_protected_read = False

    #: One-shot callbacks to call after reading from socket (a set per
    #: instance; None on the class, as upstream has it).
    after_read: set[Callable[[], Any]] | None = None

    def __init__(self) -> None:
        self._channels: set[Any] = set()
        self._fd_to_chan: dict[int, tuple[Any, str]] = {}
        self._chan_to_sock: dict[tuple[Any, Any, str], Any] = {}
        self.poller: Any = _Selector()
        self._hub = False
        #: the Hub this poller runs on (set by register_with_event_loop)
        self._loop: Any = None
        self._turn = 0
        self.after_read = set()

    def close(self) -> None:
        for sock in self._chan_to_sock.values():
            self._unregister_sock(sock)
        self._channels.clear()
        self._fd_to_chan.clear()
        self._chan_to_sock.clear()
        if not self._hub:  # a fresh selector: the transport may reconnect
            self.poller.close()
            self.poller = _Selector()

    def add(self, channel: Any) -> None:
        self._channels.add(channel)

    def discard(self, channel: Any) -> None:
        self._channels.discard(channel)
        for key in [k for k in self._chan_to_sock if k[0] is channel]:
            sock = self._chan_to_sock.pop(key)
            self._forget_sock(sock)

    # -- socket registry -----------------------------------------------------

    def _unregister_sock(self, sock: Any) -> None:
        if not self._hub:
            self.poller.unregister(sock)
        elif self._loop is not None:
            # the Hub's reader too: a closed channel leaves nothing behind
            try:
                fd = sock.fileno()
            except (OSError, AttributeError):
                return
            if fd >= 0 and self._fd_to_chan.get(fd) is not None:
                self._loop.remove(fd)

    def _forget_sock(self, sock: Any) -> None:
        self._unregister_sock(sock)
        try:
            fd = sock.fileno()
        except (OSError, AttributeError):
            fd = -1
        for f, _ in list(self._fd_to_chan.items()):
            if f == fd:
                del self._fd_to_chan[f]

    def _on_connection_disconnect(self, connection: Any) -> None:
        for key, sock in list(self._chan_to_sock.items()):
            client = key[1]
            if getattr(client, 'connection', None) is connection:
                del self._chan_to_sock[key]
                self._unregister_sock(sock)
                for fd, ct in list(self._fd_to_chan.items()):
                    if ct == (key[0], key[2]):
                        del self._fd_to_chan[fd]

    def _register(self, channel: Any, client: Any, type: str) -> None:
        ident = (channel, client, type)
        if ident in self._chan_to_sock:
            self._forget_sock(self._chan_to_sock.pop(ident))
        if client.connection._sock is None:
            client.connection.connect()
        sock = client.connection._sock
        self._fd_to_chan[sock.fileno()] = (channel, type)
        self._chan_to_sock[ident] = sock
        if not self._hub:
            self.poller.register(sock, self.eventflags)

    def _client_registered(self, channel: Any, client: Any, cmd: str) -> bool:
        if getattr(client, 'connection', None) is None:
            client.connection = client.connection_pool.get_connection()
        sock = client.connection._sock
        return sock is not None and self._chan_to_sock.get((channel, client, cmd)) is sock

    def _register_BRPOP(self, channel: Any) -> None:
        client = channel.client
        if not self._client_registered(channel, client, 'BRPOP'):
            channel._in_poll = False
            self._register(channel, client, 'BRPOP')
        if not channel._in_poll:
            channel._brpop_start()

    def _register_LISTEN(self, channel: Any) -> None:
        client = channel.subclient
        if not self._client_registered(channel, client, 'LISTEN'):
            channel._in_listen = False
            self._register(channel, client, 'LISTEN')
        if not channel._in_listen:
            channel._subscribe()

    # -- event loop entry points ----------------------------------------------

    def on_poll_start(self) -> None:
        for channel in list(self._channels):
            getattr(channel.qos, "flush_acks", _noop)()
            if channel.active_queues:
                if channel.qos.can_consume():
                    self._register_BRPOP(channel)
                else:
                    channel._pause_if_full()
            if channel.active_fanout_queues:
                self._register_LISTEN(channel)

    def on_poll_init(self, poller: Any) -> None:
        if not self._hub:
            self.poller.close()  # our selector; the hub's poller takes over
        self._hub = True
        self.poller = poller

    def maybe_restore_messages(self) -> Any:
        for channel in list(self._channels):
            if channel.active_queues:
                # the unacked index is shared: one channel sweeps for all
                try:
                    return channel.qos.restore_visible(
                        num=channel.unacked_restore_limit,
                        interval=channel.unacked_restore_throttle)
                except channel.connection_errors:
                    logger.debug('restore_visible: connection error', exc_info=True)
                    return None
        return None

    def maybe_refresh_binding_expiry(self) -> None:
        for channel in list(self._channels):
            try:
                channel.maybe_refresh_binding_expiry()
            except channel.connection_errors:
                logger.debug('binding refresh: connection error', exc_info=True)
            except channel.ResponseError:
                logger.warning('binding refresh: Redis error', exc_info=True)

    def maybe_check_subclient_health(self) -> None:
        for channel in list(self._channels):
            client = channel.__dict__.get('subclient')
            if client is None or client.connection is None:
                continue
            if channel._listen_half_open():
                # pings went unanswered: a peer gone without a FIN
                logger.warning('Redis PUB/SUB connection answered no ping; reconnecting')
                channel._drop_half_open(channel._in_listen)
                continue
            try:
                client.check_health()
            except channel.connection_errors:
                logger.debug('pub/sub health check failed', exc_info=True)
                return

    def maybe_check_brpop_health(self) -> None:
        now = monotonic()
        for channel in list(self._channels):
            conn, sent = channel._in_poll, channel._brpop_sent_at
            if not conn or sent is None or not channel.health_check_interval:
                continue
            # a live server answers BRPOP within brpop_timeout: a reply this
            # late means a half-open socket that will never become readable
            if now - sent > channel.brpop_timeout + channel.health_check_interval \
                    and not has_reply(conn):
                logger.warning('Redis BRPOP got no reply for %.0f s; reconnecting',
                               now - sent)
                channel._drop_half_open(conn)

    def maybe_reauth(self) -> None:
        for channel in list(self._channels):
            try:
                channel.maybe_reauth()
            except channel.connection_errors:
                return

    def on_readable(self, fileno: int) -> Any:
        chan_type = self._fd_to_chan.get(fileno)
        if chan_type is None:
            logger.debug('on_readable: fd %r not mapped, ignoring', fileno)
            return None
        chan, type = chan_type
        if type == 'LISTEN' or chan.qos.can_consume() or chan._in_poll:
            # a BRPOP reply already popped its message: always read it (a
            # paused channel gives it back)
            try:
                return chan.handlers[type]()
            finally:
                chan._pause_if_full()  # e.g. a fanout delivery filled it
        return None

    def handle_event(self, fileno: int, event: int) -> Any:
        if event & READ:
            return self.on_readable(fileno), self
        chan_type = self._fd_to_chan.get(fileno)
        if chan_type is not None and event & ERR:
            chan_type[0]._poll_error(chan_type[1])
        return None

    def get(self, callback: Any, timeout: float | None = None) -> None:
        """Deliver at least one message, or raise :exc:`queue.Empty`."""
        self._in_protected_read = True
        try:
            # what a batch popped before goes first (returning at once: a
            # callback may close a channel, changing the set)
            for channel in self._channels:
                if channel._held and channel._deliver_held():
                    return
            self.maybe_refresh_binding_expiry()
            channels = list(self._channels)
            if len(channels) > 1:  # start from a different channel each time
                self._turn = (self._turn + 1) % len(channels)
                channels = channels[self._turn:] + channels[:self._turn]
            for channel in channels:
                # under load the non-blocking batch pop is the only round trip
                if channel.active_queues and not channel._in_poll \
                        and channel.qos.can_consume() and channel._pop_and_deliver():
                    return
            self.on_poll_start()
            delivered = False
            for fileno, event in self.poller.poll(timeout):
                try:
                    ret = self.handle_event(fileno, event)
                except Empty:  # a BRPOP timed out: still time for the sweep
                    continue
                delivered = delivered or bool(ret and ret[0])
            if delivered:
                return
            self.maybe_check_brpop_health()
            self.maybe_check_subclient_health()
            self.maybe_restore_messages()
            raise Empty()
        finally:
            self._in_protected_read = False
            while self.after_read:
                try:
                    fun = self.after_read.pop()
                except KeyError:
                    break
                fun()

    @property
    def fds(self) -> dict[int, tuple[Any, str]]:
        return self._fd_to_chan


def has_reply(conn: Any) -> bool:
    """True if ``conn`` has a reply to read now (so it is alive, only unread)."""
    try:
        return bool(conn.can_read(timeout=0))
    except Exception:  # closed or broken: nothing to read, certainly
        return False


def _noop() -> None:
    """Stands in for ``flush_acks`` when ack emulation is off."""
