"""The conformance suite over memory:// (every optional feature supported)."""
from __future__ import annotations

from t.integration.conformance import ConformanceSuite


class TestMemoryConformance(ConformanceSuite):
    url = 'memory://'
