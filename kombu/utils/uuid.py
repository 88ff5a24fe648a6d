"""UUID helpers."""
from __future__ import annotations

from typing import Callable
from uuid import UUID, uuid4

__all__ = ('uuid',)


def uuid(_uuid: Callable[[], UUID] = uuid4) -> str:
    """Return a new random UUID as a string (e.g. ``'6ab8...-...'``)."""
    return str(_uuid())
