"""Fixtures for the end-to-end Celery tests (helpers live in harness.py)."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from t.integration.celery.harness import Worker


@pytest.fixture
def start_worker(tmp_path) -> Iterator:
    """Factory: ``start_worker(settings, *celery_args)`` -> a ready :class:`Worker`."""
    workers: list[Worker] = []

    def start(settings: dict[str, Any], *args: str, ready: bool = True) -> Worker:
        worker = Worker(settings, tmp_path, *args)
        workers.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.kill()
