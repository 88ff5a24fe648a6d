"""Messaging library for Python.

The names below are resolved on first access (PEP 562) so that ``import kombu``
stays cheap: the connection machinery is only loaded by code that uses it.
"""
from __future__ import annotations

import importlib
import re
from typing import Any, NamedTuple

__version__ = '5.7.0'
__author__ = 'The kombu developers'
__contact__ = ''
__homepage__ = 'https://kombu.readthedocs.io'
__docformat__ = 'restructuredtext en'


class version_info_t(NamedTuple):
    major: int
    minor: int
    micro: int
    releaselevel: str
    serial: str


def _parse_version(version: str) -> version_info_t:
    match = re.match(r'(\d+)\.(\d+)\.(\d+)(.+)?', version)
    assert match is not None
    major, minor, micro, rest = match.groups()
    return version_info_t(int(major), int(minor), int(micro), rest or '', '')


VERSION = version_info = _parse_version(__version__)

# name -> module that defines it.
_LAZY: dict[str, str] = {
    'Connection': 'kombu.connection',
    'BrokerConnection': 'kombu.connection',
    'Exchange': 'kombu.entity',
    'Queue': 'kombu.entity',
    'binding': 'kombu.entity',
    'Message': 'kombu.message',
    'Consumer': 'kombu.messaging',
    'Producer': 'kombu.messaging',
    'connections': 'kombu.pools',
    'producers': 'kombu.pools',
    'parse_url': 'kombu.utils.url',
    'eventloop': 'kombu.common',
    'uuid': 'kombu.common',
    'enable_insecure_serializers': 'kombu.serialization',
    'disable_insecure_serializers': 'kombu.serialization',
}

# ``all_by_module`` kept for code that introspects the lazy table the upstream way.
all_by_module: dict[str, list[str]] = {}
for _name, _module in _LAZY.items():
    all_by_module.setdefault(_module, []).append(_name)
object_origins = dict(_LAZY)

__all__ = sorted(_LAZY) + ['VERSION', 'version_info', '__version__', 'version_info_t']


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
