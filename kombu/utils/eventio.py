"""Readiness pollers (epoll, kqueue, poll, select) behind one small interface.

Every poller offers ``register(fd, events)``, ``unregister(fd)``,
``poll(timeout) -> [(fd, events), ...]`` and ``close()``, where *events* is
a mask of :data:`READ`, :data:`WRITE` and :data:`ERR`, *fd* is an int or an
object with ``fileno()``, and *timeout* is in seconds (``None`` blocks).

``register`` on an fd that is already registered *replaces* its mask on all
pollers, so callers (the hub) decide the full interest set themselves.
Closed or invalid fds never make ``poll`` raise: they are dropped and, where
the OS tells us about them (poll, select), reported once as :data:`ERR`.
"""

from __future__ import annotations

import errno
import math
import select as __select__
import sys
from typing import Any, Callable, Iterable

__all__ = ('poll',)

_selectf = __select__.select
xpoll = getattr(__select__, 'poll', None)
epoll = getattr(__select__, 'epoll', None)
kqueue = getattr(__select__, 'kqueue', None)
kevent = getattr(__select__, 'kevent', None)

# Defaults are the BSD values, so the names exist on every platform.
KQ_EV_ADD = getattr(__select__, 'KQ_EV_ADD', 1)
KQ_EV_DELETE = getattr(__select__, 'KQ_EV_DELETE', 2)
KQ_EV_ENABLE = getattr(__select__, 'KQ_EV_ENABLE', 4)
KQ_EV_CLEAR = getattr(__select__, 'KQ_EV_CLEAR', 32)
KQ_EV_ERROR = getattr(__select__, 'KQ_EV_ERROR', 16384)
KQ_EV_EOF = getattr(__select__, 'KQ_EV_EOF', 32768)
KQ_FILTER_READ = getattr(__select__, 'KQ_FILTER_READ', -1)
KQ_FILTER_WRITE = getattr(__select__, 'KQ_FILTER_WRITE', -2)
KQ_FILTER_AIO = getattr(__select__, 'KQ_FILTER_AIO', -3)
KQ_FILTER_VNODE = getattr(__select__, 'KQ_FILTER_VNODE', -4)
KQ_FILTER_PROC = getattr(__select__, 'KQ_FILTER_PROC', -5)
KQ_FILTER_SIGNAL = getattr(__select__, 'KQ_FILTER_SIGNAL', -6)
KQ_FILTER_TIMER = getattr(__select__, 'KQ_FILTER_TIMER', -7)
KQ_NOTE_LOWAT = getattr(__select__, 'KQ_NOTE_LOWAT', 1)
KQ_NOTE_DELETE = getattr(__select__, 'KQ_NOTE_DELETE', 1)
KQ_NOTE_WRITE = getattr(__select__, 'KQ_NOTE_WRITE', 2)
KQ_NOTE_EXTEND = getattr(__select__, 'KQ_NOTE_EXTEND', 4)
KQ_NOTE_ATTRIB = getattr(__select__, 'KQ_NOTE_ATTRIB', 8)
KQ_NOTE_LINK = getattr(__select__, 'KQ_NOTE_LINK', 16)
KQ_NOTE_RENAME = getattr(__select__, 'KQ_NOTE_RENAME', 32)
KQ_NOTE_REVOKE = getattr(__select__, 'KQ_NOTE_REVOKE', 64)
POLLIN = getattr(__select__, 'POLLIN', 1)
POLLOUT = getattr(__select__, 'POLLOUT', 4)
POLLERR = getattr(__select__, 'POLLERR', 8)
POLLHUP = getattr(__select__, 'POLLHUP', 16)
POLLNVAL = getattr(__select__, 'POLLNVAL', 32)

# These equal EPOLLIN, EPOLLOUT and EPOLLERR|EPOLLHUP, so epoll results
# need no translation.
READ = POLL_READ = 0x001
WRITE = POLL_WRITE = 0x004
ERR = POLL_ERR = 0x008 | 0x010

#: errno values meaning "this is not a valid descriptor" (Celery imports it).
SELECT_BAD_FD = {errno.EBADF}
if hasattr(errno, 'WSAENOTSOCK'):  # pragma: no cover (Windows)
    SELECT_BAD_FD.add(errno.WSAENOTSOCK)

def _fileno(fd: Any) -> int:
    return fd if isinstance(fd, int) else fd.fileno()


