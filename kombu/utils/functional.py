"""Functional utilities: caches, lazy values, retry loops and reprs."""
from __future__ import annotations

import inspect
import random
import threading
from collections import OrderedDict, UserDict
from collections.abc import Iterable, Mapping
from functools import wraps
from itertools import count, repeat
from time import monotonic, sleep
from typing import Any, Callable, Iterator, Sequence, Union

from vine import maybe_promise, promise  # noqa: F401  (re-exported)

from .encoding import safe_repr as _safe_repr

__all__ = (
    'LRUCache', 'memoize', 'lazy', 'maybe_evaluate', 'is_list', 'maybe_list',
    'dictfilter', 'retry_over_time',
)

KEYWORD_MARK = object()


class ChannelPromise:
    """Call ``contract`` once, on first use, and remember its result."""

    __value__: Any  # set on first call

    def __init__(self, contract: Callable[[], Any]) -> None:
        self.__contract__ = contract

    def __call__(self) -> Any:
        try:
            return self.__value__
        except AttributeError:
            value = self.__value__ = self.__contract__()
            return value

    def __repr__(self) -> str:
        try:
            return repr(self.__value__)
        except AttributeError:
            return f'<promise: 0x{id(self.__contract__):x}>'


class LRUCache(UserDict):
    """Thread-safe dict that evicts the least recently used key past ``limit``.

    ``limit=None`` means unbounded.
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.mutex = threading.RLock()
        self.data: OrderedDict[Any, Any] = OrderedDict()

    def __getitem__(self, key: Any) -> Any:
        with self.mutex:
            value = self[key] = self.data.pop(key)  # re-insert as most recent
            return value

    def update(self, *args: Any, **kwargs: Any) -> None:
        with self.mutex:
            data, limit = self.data, self.limit
            data.update(*args, **kwargs)
            if limit and len(data) > limit:
                for _ in range(len(data) - limit):
                    data.popitem(last=False)

    def popitem(self, last: bool = True) -> tuple[Any, Any]:
        with self.mutex:
            return self.data.popitem(last)

    def __setitem__(self, key: Any, value: Any) -> None:
        with self.mutex:
            if self.limit and len(self.data) >= self.limit and key not in self.data:
                self.data.popitem(last=False)
            self.data[key] = value

    # Iteration works on a snapshot taken under the lock, so it never holds
    # the lock across yields and never sees a dict changing size.
    def _iterate_items(self) -> Iterator[tuple[Any, Any]]:
        with self.mutex:
            snapshot = list(self.data.items())
        return iter(snapshot)
    iteritems = _iterate_items

    def _iterate_values(self) -> Iterator[Any]:
        with self.mutex:
            snapshot = list(self.data.values())
        return iter(snapshot)
    itervalues = _iterate_values

    def _iterate_keys(self) -> Iterator[Any]:
        with self.mutex:
            snapshot = list(self.data)
        return iter(snapshot)
    iterkeys = _iterate_keys

    def __iter__(self) -> Iterator[Any]:
        return self._iterate_keys()

    def clear(self) -> None:
        with self.mutex:
            self.data.clear()

    def incr(self, key: Any, delta: int = 1) -> int:
        """Atomically add ``delta`` to the integer stored (as str) under ``key``."""
        with self.mutex:
            newval = int(self.data.pop(key)) + delta
            self[key] = str(newval)
            return newval

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state['mutex']
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__ = state
        self.mutex = threading.RLock()

    keys = _iterate_keys  # type: ignore[assignment]
    values = _iterate_values  # type: ignore[assignment]
    items = _iterate_items  # type: ignore[assignment]


def memoize(maxsize: int | None = None, keyfun: Callable[..., Any] | None = None,
            Cache: type = LRUCache) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator caching a function's results by its arguments.

    The wrapper gets ``hits``/``misses`` counters, ``clear()`` and ``original_func``.
    """
    def _memoize(fun: Callable[..., Any]) -> Callable[..., Any]:
        mutex = threading.Lock()
        cache = Cache(limit=maxsize)

        @wraps(fun)
        def _M(*args: Any, **kwargs: Any) -> Any:
            if keyfun:
                key = keyfun(args, kwargs)
            else:
                key = args + (KEYWORD_MARK,) + tuple(sorted(kwargs.items()))
            try:
                with mutex:
                    value = cache[key]
            except KeyError:
                value = fun(*args, **kwargs)
                wrapper.misses += 1
                with mutex:
                    cache[key] = value
            else:
                wrapper.hits += 1
            return value

        def clear() -> None:
            """Clear the cache and reset the counters."""
            cache.clear()
            wrapper.hits = wrapper.misses = 0

        wrapper: Any = _M
        wrapper.hits = wrapper.misses = 0
        wrapper.clear = clear
        wrapper.original_func = fun
        return wrapper

    return _memoize


