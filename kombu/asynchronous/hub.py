"""The event loop (hub) Celery's worker and Kombu's transports run on.

One iteration of the loop (a step of the generator made by
:meth:`Hub.create_loop`) calls the ``on_tick`` callbacks, the callbacks queued
with :meth:`Hub.call_soon`, the due timers, then polls the registered file
descriptors once and calls the reader/writer callbacks of those that are
ready.  Errors raised by reader, writer and ``call_soon`` callbacks propagate
to whoever advances the loop (Celery relies on this to restart its consumer
after a connection error); the hub's state survives, so the caller may simply
continue (``run_once`` makes a new loop when the old one ended).  Errors in
timers go to ``timer.on_error`` or the log and never stop the loop.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import threading
from contextlib import suppress
from functools import cached_property
from queue import Empty
from time import sleep
from types import GeneratorType
from typing import Any, Callable, Iterator, Sequence

from vine import Thenable, promise

from kombu.utils.eventio import ERR, READ, WRITE, poll

from . import timer as _timer
from .timer import Entry, Timer

__all__ = ('Hub', 'get_event_loop', 'set_event_loop')

logger = logging.getLogger(__name__)

_current_loop: Hub | None = None

W_UNKNOWN_EVENT = 'Received unknown event %r for fd %r, please contact support!'

_READ_ERR = READ | ERR
_ANY = READ | WRITE | ERR

class Stop(BaseException):
    """Raised inside the loop to stop :meth:`Hub.run_forever`."""


def _raise_stop_error() -> None:
    raise Stop()


class _Waker:
    """Socket pair through which other threads interrupt the poller.

    (Sockets rather than a pipe: ``select()`` on Windows takes sockets only.)
    """

    def __init__(self) -> None:
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)
        self.writer.setblocking(False)
        self.pid = os.getpid()

    def fileno(self) -> int:
        return self.reader.fileno()

    def wake(self) -> None:
        with suppress(OSError):  # full (a wakeup is pending) or closed
            self.writer.send(b'\0')

    def drain(self) -> None:
        with suppress(OSError):
            while self.reader.recv(4096):
                pass

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


# Signal wakeup: while a hub loop runs in the main thread, signals write a
# byte to its waker, so a blocked poll returns at once and the caller sees
# what the handler did (e.g. Celery's warm shutdown on SIGTERM, otherwise
# delayed until the poll timeout, up to 10 s).  Only taken when no one else
# (e.g. asyncio) has set a wakeup fd; given back when the hub closes.
_signal_wakeup_owner: _Waker | None = None
_signal_wakeup_fd = -1


def _claim_signal_wakeup(waker: _Waker) -> None:
    global _signal_wakeup_owner, _signal_wakeup_fd
    if threading.current_thread() is not threading.main_thread():
        return
    fd = waker.writer.fileno()
    try:
        previous = signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    except (ValueError, OSError):  # closed waker, or not the main thread
        return
    if previous not in (-1, fd):
        with suppress(ValueError, OSError):
            signal.set_wakeup_fd(previous)  # someone else's: leave it to them
        return
    _signal_wakeup_owner, _signal_wakeup_fd = waker, fd


def _release_signal_wakeup(waker: _Waker) -> bool:
    """Stop signals writing to ``waker``; False if that is not possible now."""
    global _signal_wakeup_owner
    if _signal_wakeup_owner is not waker:
        return True
    try:
        current = signal.set_wakeup_fd(-1)
    except ValueError:  # not the main thread
        return False
    if current != _signal_wakeup_fd:
        with suppress(ValueError, OSError):
            signal.set_wakeup_fd(current)  # taken over since: not ours to clear
    _signal_wakeup_owner = None
    return True


def _forget_signal_wakeup_in_child() -> None:
    # A forked child (e.g. a pool process) must not write its signals into
    # the parent's waker, nor into whatever later reuses that fd number.
    global _signal_wakeup_owner
    if _signal_wakeup_owner is not None:
        _signal_wakeup_owner = None
        with suppress(ValueError, OSError):
            signal.set_wakeup_fd(-1)


if hasattr(os, 'register_at_fork'):  # pragma: no branch
    os.register_at_fork(after_in_child=_forget_signal_wakeup_in_child)


def get_event_loop() -> Hub | None:
    """Return the process-wide current event loop (or :const:`None`)."""
    return _current_loop


def set_event_loop(loop: Hub | None) -> Hub | None:
    """Set the process-wide current event loop and return it."""
    global _current_loop
    _current_loop = loop
    return loop


def _fileno(fd: Any) -> int:
    return fd if isinstance(fd, int) else fd.fileno()


class Hub:
    """Event loop: fd readiness callbacks, a timer and a ready queue.

    Arguments:
        timer (kombu.asynchronous.timer.Timer): Timer to use (a new one
            by default).
    """

    #: Flag set if reading from an fd will not block.
    READ = READ

    #: Flag set if writing to an fd will not block.
    WRITE = WRITE

    #: Flag set on error (or hang-up): the fd should be read from asap.
    ERR = ERR

    #: Callbacks applied with the hub as sole argument when it closes.
    on_close: set[Callable[[Hub], Any]] = None  # type: ignore[assignment]

    def __init__(self, timer: Timer | None = None) -> None:
        self.timer = timer if timer is not None else Timer()
        #: fd -> (callback, args), or None for a consolidated writer.
        self.readers: dict[int, Any] = {}
        self.writers: dict[int, Any] = {}
        self.on_tick: set[Callable[[], Any]] = set()
        self.on_close = set()
        self._ready: set[Any] = set()
        # call_soon() may be called from other threads: they add under the
        # lock and wake the poller through the waker (made by the loop).
        self._ready_lock = threading.Lock()
        self._waker: _Waker | None = None
        self._wake_pending = False
        self._loop_thread: int | None = None
        self._running = False
        self._loop: Iterator[None] | None = None

        # Writers in this set are not called one by one: the loop collects
        # the writable ones and calls ``consolidate_callback(fds)`` once
        # (Celery's prefork pool uses it to spread jobs over its inqueues).
        self.consolidate: set[int] = set()
        self.consolidate_callback: Callable[[list[int]], Any] | None = None

        #: Exceptions raised by timers that must leave the loop.
        self.propagate_errors: tuple[type[BaseException], ...] = ()

        # The flags each side asked for; the poller watches their union.
        self._read_flags: dict[int, int] = {}
        self._write_flags: dict[int, int] = {}
        self._poller: Any = None
        self._create_poller()

    # -- poller ------------------------------------------------------------

    @property
    def poller(self) -> Any:
        if not self._poller:
            self._create_poller()
        return self._poller

    @poller.setter
    def poller(self, value: Any) -> None:
        self._poller = value

    def _create_poller(self) -> None:
        self._poller = poll()
        if self._waker is not None:
            self._poller.register(self._waker.fileno(), READ)

    def _create_waker(self) -> _Waker:
        # Made by the loop, so a hub that never runs holds no sockets; made
        # again in a forked child, which must not share the parent's.
        if self._waker is not None:
            self._unregister(self._waker.fileno())
            if _release_signal_wakeup(self._waker):
                self._waker.close()
        self._waker = _Waker()
        with self._ready_lock:
            self._wake_pending = False
        self.poller.register(self._waker.fileno(), READ)
        return self._waker

    def _close_poller(self) -> None:
        if self._poller is not None:
            self._poller.close()
            self._poller = None

    def reset(self) -> None:
        """Close, then start over with a fresh poller and loop.

        Unlike :meth:`close` the waker is kept: another thread may be
        writing to it right now.
        """
        self._close()
        self._create_poller()
        self._loop = None

    def stop(self) -> None:
        """Make :meth:`run_forever` return after the current iteration."""
        self.call_soon(_raise_stop_error)

    def __repr__(self) -> str:
        return f'<Hub@{id(self):#x}: R:{len(self.readers)} W:{len(self.writers)}>'

    # -- timers ------------------------------------------------------------

    def fire_timers(self, min_delay: float = 1, max_delay: float = 10,
                    max_timers: int = 10,
                    propagate: tuple[type[BaseException], ...] = ()) -> float:
        """Run at most ``max_timers`` due entries; return the poll timeout.

        The timeout is the time until the next entry (at least ``min_delay``
        when nothing is scheduled, 0 when more entries are already due),
        capped at ``max_delay``.
        """
        timer = self.timer
        delay: float | None = None
        if timer is not None and timer._queue:
            scheduler = self.scheduler
            for _ in range(max_timers):
                delay, entry = next(scheduler)
                if entry is None:
                    break
                self._fire(entry, propagate)
            else:
                delay = 0 if self._more_due(timer) else None
        if delay is None:
            delay = min_delay
        return min(delay, max_delay)

    @staticmethod
    def _more_due(timer: Any) -> bool:
        # Ran max_timers entries: poll without blocking if more are due,
        # rather than waiting min_delay with due work queued.
        try:
            return timer._queue[0][0] <= _timer._now()
        except (IndexError, TypeError):
            return False

    def _fire(self, entry: Entry, propagate: tuple[type[BaseException], ...]) -> None:
        try:
            entry()
        except propagate:
            raise
        except (MemoryError, AssertionError):
            raise
        except OSError as exc:
            if exc.errno == errno.ENOMEM:
                raise
            self._on_timer_error(exc)
        except Exception as exc:
            self._on_timer_error(exc)

    def _on_timer_error(self, exc: BaseException) -> None:
        handle_error = getattr(self.timer, 'handle_error', None)
        try:
            handled = handle_error(exc) if handle_error is not None else False
        except Exception as exc2:  # a failing error handler must not stop us
            logger.error('Error in timer error handler: %r', exc2, exc_info=True)
            handled = False
        if not handled:
            logger.error('Error in timer: %r', exc, exc_info=(type(exc), exc, exc.__traceback__))

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> Any:
        """Call ``callback(*args)`` in the next loop iteration.

        Returns the promise (a :class:`vine.Thenable` is queued as is).
        """
        if not isinstance(callback, Thenable):
            callback = promise(callback, args)
        with self._ready_lock:
            self._ready.add(callback)
            # One pending wakeup serves any number of callbacks; the loop's
            # own thread checks _ready before it polls again.
            wake = not self._wake_pending and threading.get_ident() != self._loop_thread
            if wake:
                self._wake_pending = True
        if wake and self._waker is not None:
            self._waker.wake()
        return callback

    def _pop_ready(self) -> set[Any]:
        """Take the queued callbacks (thread-safe); Celery calls it too."""
        with self._ready_lock:
            ready, self._ready = self._ready, set()
            return ready

    def _on_wakeup(self, waker: _Waker) -> None:
        # Drain before clearing the flag: a wakeup sent in between must not
        # be drained with the flag left set for good.
        waker.drain()
        with self._ready_lock:
            self._wake_pending = False

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Entry | None:
        return self.timer.call_after(delay, callback, args)

    def call_at(self, when: Any, callback: Callable[..., Any], *args: Any) -> Entry | None:
        return self.timer.call_at(when, callback, args)

    def call_repeatedly(self, delay: float, callback: Callable[..., Any],
                        *args: Any) -> Entry | None:
        return self.timer.call_repeatedly(delay, callback, args)

    # -- file descriptors --------------------------------------------------

    def add(self, fd: Any, callback: Callable[..., Any] | None, flags: int,
            args: Sequence[Any] = (), consolidate: bool = False) -> None:
        """Call ``callback(*args)`` when ``fd`` is ready for ``flags``.

        With ``READ`` in ``flags`` this sets the fd's reader, else its
        writer; an fd may have one of each.  A generator as callback is
        advanced with ``next()`` instead.
        """
        fd = _fileno(fd)
        if flags & READ:
            dest, side = self.readers, self._read_flags
        else:
            dest, side = self.writers, self._write_flags
        side[fd] = flags
        try:
            self._update_interest(fd)
        except (ValueError, OSError):
            self._remove_from_loop(fd)
            raise
        if consolidate:
            self.consolidate.add(fd)
            dest[fd] = None
        else:
            dest[fd] = callback, args

    def add_reader(self, fds: Any, callback: Callable[..., Any], *args: Any) -> None:
        return self.add(fds, callback, READ | ERR, args)

    def add_writer(self, fds: Any, callback: Callable[..., Any], *args: Any) -> None:
        return self.add(fds, callback, WRITE, args)

    def remove(self, fd: Any) -> None:
        """Stop watching ``fd`` for reading and writing."""
        self._remove_from_loop(_fileno(fd))

    def remove_reader(self, fd: Any) -> None:
        """Stop calling the reader of ``fd`` (its writer stays)."""
        fd = _fileno(fd)
        self.readers.pop(fd, None)
        self._read_flags.pop(fd, None)
        self._resync(fd)

    def remove_writer(self, fd: Any) -> None:
        """Stop calling the writer of ``fd`` (its reader stays)."""
        fd = _fileno(fd)
        self.writers.pop(fd, None)
        self._write_flags.pop(fd, None)
        self.consolidate.discard(fd)
        self._resync(fd)

    def _update_interest(self, fd: int) -> None:
        mask = self._read_flags.get(fd, 0) | self._write_flags.get(fd, 0)
        if mask:
            self.poller.register(fd, mask)
        else:
            self._unregister(fd)

    def _resync(self, fd: int) -> None:
        try:
            self._update_interest(fd)
        except (ValueError, OSError):
            self._remove_from_loop(fd)  # the fd went bad: forget it entirely

    def _remove_from_loop(self, fd: int) -> None:
        try:
            self._unregister(fd)
        finally:
            self._discard(fd)

    def _unregister(self, fd: int) -> None:
        if self._poller is None:
            return  # closed: nothing is registered (don't make a new poller)
        try:
            self._poller.unregister(fd)
        except (AttributeError, KeyError, OSError, ValueError):
            pass

    def _discard(self, fd: int) -> None:
        self.readers.pop(fd, None)
        self.writers.pop(fd, None)
        self._read_flags.pop(fd, None)
        self._write_flags.pop(fd, None)
        self.consolidate.discard(fd)

    # -- running -----------------------------------------------------------

    def run_forever(self) -> None:
        self._running = True
        try:
            while 1:
                try:
                    self.run_once()
                except Stop:
                    self._loop = None
                    break
        finally:
            self._running = False

    def run_once(self) -> None:
        try:
            next(self.loop)
        except StopIteration:
            self._loop = None

    @property
    def loop(self) -> Iterator[None]:
        if self._loop is None:
            self._loop = self.create_loop()
        return self._loop

    @cached_property
    def scheduler(self) -> Iterator[tuple[float | None, Entry | None]]:
        return iter(self.timer)

    def close(self, *args: Any) -> None:
        """Unregister every fd, close the poller, run the ``on_close``
        callbacks and the callbacks still queued by :meth:`call_soon`
        (e.g. message acks); errors there go to :meth:`on_callback_error`."""
        self._close()
        if self._waker is not None:
            # Closed off the main thread while signals still write to it:
            # keep the sockets open (never let a signal hit a reused fd).
            if _release_signal_wakeup(self._waker):
                self._waker.close()
            self._waker = None

    def _close(self) -> None:
        for fd in set(self.readers) | set(self.writers):
            self._unregister(fd)
        self.readers.clear()
        self.writers.clear()
        self._read_flags.clear()
        self._write_flags.clear()
        self.consolidate.clear()
        self._close_poller()
        self._loop = None
        for callback in list(self.on_close):  # a callback may remove itself
            self._call_safely(callback, self)
        # Snapshot: a callback queueing more work must not loop forever.
        for item in self._pop_ready():
            self._call_safely(item)
        if _current_loop is self:
            set_event_loop(None)

    def _call_safely(self, callback: Callable[..., Any], *args: Any) -> None:
        try:
            callback(*args)
        except Stop:
            pass
        except Exception as exc:
            self.on_callback_error(callback, exc)

    def on_callback_error(self, callback: Any, exc: BaseException) -> None:
        logger.error('Callback %r raised exception: %r', callback, exc,
                     exc_info=(type(exc), exc, exc.__traceback__))

    def create_loop(self, generator: type = GeneratorType,
                    sleep: Callable[[float], Any] = sleep) -> Iterator[None]:
        """Return the loop generator: each ``next()`` is one iteration.

        An iteration runs the queued callbacks, the due timers, then the
        ``on_tick`` callbacks (which see what those did), polls once and
        calls the callbacks of the ready fds.
        """
        readers, writers, on_tick = self.readers, self.writers, self.on_tick
        waker = self._waker
        if waker is None or waker.pid != os.getpid():
            waker = self._create_waker()
        _claim_signal_wakeup(waker)
        self._loop_thread = threading.get_ident()
        while 1:
            if self._ready:
                self._run_ready()
            if self.timer._queue:
                poll_timeout = self.fire_timers(propagate=self.propagate_errors)
            else:
                poll_timeout = 1
            if on_tick:
                for tick_callback in tuple(on_tick):  # callbacks may edit the set
                    tick_callback()
            if self._ready:
                poll_timeout = 0  # work was queued meanwhile: don't block
            if readers or writers:
                poller = self._poller
                if poller is None:
                    return  # closed under us
                try:
                    events = poller.poll(poll_timeout)
                except ValueError:  # poller closed (celery#882)
                    return
                if events:
                    self._dispatch(events, generator, waker)
            elif poll_timeout:
                # Nothing registered yet: startup is probably not done.
                sleep(min(poll_timeout, 0.1))
            yield

    def _run_ready(self) -> None:
        # Only what is queued now: callbacks queueing more wait a turn, so
        # readers and writers are not starved.
        pending = iter(self._pop_ready())
        try:
            for item in pending:
                if item is not None:
                    item()
        except BaseException:
            rest = list(pending)  # what did not run yet runs next turn
            with self._ready_lock:
                self._ready.update(rest)
            raise

    def _dispatch(self, events: Any, generator: type, waker: _Waker) -> None:
        # Hot path: plain reader callbacks are called inline.
        readers, writers = self.readers, self.writers
        waker_fd = waker.fileno()
        to_consolidate = []
        for fd, event in events:
            if fd == waker_fd:
                self._on_wakeup(waker)
                continue
            if not event & _ANY:
                logger.info(W_UNKNOWN_EVENT, event, fd)
                event = ERR
            reader = readers.get(fd) if event & _READ_ERR else None
            if reader is not None:
                cb, args = reader
                if isinstance(cb, generator):
                    self._advance(fd, cb)
                else:
                    try:
                        cb(*args)
                    except Empty:
                        pass
                if not event & WRITE:
                    continue
            # Writers: also on ERR when no reader took it.  Looked up only
            # now, since the reader may have removed the fd.
            if fd in writers and (event & WRITE or reader is None):
                writer = writers[fd]
                if writer is None:
                    if fd in self.consolidate:
                        to_consolidate.append(fd)
                else:
                    cb, args = writer
                    if isinstance(cb, generator):
                        self._advance(fd, cb)
                    else:
                        try:
                            cb(*args)
                        except Empty:
                            pass
            elif reader is None:
                self._forget_stale(fd)
        if to_consolidate and self.consolidate_callback is not None:
            self.consolidate_callback(to_consolidate)

    def _forget_stale(self, fd: int) -> None:
        # Nobody wants this event (removed earlier in this batch, or the
        # other side only): narrow the poller's interest to what remains.
        if fd in self.readers or fd in self.writers:
            self._resync(fd)
        else:
            self._remove_from_loop(fd)

    def _advance(self, fd: int, gen: Any) -> None:
        try:
            next(gen)
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise
            self.remove(fd)
        except StopIteration:
            pass
        except Exception:
            self.remove(fd)
            raise

    # -- debugging ---------------------------------------------------------

    def repr_active(self) -> str:
        from .debug import repr_active
        return repr_active(self)

    def repr_events(self, events: Any) -> str:
        from .debug import repr_events
        return repr_events(self, events or [])
