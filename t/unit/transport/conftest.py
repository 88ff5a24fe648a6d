"""A memory transport with its own broker state, and a channel on it, for the
virtual-base and memory tests (modules may define their own instead)."""
from __future__ import annotations

import pytest

from t.unit.transport.virtual.helpers import make_transport


@pytest.fixture
def transport():
    t = make_transport()
    yield t
    t.close_connection(t)


@pytest.fixture
def channel(transport):
    return transport.create_channel(transport)
