"""Debugging support: log every method call made on an object."""
from __future__ import annotations

import logging
from typing import Any, Sequence

from .functional import reprcall

__all__ = ('setup_logging', 'Logwrapped')


def setup_logging(loglevel: int | str = logging.DEBUG,
                  loggers: Sequence[str] | None = None) -> None:
    """Send the given loggers (default: connection and channel) to stderr."""
    loggers = ['kombu.connection', 'kombu.channel'] if not loggers else loggers
    for name in loggers:
        logger = logging.getLogger(name)
        logger.addHandler(logging.StreamHandler())
        logger.setLevel(loglevel)


class Logwrapped:
    """Proxy for ``instance`` that logs each method call and its result."""

    __ignore = ('__enter__', '__exit__')

    def __init__(self, instance: Any, logger: logging.Logger | str | None = None,
                 ident: str | None = None) -> None:
        self.instance = instance
        if logger is None or isinstance(logger, str):
            logger = logging.getLogger(logger or 'kombu.debug')
        self.logger = logger
        self.ident = ident

    def __getattr__(self, key: str) -> Any:
        if key == 'instance':  # not set yet (e.g. during unpickling)
            raise AttributeError(key)
        meth = getattr(self.instance, key)
        if not callable(meth) or key in self.__ignore:
            return meth

        def __wrapped(*args: Any, **kwargs: Any) -> Any:
            prefix = self.ident.format(self.instance) if self.ident else ''
            info = prefix + reprcall(key, args, kwargs)
            self.logger.debug('%s', info)
            return meth(*args, **kwargs)

        __wrapped.__name__ = key
        return __wrapped

    def __repr__(self) -> str:
        return repr(self.instance)

    def __dir__(self) -> list[str]:
        return dir(self.instance)

