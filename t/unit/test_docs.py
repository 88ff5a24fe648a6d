"""The Sphinx documentation builds without a single warning."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_docs_build_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip('sphinx')
    proc = subprocess.run(
        [sys.executable, '-m', 'sphinx', '-E', '-W', '--keep-going', '-q', '-b', 'html',
         str(ROOT / 'docs'), str(tmp_path / 'html')],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / 'html' / 'index.html').exists()


def test_readme_is_valid_restructuredtext() -> None:
    docutils_core = pytest.importorskip('docutils.core')
    text = (ROOT / 'README.rst').read_text()
    # halt_level=2: any warning (a short underline, a bad table) raises
    docutils_core.publish_doctree(
        text, settings_overrides={'halt_level': 2, 'report_level': 2})
