"""Logging helpers."""
from __future__ import annotations

import logging
import numbers
import os
import re
import sys
from logging.handlers import WatchedFileHandler
from typing import IO, Any, Callable, Iterator, Mapping, Sequence

from .utils.encoding import safe_repr, safe_str
from .utils.functional import maybe_evaluate
from .utils.objects import cached_property

__all__ = ('LogMixin', 'LOG_LEVELS', 'get_loglevel', 'setup_logging')

#: Level names to numbers and numbers to names.
LOG_LEVELS: dict[Any, Any] = dict(logging._nameToLevel)
LOG_LEVELS.update(logging._levelToName)
LOG_LEVELS.setdefault('FATAL', logging.FATAL)
LOG_LEVELS.setdefault(logging.FATAL, 'FATAL')
DISABLE_TRACEBACKS = os.environ.get('DISABLE_TRACEBACKS')

# One %-format conversion: optional (key), flags, width, precision, length, type.
_FORMAT_SPEC = re.compile(
    r'%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([diouxXeEfFgGcrsa%])')


def get_logger(logger: str | logging.Logger) -> logging.Logger:
    """Return the logger (by name); give it a NullHandler if it has no handler."""
    if isinstance(logger, str):
        logger = logging.getLogger(logger)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


def get_loglevel(level: str | int) -> int:
    """Return the numeric level for a level name (numbers pass through)."""
    if isinstance(level, str):
        return LOG_LEVELS[level]
    return level


def naive_format_parts(fmt: str) -> Iterator[str | None]:
    """Yield the conversion type of each argument ``fmt`` consumes (``'s'``, ``'r'``...).

    ``%%`` consumes nothing; a ``*`` width or precision consumes an argument
    (yielded as ``None``).
    """
    for spec in _FORMAT_SPEC.finditer(fmt):
        width, precision, conversion = spec.groups()
        if conversion == '%':
            continue
        if width == '*':
            yield None
        if precision == '*':
            yield None
        yield conversion


def safeify_format(fmt: str, args: Sequence[Any],
                   filters: Mapping[str | None, Callable[[Any], Any]] | None = None,
                   ) -> Iterator[Any]:
    """Yield ``args`` with ``%s``/``%r`` arguments made safe (never raising)."""
    filters = {'s': safe_str, 'r': safe_repr} if not filters else filters
    index = -1
    for index, conversion in enumerate(naive_format_parts(fmt)):
        if index >= len(args):
            return
        filt = filters.get(conversion)
        yield filt(args[index]) if filt else args[index]
    yield from args[index + 1:]


class LogMixin:
    """Mixin adding ``debug``/``info``/... methods that log under the class name."""

    def debug(self, *args: Any, **kwargs: Any) -> Any:
        return self.log(logging.DEBUG, *args, **kwargs)

    def info(self, *args: Any, **kwargs: Any) -> Any:
        return self.log(logging.INFO, *args, **kwargs)

    def warn(self, *args: Any, **kwargs: Any) -> Any:
        return self.log(logging.WARN, *args, **kwargs)

    def error(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault('exc_info', True)
        return self.log(logging.ERROR, *args, **kwargs)

    def critical(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault('exc_info', True)
        return self.log(logging.CRITICAL, *args, **kwargs)

    def annotate(self, text: str) -> str:
        return f'{self.logger_name} - {text}'

    def log(self, severity: int, *args: Any, **kwargs: Any) -> Any:
        if DISABLE_TRACEBACKS:
            kwargs.pop('exc_info', None)
        if not self.logger.isEnabledFor(severity):
            return None
        if len(args) > 1 and isinstance(args[0], str):
            # Arguments are made safe (and lazy ones evaluated) up front, so a
            # failing __repr__ cannot break logging.
            expand = [maybe_evaluate(arg) for arg in args[1:]]
            return self.logger.log(severity, self.annotate(args[0].replace('%r', '%s')),
                                   *safeify_format(args[0], expand), **kwargs)
        return self.logger.log(severity, self.annotate(' '.join(map(safe_str, args))),
                               **kwargs)

    def get_logger(self) -> logging.Logger:
        return get_logger(self.logger_name)

    def is_enabled_for(self, level: str | int) -> bool:
        return self.logger.isEnabledFor(self.get_loglevel(level))

    def get_loglevel(self, level: str | int) -> int:
        if not isinstance(level, numbers.Integral):
            return LOG_LEVELS[level]
        return int(level)

    @cached_property
    def logger(self) -> logging.Logger:
        return self.get_logger()

    @property
    def logger_name(self) -> str:
        return self.__class__.__name__


class Log(LogMixin):
    """A :class:`LogMixin` with an explicit name (and optionally logger)."""

    def __init__(self, name: str, logger: logging.Logger | None = None) -> None:
        self._logger_name = name
        self._logger = logger

    def get_logger(self) -> logging.Logger:
        if self._logger:
            return self._logger
        return super().get_logger()

    @property
    def logger_name(self) -> str:
        return self._logger_name


def setup_logging(loglevel: str | int | None = None,
                  logfile: str | IO[str] | None = None) -> logging.Logger:
    """Log to ``logfile`` (a path or stream; default stderr) if the root logger has no handler."""
    logger = logging.getLogger()
    level = get_loglevel(loglevel or 'ERROR')
    logfile = logfile if logfile else sys.__stderr__
    if not logger.handlers:
        if hasattr(logfile, 'write'):
            handler: logging.Handler = logging.StreamHandler(logfile)  # type: ignore[arg-type]
        else:
            handler = WatchedFileHandler(logfile)  # type: ignore[arg-type]
        logger.addHandler(handler)
        logger.setLevel(level)
    return logger
