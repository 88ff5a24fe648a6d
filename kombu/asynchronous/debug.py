"""Human-readable descriptions of a hub's readers, writers and events."""

from __future__ import annotations

from typing import Any

from kombu.utils.eventio import ERR, READ, WRITE


def repr_flag(flag: int) -> str:
    """Describe an event mask: ``R``, ``W`` and ``!`` (error)."""
    return '{}{}{}'.format('R' if flag & READ else '',
                           'W' if flag & WRITE else '',
                           '!' if flag & ERR else '')


def _name(fun: Any) -> str:
    return getattr(fun, '__name__', None) or repr(fun)


def _rcb(obj: Any) -> str:
    if obj is None:
        return '<missing>'
    if isinstance(obj, str):
        return obj
    if isinstance(obj, tuple):
        cb, args = obj
        return '{}({})'.format(_name(cb), ', '.join(repr(arg) for arg in args))
    return _name(obj)


def repr_active(h: Any) -> str:
    """Describe the active readers and writers of hub ``h``."""
    return ', '.join(repr_readers(h) + repr_writers(h))


def repr_events(h: Any, events: Any) -> str:
    """Describe the ``(fd, mask)`` events returned by a poller."""
    return ', '.join(
        f'{_rcb(callback_for(h, fd, fl, "(GONE)"))}({fd})->{repr_flag(fl)}'
        for fd, fl in events
    )


def repr_readers(h: Any) -> list[str]:
    """Describe the readers of hub ``h``."""
    return [f'({fd}){_rcb(cb)}->{repr_flag(READ | ERR)}' for fd, cb in h.readers.items()]


def repr_writers(h: Any) -> list[str]:
    """Describe the writers of hub ``h``."""
    return [f'({fd}){_rcb(cb)}->{repr_flag(WRITE)}' for fd, cb in h.writers.items()]


def callback_for(h: Any, fd: int, flag: int, *default: Any) -> Any:
    """Return the handler hub ``h`` uses for ``fd`` and event ``flag``."""
    try:
        if flag & READ:
            return h.readers[fd]
        if flag & WRITE:
            if fd in h.consolidate:
                return h.consolidate_callback
            return h.writers[fd]
    except KeyError:
        if default:
            return default[0]
        raise
    return None  # neither READ nor WRITE (an error-only event)