class lazy:
    """A value computed by calling ``fun(*args, **kwargs)`` each time it is used."""

    def __init__(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._fun = fun
        self._args = args
        self._kwargs = kwargs

    def __call__(self) -> Any:
        return self.evaluate()

    def evaluate(self) -> Any:
        return self._fun(*self._args, **self._kwargs)

    def __str__(self) -> str:
        return str(self())

    def __repr__(self) -> str:
        return repr(self())

    def __eq__(self, rhs: object) -> bool:
        return self() == rhs

    def __ne__(self, rhs: object) -> bool:
        return self() != rhs

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        memo[id(self)] = self
        return self

    def __reduce__(self) -> Any:
        return (self.__class__, (self._fun,), {'_args': self._args,
                                               '_kwargs': self._kwargs})

    __hash__ = object.__hash__


def maybe_evaluate(value: Any) -> Any:
    """Evaluate ``value`` if it is a :class:`lazy`, else return it unchanged."""
    if isinstance(value, lazy):
        return value.evaluate()
    return value


def is_list(obj: Any, scalars: tuple[type, ...] | None = (Mapping, str),
            iters: tuple[type, ...] = (Iterable,)) -> bool:
    """Return true if ``obj`` is iterable but not one of ``scalars``."""
    return isinstance(obj, iters) and not isinstance(obj, scalars or ())


def maybe_list(obj: Any, scalars: tuple[type, ...] | None = (Mapping, str)) -> Any:
    """Wrap ``obj`` in a list unless it already is one (``None`` stays ``None``)."""
    return obj if obj is None or is_list(obj, scalars) else [obj]


def dictfilter(d: Mapping[Any, Any] | None = None, **kw: Any) -> dict[Any, Any]:
    """Return a copy of ``d`` (updated with ``kw``) without ``None`` values."""
    d = kw if d is None else (dict(d, **kw) if kw else d)
    return {k: v for k, v in d.items() if v is not None}


def shufflecycle(it: Sequence[Any]) -> Iterator[Any]:
    """Yield a random element of ``it`` forever."""
    it = list(it)  # don't shuffle the caller's list
    shuffle = random.shuffle
    for _ in repeat(None):
        shuffle(it)
        yield it[0]


def fxrange(start: float = 1.0, stop: float | None = None, step: float = 1.0,
            repeatlast: bool = False) -> Iterator[float]:
    """Float range; with ``repeatlast`` the last value repeats forever."""
    cur = start * 1.0
    while 1:
        if not stop or cur <= stop:
            yield cur
            cur += step
        else:
            if not repeatlast:
                break
            yield cur - step


def fxrangemax(start: float = 1.0, stop: float | None = None, step: float = 1.0,
               max: float = 100.0) -> Iterator[float]:
    """Float range (capped at ``stop``) that ends once the sum reaches ``max``."""
    sum_, cur = 0.0, start * 1.0
    while 1:
        if sum_ >= max:
            break
        yield cur
        if stop:
            cur = min(cur + step, stop)
        else:
            cur += step
        sum_ += cur


def _interval_range(interval_start: float, interval_step: float,
                    interval_max: float) -> Iterator[float]:
    cap = float(interval_max)
    for value in fxrange(interval_start, interval_max + interval_start,
                         interval_step, repeatlast=True):
        yield min(value, cap)


_Catch = Union[type[BaseException], tuple[type[BaseException], ...]]


def retry_over_time(fun: Callable[..., Any], catch: _Catch,
                    args: Sequence[Any] | None = None, kwargs: Mapping[str, Any] | None = None,
                    errback: Callable[[BaseException, Iterator[float], int], float] | None = None,
                    max_retries: int | None = None, interval_start: float = 2,
                    interval_step: float = 2, interval_max: float = 30,
                    callback: Callable[[], Any] | None = None,
                    timeout: float | None = None) -> Any:
    """Call ``fun(*args, **kwargs)`` until it stops raising ``catch``.

    Waits ``interval_start`` seconds after the first failure, ``interval_step``
    more after each further one, never more than ``interval_max``. ``errback``
    (``errback(exc, intervals, retries) -> seconds``) may choose the wait
    itself. ``callback`` is called before each wait and once per second while
    waiting. Gives up, re-raising the last error, after ``max_retries``
    retries (``None``: forever) or once ``timeout`` seconds have passed since
    the first call: no wait extends past that deadline.
    """
    kwargs = {} if not kwargs else kwargs
    args = () if not args else args
    intervals = _interval_range(interval_start, interval_step, interval_max)
    deadline = monotonic() + timeout if timeout else None
    for retries in count():
        try:
            return fun(*args, **kwargs)
        except catch as exc:
            if max_retries is not None and retries >= max_retries:
                raise
            if deadline is not None and monotonic() >= deadline:
                raise
            if callback:
                callback()
            tts = float(errback(exc, intervals, retries) if errback else next(intervals))
            tts = min(tts, float(interval_max))
            if deadline is not None:
                tts = min(tts, max(deadline - monotonic(), 0.0))
            if tts > 0:
                _sleep_with_callback(tts, callback)


def _sleep_with_callback(tts: float, callback: Callable[[], Any] | None) -> None:
    # Sleep in one-second slices so ``callback`` can run (e.g. to notice a
    # shutdown) during long waits. ``sleep`` is looked up as a module global
    # on purpose: tests patch ``kombu.utils.functional.sleep``.
    whole = int(tts)
    for _ in range(whole):
        if callback:
            callback()
        sleep(1.0)
    rest = tts - whole
    if rest:
        sleep(rest)


def reprkwargs(kwargs: Mapping[str, Any], sep: str = ', ', fmt: str = '{0}={1}') -> str:
    """Render keyword arguments as ``k=repr(v)`` joined by ``sep``."""
    return sep.join(fmt.format(k, _safe_repr(v)) for k, v in kwargs.items())


def reprcall(name: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None,
             sep: str = ', ') -> str:
    """Render a call as ``name(arg, ..., key=value)``."""
    kwargs = {} if not kwargs else kwargs
    return '{}({}{}{})'.format(
        name, sep.join(map(_safe_repr, args or ())),
        (args and kwargs) and sep or '',
        reprkwargs(kwargs, sep),
    )


def accepts_argument(func: Callable[..., Any], argument_name: str) -> bool:
    """Return true if ``func`` has a parameter (positional or keyword-only) so named."""
    spec = inspect.getfullargspec(func)
    return argument_name in spec.args or argument_name in spec.kwonlyargs
