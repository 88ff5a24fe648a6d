"""Upstream Kombu in a throw-away virtualenv, for wire-compatibility tests.

Upstream must never be importable from the project's own environment (it would
shadow this package), so it lives in a separate virtualenv outside the tree and
is only ever run as a subprocess.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from t.servers import IN_CI

UPSTREAM_VERSION = os.environ.get('KOMBU_UPSTREAM_VERSION', '5.7.0')
VENV_DIR = Path(os.environ.get(
    'KOMBU_UPSTREAM_VENV', f'/tmp/kombu-upstream-venv-{UPSTREAM_VERSION}'))
PACKAGES = [f'kombu=={UPSTREAM_VERSION}', 'redis', 'packaging']


def upstream_python() -> Path:
    """Path to a Python that imports upstream Kombu; created once per machine."""
    python = VENV_DIR / 'bin' / 'python'
    marker = VENV_DIR / '.ready'
    VENV_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(f'{VENV_DIR}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one creator when tests run in parallel
        if not marker.exists():
            try:
                subprocess.run([sys.executable, '-m', 'venv', '--clear', str(VENV_DIR)],
                               check=True, capture_output=True, timeout=120)
                subprocess.run([str(python), '-m', 'pip', 'install', '-q', *PACKAGES],
                               check=True, capture_output=True, timeout=300)
            except (subprocess.SubprocessError, OSError) as exc:
                message = f'cannot build the upstream Kombu virtualenv: {exc}'
                if IN_CI:
                    pytest.fail(message, pytrace=False)
                pytest.skip(message)
            marker.touch()
    return python


def run_upstream(script: str, timeout: float = 60) -> str:
    """Run ``script`` under upstream Kombu and return its stdout."""
    python = upstream_python()
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH',)}
    proc = subprocess.run(
        [str(python), '-c', textwrap.dedent(script)], cwd='/', env=env,
        capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f'upstream script failed:\n{proc.stderr}')
    return proc.stdout
