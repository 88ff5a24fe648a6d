"""Python and environment compatibility helpers."""
from __future__ import annotations

import itertools
import logging
import numbers
import os
import sys
import threading
import weakref
from contextlib import ExitStack, contextmanager
from functools import wraps
from importlib import metadata as importlib_metadata
from io import UnsupportedOperation
from typing import Any, Callable, ContextManager, Generator, Iterator

__all__ = (
    'FILENO_ERRORS', 'entrypoints', 'fileno', 'maybe_fileno', 'nested',
    'detect_environment', 'register_after_fork', 'coro', 'get_gevent_concurrent_error',
)

logger = logging.getLogger(__name__)

#: Errors raised by ``f.fileno()`` for objects without a real descriptor.
FILENO_ERRORS = (AttributeError, ValueError, UnsupportedOperation)

_environment: str | None = None


def get_gevent_concurrent_error() -> type[BaseException] | None:
    """Return gevent's ``ConcurrentObjectUseError`` if gevent is loaded, else None.

    Looked up at call time because kombu is often imported before gevent
    monkey-patches the process.
    """
    if 'gevent' in sys.modules:
        try:
            from gevent.exceptions import ConcurrentObjectUseError
        except ImportError:
            return None
        return ConcurrentObjectUseError
    return None


def coro(gen: Callable[..., Generator[Any, Any, Any]]) -> Callable[..., Generator[Any, Any, Any]]:
    """Decorator: create the generator and advance it to its first ``yield``."""
    @wraps(gen)
    def wind_up(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        it = gen(*args, **kwargs)
        next(it)
        return it
    return wind_up


def _detect_environment() -> str:
    if 'eventlet' in sys.modules:
        try:
            import socket

            from eventlet.patcher import is_monkey_patched as is_eventlet
            if is_eventlet(socket):
                return 'eventlet'
        except ImportError:
            pass
    if 'gevent' in sys.modules:
        try:
            import socket

            from gevent import socket as _gsocket
            if socket.socket is _gsocket.socket:
                return 'gevent'
        except ImportError:
            pass
    return 'default'


def detect_environment() -> str:
    """Return ``'default'``, ``'eventlet'`` or ``'gevent'`` (cached after first call)."""
    global _environment
    if _environment is None:
        _environment = _detect_environment()
    return _environment


def entrypoints(namespace: str) -> Iterator[tuple[Any, Any]]:
    """Yield ``(entry_point, loaded_object)`` for each entry point in ``namespace``."""
    if sys.version_info >= (3, 10):
        eps: Any = importlib_metadata.entry_points(group=namespace)
    else:  # pragma: no cover
        eps = importlib_metadata.entry_points().get(namespace, [])
    return ((ep, ep.load()) for ep in eps)


def fileno(f: Any) -> int:
    """Return the file descriptor of ``f`` (an int is returned as is)."""
    if isinstance(f, numbers.Integral):
        return int(f)
    return f.fileno()


def maybe_fileno(f: Any) -> int | None:
    """Like :func:`fileno`, but return None for objects without one."""
    try:
        return fileno(f)
    except FILENO_ERRORS:
        return None


@contextmanager
def nested(*managers: ContextManager[Any]) -> Iterator[list[Any]]:
    """Enter several context managers; yields the list of their values."""
    with ExitStack() as stack:
        yield [stack.enter_context(m) for m in managers]


# -- after-fork callbacks ------------------------------------------------------
# key: (registration order, id(obj), func) -> object, weakly where possible so
# registering never keeps an object (a connection pool, an app) alive.
_after_fork_weak: weakref.WeakValueDictionary[tuple[int, int, Any], Any] = \
    weakref.WeakValueDictionary()
_after_fork_strong: dict[tuple[int, int, Any], Any] = {}
_after_fork_counter = itertools.count()
_after_fork_lock = threading.Lock()
_after_fork_hooked = False


def _run_after_forkers() -> None:
    global _after_fork_lock
    # Another thread may have held the lock at fork time; in the child that
    # thread is gone and the lock would stay held forever.
    _after_fork_lock = threading.Lock()
    items = list(_after_fork_weak.items()) + list(_after_fork_strong.items())
    items.sort(key=lambda item: item[0][0])
    for (_, _, func), obj in items:
        try:
            func(obj)
        except Exception:  # one bad callback must not stop the others
            logger.exception('after forker raised exception')


def register_after_fork(obj: Any, func: Callable[[Any], Any]) -> None:
    """Call ``func(obj)`` in the child process after each ``os.fork()``.

    ``obj`` is held weakly (strongly only if it cannot be weak-referenced),
    so the callback disappears with the object.
    """
    global _after_fork_hooked
    key = (next(_after_fork_counter), id(obj), func)
    with _after_fork_lock:
        if not _after_fork_hooked and hasattr(os, 'register_at_fork'):
            os.register_at_fork(after_in_child=_run_after_forkers)
            _after_fork_hooked = True
        try:
            _after_fork_weak[key] = obj
        except TypeError:
            _after_fork_strong[key] = obj
