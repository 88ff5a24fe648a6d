"""The package type-checks (its public API is typed and ships py.typed)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_package_ships_py_typed() -> None:
    assert (ROOT / 'kombu' / 'py.typed').exists()


def test_mypy_reports_nothing() -> None:
    mypy = shutil.which('mypy')
    if mypy is None:
        pytest.skip('mypy is not installed: pip install -e ".[test]"')
    proc = subprocess.run([mypy], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
