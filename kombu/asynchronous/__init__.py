"""Event loop (hub), timer and helpers used by Celery's worker."""

from __future__ import annotations

from kombu.utils.eventio import ERR, READ, WRITE

from .hub import Hub, get_event_loop, set_event_loop

__all__ = ('READ', 'WRITE', 'ERR', 'Hub', 'get_event_loop', 'set_event_loop')
