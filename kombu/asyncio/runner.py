"""Where the sync transport calls of the asyncio API run.

``InlineRunner`` calls them on the event loop itself: only for transports
whose operations never block (the in-process ``memory://`` broker).
``ThreadRunner`` hands them to one worker thread per connection, in order (a
channel is not thread-safe, so one thread serializes its use): the adapter
for every transport without native asyncio I/O.  It is not native — each
call costs a thread hop and a blocked broker call holds that thread — but it
speaks the same wire format through the same transport code.
"""
from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

__all__ = ('Runner', 'InlineRunner', 'ThreadRunner', 'runner_for', 'INLINE_TRANSPORTS')

T = TypeVar('T')

#: Transports whose every call returns at once: no thread needed.
INLINE_TRANSPORTS = frozenset(['memory'])


class Runner:
    native = False
    name = 'base'

    async def run(self, fun: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        raise NotImplementedError

    def close(self) -> None:
        pass


class InlineRunner(Runner):
    native = True
    name = 'inline'

    async def run(self, fun: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fun(*args, **kwargs)


class ThreadRunner(Runner):
    name = 'thread'

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix='kombu-asyncio')

    async def run(self, fun: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(fun, *args, **kwargs) if (args or kwargs) else fun
        return await loop.run_in_executor(self._executor, call)

    def submit(self, fun: Callable[..., T], *args: Any) -> Any:
        """Start ``fun`` and return its concurrent future (not awaited)."""
        return self._executor.submit(fun, *args)

    def close(self) -> None:
        # Queued calls (a final ack, the channel close) still run.
        self._executor.shutdown(wait=True)


def runner_for(*transport_names: str) -> Runner:
    """The runner for a connection that may use any of ``transport_names``
    (its failover alternates may name other transports than the first)."""
    if all(name in INLINE_TRANSPORTS for name in transport_names):
        return InlineRunner()
    return ThreadRunner()