def _timeout_ms(timeout: float | None) -> int:
    if timeout is None:
        return -1
    return 0 if timeout <= 0 else math.ceil(timeout * 1000.0)


class _epoll:
    """Linux epoll; the kernel drops closed fds from the set by itself."""

    def __init__(self) -> None:
        self._epoll = epoll()  # type: ignore[misc]
        self._fds: set[int] = set()

    def register(self, fd: Any, events: int) -> int:
        fd = _fileno(fd)
        if fd in self._fds:
            # Usually still registered: one modify() call.  ENOENT means the
            # fd was closed (the kernel dropped it) and reused: add it anew.
            try:
                self._epoll.modify(fd, events)
                return fd
            except FileNotFoundError:
                pass
        try:
            self._epoll.register(fd, events)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
            self._epoll.modify(fd, events)
        self._fds.add(fd)
        return fd

    def unregister(self, fd: Any) -> None:
        try:
            fd = _fileno(fd)
            self._fds.discard(fd)
            self._epoll.unregister(fd)
        except (ValueError, KeyError, TypeError):
            pass  # closed object (fileno -1) or not an fd
        except OSError as exc:
            # Not registered, not pollable, or already closed: nothing to
            # remove.  Anything else is a real error.
            if exc.errno not in (errno.ENOENT, errno.EPERM, errno.EBADF):
                raise

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        if timeout is not None and timeout < 0:
            timeout = 0
        try:
            return self._epoll.poll(-1 if timeout is None else timeout)
        except OSError as exc:  # EINTR: only without PEP 475 retries
            if exc.errno != errno.EINTR:
                raise
            return []

    def close(self) -> None:
        self._epoll.close()


class _poll:
    """POSIX poll(2)."""

    def __init__(self) -> None:
        self._poller = xpoll()  # type: ignore[misc]

    def register(self, fd: Any, events: int) -> int:
        fd = _fileno(fd)
        flags = 0
        if events & ERR:
            flags |= POLLERR
        if events & WRITE:
            flags |= POLLOUT
        if events & READ:
            flags |= POLLIN
        self._poller.register(fd, flags)  # replaces an existing mask
        return fd

    def unregister(self, fd: Any) -> None:
        try:
            self._poller.unregister(_fileno(fd))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        try:
            event_list = self._poller.poll(_timeout_ms(timeout))
        except InterruptedError:  # pragma: no cover (PEP 475 retries)
            return []
        ready = []
        for fd, event in event_list:
            events = 0
            if event & POLLIN:
                events |= READ
            if event & POLLOUT:
                events |= WRITE
            if event & (POLLERR | POLLHUP | POLLNVAL):
                events |= ERR
            if event & POLLNVAL:
                # Closed fd: report it once, then stop asking, else poll()
                # would return it immediately forever (a busy loop).
                self.unregister(fd)
            ready.append((fd, events))
        return ready

    def close(self) -> None:
        self._poller = None


class _select:
    """select(2): portable, limited to FD_SETSIZE descriptors."""

    def __init__(self) -> None:
        self._rfd: set[int] = set()
        self._wfd: set[int] = set()
        self._efd: set[int] = set()

    def register(self, fd: Any, events: int) -> int:
        fd = _fileno(fd)
        self._discard(fd)
        if events & ERR:
            self._efd.add(fd)
        if events & WRITE:
            self._wfd.add(fd)
        if events & READ:
            self._rfd.add(fd)
        return fd

    def unregister(self, fd: Any) -> None:
        try:
            fd = _fileno(fd)
        except (OSError, ValueError):
            return  # closed object: the bad fd is dropped by the next poll
        self._discard(fd)

    def _discard(self, fd: int) -> None:
        self._rfd.discard(fd)
        self._wfd.discard(fd)
        self._efd.discard(fd)

    def _remove_bad(self) -> list[tuple[int, int]]:
        bad = []
        for fd in self._rfd | self._wfd | self._efd:
            try:
                _selectf([fd], [], [], 0)
            except (OSError, ValueError) as exc:
                if isinstance(exc, ValueError) or exc.errno in SELECT_BAD_FD:
                    self._discard(fd)
                    bad.append((fd, ERR))
        return bad

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        if timeout is not None and timeout < 0:
            timeout = 0
        try:
            read, write, error = _selectf(self._rfd, self._wfd, self._efd, timeout)
        except InterruptedError:  # pragma: no cover (PEP 475 retries)
            return []
        except (OSError, ValueError) as exc:
            if isinstance(exc, ValueError) or exc.errno in SELECT_BAD_FD:
                return self._remove_bad()
            raise
        events: dict[int, int] = {}
        for fds, flag in ((read, READ), (write, WRITE), (error, ERR)):
            for fd in fds:
                events[fd] = events.get(fd, 0) | flag
        return list(events.items())

    def close(self) -> None:
        self._rfd.clear()
        self._wfd.clear()
        self._efd.clear()


