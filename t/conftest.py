from __future__ import annotations

import pytest

from t.servers import unique_name


@pytest.fixture
def uname():
    """Factory of unique entity names for tests that share a broker."""
    return unique_name
