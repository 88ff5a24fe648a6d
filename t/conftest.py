from __future__ import annotations

import logging

import pytest

from t.servers import silent_server as _silent_server
from t.servers import unique_name

# The conformance suite's asserts live in a helper module: have pytest rewrite
# them so a failing case prints its values, not a bare AssertionError.
pytest.register_assert_rewrite('t.integration.conformance')


@pytest.fixture
def uname():
    """Factory of unique entity names for tests that share a broker."""
    return unique_name


@pytest.fixture
def silent_server():
    """Port of a TCP server that accepts connections and never answers."""
    with _silent_server() as port:
        yield port


_ROOT = logging.getLogger()
_ROOT_STATE = (_ROOT.level, list(_ROOT.handlers))


@pytest.fixture(autouse=True)
def _restore_root_logging():
    """Put the root logger back as the run started before each test: an
    in-process Celery worker (even one started by a module fixture) sets its
    level to ERROR for the rest of the process, and a later test's ``caplog``
    would no longer see warnings."""
    level, handlers = _ROOT_STATE
    _ROOT.setLevel(level)
    _ROOT.handlers[:] = handlers
    yield
