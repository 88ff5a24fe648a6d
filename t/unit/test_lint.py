"""The tree stays ruff-clean (the configuration is in pyproject.toml)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_reports_nothing() -> None:
    ruff = shutil.which('ruff')
    if ruff is None:
        pytest.skip('ruff is not installed: pip install -e ".[test]"')
    proc = subprocess.run([ruff, 'check', 'kombu', 't', 'bench', 'examples', 'docs'],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
