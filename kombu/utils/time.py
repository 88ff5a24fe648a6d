"""Time unit conversion."""
from __future__ import annotations

__all__ = ('maybe_s_to_ms',)


def maybe_s_to_ms(v: int | float | None) -> int | None:
    """Convert seconds to whole milliseconds; ``None`` stays ``None``."""
    return int(float(v) * 1000.0) if v is not None else v