class _kqueue:
    """BSD kqueue (only chosen by default on NetBSD, as upstream does)."""

    w_fflags = KQ_NOTE_WRITE | KQ_NOTE_EXTEND | KQ_NOTE_ATTRIB | KQ_NOTE_DELETE

    def __init__(self) -> None:
        self._kqueue = kqueue()  # type: ignore[misc]
        self._active: dict[int, int] = {}
        self.on_file_change: Callable[[list[Any]], Any] | None = None
        self._kcontrol = self._kqueue.control

    def register(self, fd: Any, events: int) -> int:
        fd = _fileno(fd)
        old = self._active.get(fd, 0)
        if old:
            self._control(fd, old & ~events, KQ_EV_DELETE)
        self._control(fd, events, KQ_EV_ADD)
        self._active[fd] = events
        return fd

    def unregister(self, fd: Any) -> None:
        try:
            fd = _fileno(fd)
        except (OSError, ValueError):
            return
        events = self._active.pop(fd, None)
        if events:
            self._control(fd, events, KQ_EV_DELETE)

    def watch_file(self, fd: Any) -> None:
        ev = kevent(fd, filter=KQ_FILTER_VNODE,  # type: ignore[misc]
                    flags=KQ_EV_ADD | KQ_EV_ENABLE | KQ_EV_CLEAR, fflags=self.w_fflags)
        self._kcontrol([ev], 0)

    def unwatch_file(self, fd: Any) -> None:
        ev = kevent(fd, filter=KQ_FILTER_VNODE,  # type: ignore[misc]
                    flags=KQ_EV_DELETE, fflags=self.w_fflags)
        self._kcontrol([ev], 0)

    def _control(self, fd: int, events: int, flags: int) -> None:
        filters = []
        if events & WRITE:
            filters.append(KQ_FILTER_WRITE)
        if events & (READ | ERR):
            filters.append(KQ_FILTER_READ)
        for filt in filters:
            try:
                self._kcontrol([kevent(fd, filter=filt, flags=flags)], 0)  # type: ignore[misc]
            except (OSError, ValueError):
                pass  # closed fd or filter not present: nothing to change

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        if timeout is not None and timeout < 0:
            timeout = 0
        try:
            kevents = self._kcontrol(None, 1000, timeout)
        except InterruptedError:  # pragma: no cover
            return []
        events: dict[int, int] = {}
        file_changes = []
        for k in kevents:
            fd = k.ident
            if k.flags & KQ_EV_ERROR:
                events[fd] = events.get(fd, 0) | ERR
            elif k.filter == KQ_FILTER_READ:
                events[fd] = events.get(fd, 0) | READ
            elif k.filter == KQ_FILTER_WRITE:
                flag = ERR if k.flags & KQ_EV_EOF else WRITE
                events[fd] = events.get(fd, 0) | flag
            elif k.filter == KQ_FILTER_VNODE:
                if k.fflags & KQ_NOTE_DELETE:
                    self.unregister(fd)
                file_changes.append(k)
        if file_changes and self.on_file_change is not None:
            self.on_file_change(file_changes)
        return list(events.items())

    def close(self) -> None:
        self._kqueue.close()


def _environment() -> str:
    try:
        from kombu.utils.compat import detect_environment
    except ImportError:  # pragma: no cover (foundation module missing)
        return 'default'
    return detect_environment()


def _get_poller() -> type:
    if _environment() != 'default':
        return _select  # eventlet/gevent patch select() only
    if epoll is not None:
        return _epoll
    if kqueue is not None and 'netbsd' in sys.platform:
        return _kqueue
    if xpoll is not None:
        return _poll
    return _select  # pragma: no cover


def available_pollers() -> Iterable[type]:
    """Poller classes usable on this platform (handy for tests)."""
    return tuple(cls for cls, ok in (
        (_epoll, epoll), (_kqueue, kqueue), (_poll, xpoll), (_select, True),
    ) if ok)


def poll(*args: Any, **kwargs: Any) -> Any:
    """Return a new poller of the best kind for this platform."""
    return _get_poller()(*args, **kwargs)
