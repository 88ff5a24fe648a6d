"""Transport conformance suite (see :mod:`t.integration.conformance.suite`)."""
from __future__ import annotations

from .suite import ConformanceSuite

__all__ = ('ConformanceSuite',)
