"""Celery installs next to this package without pulling upstream Kombu, and imports ours."""
from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import kombu

ROOT = Path(__file__).resolve().parents[3]


def celery_kombu_requirement() -> Requirement:
    for text in metadata.requires('celery') or ():
        requirement = Requirement(text)
        if requirement.name == 'kombu' and not requirement.marker:
            return requirement
    raise AssertionError('celery declares no kombu requirement')


def test_our_version_satisfies_celerys_requirement():
    requirement = celery_kombu_requirement()
    assert requirement.specifier.contains(kombu.__version__), (requirement, kombu.__version__)


def test_pip_would_not_install_upstream_kombu(tmp_path):
    report = tmp_path / 'report.json'
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--dry-run', '-q', '--report', str(report),
         f'celery=={metadata.version("celery")}'],
        capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.skip(f'pip could not resolve celery here: {proc.stderr[-300:]}')
    names = {item['metadata']['name'].lower() for item in json.loads(report.read_text())['install']}
    assert 'kombu' not in names, names


def test_celery_imports_this_kombu():
    proc = subprocess.run(
        [sys.executable, '-c',
         'import celery.app.amqp, celery.worker.consumer, kombu; print(kombu.__file__)'],
        capture_output=True, text=True, timeout=60, cwd='/')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(str(ROOT)), proc.stdout
