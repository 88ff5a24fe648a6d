"""DEPRECATED - Import from modules below."""
from __future__ import annotations

import importlib
from typing import Any

# Eager: the submodule shares the function's name, and a later
# ``import kombu.utils.uuid`` would otherwise leave the module here.
from .uuid import uuid

__all__ = (
    'EqualityDict', 'uuid', 'maybe_list',
    'fxrange', 'fxrangemax', 'retry_over_time',
    'emergency_dump_state', 'cached_property',
    'register_after_fork', 'reprkwargs', 'reprcall',
    'symbol_by_name', 'nested', 'fileno', 'maybe_fileno',
)

# Resolved on first access (PEP 562) so ``import kombu.utils`` stays cheap.
_LAZY = {
    'EqualityDict': 'collections',
    'maybe_list': 'functional',
    'fxrange': 'functional',
    'fxrangemax': 'functional',
    'retry_over_time': 'functional',
    'reprkwargs': 'functional',
    'reprcall': 'functional',
    'emergency_dump_state': 'div',
    'cached_property': 'objects',
    'register_after_fork': 'compat',
    'nested': 'compat',
    'fileno': 'compat',
    'maybe_fileno': 'compat',
    'symbol_by_name': 'imports',
}


# Submodules Kombu imported eagerly, so ``kombu.utils.functional`` worked
# as an attribute after a bare ``import kombu.utils``.
_SUBMODULES = frozenset(['collections', 'compat', 'div', 'encoding', 'functional',
                         'imports', 'objects'])


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f'{__name__}.{name}')
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(f'{__name__}.{module}'), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
