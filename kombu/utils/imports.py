"""Import a class or module given its dotted name."""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

__all__ = ('symbol_by_name',)


def symbol_by_name(name: Any, aliases: Mapping[str, str] | None = None,
                   imp: Callable[..., Any] | None = None, package: str | None = None,
                   sep: str = '.', default: Any = None, **kwargs: Any) -> Any:
    """Return the object named by ``name``.

    ``name`` may be ``'pkg.module:attr'``, ``'pkg.module.attr'`` (last ``sep``
    separates the attribute), an alias from ``aliases``, or an object that is
    returned as is. With ``package``, a relative name such as ``'.mod:Cls'`` is
    resolved inside it. Missing modules or attributes raise
    :exc:`ImportError`/:exc:`AttributeError` unless ``default`` is given.

    Example:
        >>> symbol_by_name('kombu.utils.uuid:uuid')
        <function uuid at 0x...>
    """
    if not isinstance(name, str):
        return name  # already the object
    if imp is None:
        imp = importlib.import_module
    if aliases:
        name = aliases.get(name) or name
    sep = ':' if ':' in name else sep
    module_name, _, attr = name.rpartition(sep)
    if not module_name:
        # A bare name is a module (or an attribute of ``package``).
        attr, module_name = None, (package if package else attr)
    try:
        try:
            module = imp(module_name, package=package, **kwargs)
        except ValueError as exc:
            raise ValueError(f'Cannot import {name!r}: {exc}') from exc
        return getattr(module, attr) if attr else module
    except (ImportError, AttributeError):
        if default is None:
            raise
    return default
