from __future__ import annotations

import pytest

from t.servers import silent_server as _silent_server
from t.servers import unique_name


@pytest.fixture
def uname():
    """Factory of unique entity names for tests that share a broker."""
    return unique_name


@pytest.fixture
def silent_server():
    """Port of a TCP server that accepts connections and never answers."""
    with _silent_server() as port:
        yield port
