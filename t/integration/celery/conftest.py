"""Fixtures for the end-to-end Celery tests (helpers live in harness.py)."""
from __future__ import annotations

import importlib.util
from typing import Any, Iterator

import pytest

if importlib.util.find_spec('celery') is None:
    # Celery is a test dependency of these modules only: without it they are not collected
    # (``pip install celery==5.7.*`` next to this package to run them).
    collect_ignore_glob = ['test_*.py']


@pytest.fixture
def start_worker(tmp_path) -> Iterator:
    """Factory: ``start_worker(settings, *celery_args)`` -> a ready ``harness.Worker``."""
    from t.integration.celery.harness import Worker

    workers: list[Worker] = []

    def start(settings: dict[str, Any], *args: str, ready: bool = True,
              pool: str = 'solo') -> Worker:
        worker = Worker(settings, tmp_path, *args, pool=pool)
        workers.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.kill()
