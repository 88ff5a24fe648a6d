"""Last-resort helpers."""
from __future__ import annotations

import os
import sys
from pprint import pformat
from tempfile import mkstemp
from typing import IO, Any, Callable

__all__ = ('emergency_dump_state',)


def emergency_dump_state(state: Any, open_file: Callable[..., IO[Any]] = open,
                         dump: Callable[..., Any] | None = None,
                         stderr: IO[str] | None = None) -> str:
    """Save ``state`` to a new temporary file and return its path.

    Used when state (e.g. unacked messages) would otherwise be lost. Pickles
    with ``dump`` (default :func:`pickle.dump`); if that fails the
    :func:`pprint.pformat` text is written instead.
    """
    stderr = sys.stderr if stderr is None else stderr
    if dump is None:
        import pickle
        dump = pickle.dump
    fd, persist = mkstemp(prefix='kombu-state-')
    os.close(fd)
    print(f'EMERGENCY DUMP STATE TO FILE -> {persist} <-', file=stderr)
    fh = open_file(persist, 'wb')
    try:
        try:
            dump(state, fh, protocol=0)
        except Exception as exc:
            print(f'Cannot pickle state: {exc!r}. Fallback to pformat.', file=stderr)
            try:  # drop anything a failed dump left behind
                fh.seek(0)
                fh.truncate()
            except (AttributeError, OSError, ValueError):
                pass
            fh.write(pformat(state).encode())
    finally:
        fh.flush()
        fh.close()
    return persist
