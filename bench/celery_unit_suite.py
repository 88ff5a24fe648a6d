"""Run Celery's own unit test suite on this package, and on upstream Kombu for a baseline.

Usage::

    python bench/celery_unit_suite.py                    # ours only
    python bench/celery_unit_suite.py --kombu both       # ours and upstream, then the diff
    python bench/celery_unit_suite.py --kombu both -- t/unit/worker   # a subset
    python bench/celery_unit_suite.py --kombu both --reuse-upstream   # upstream from last run

For each side it builds a throw-away virtualenv under ``--workdir`` (reused on later runs),
fetches Celery's source release from PyPI (``pip download --no-binary :all: --no-deps``),
installs Kombu (this checkout, editable, or upstream ``kombu==VERSION`` from PyPI) *first*,
then Celery and its test requirements (``requirements/test.txt`` minus the type checker and
pre-commit hooks), checks where ``import kombu`` resolves, and runs the release's ``t/unit``
suite with pytest.  The project's own environment is never touched, and upstream Kombu never
enters the venv that tests ours.

It prints passed/failed/skipped/error counts per side, and with ``--kombu both`` the tests
that fail only with ours (defects here), only with upstream, and with both (environment, for
example the pickle checks that refuse to run as root).  Exit status: 0 when ours has no
failure that upstream does not have; with one side only, 0 when every failure is a known one
(the root-only ones, and for ours the documented differences).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Not needed to run the unit tests, and slow to install.
SKIP_REQUIREMENTS = ('mypy', 'pre-commit')

# Fail with upstream Kombu too when run as root: Celery refuses a worker that accepts
# pickle as root, and the privilege-dropping tests expect a normal user.
AS_ROOT = {
    't.unit.apps.test_worker.test_Worker_purge::test_purge_does_not_retry_when_disabled',
    't.unit.apps.test_worker.test_Worker_purge::test_purge_falls_back_to_broker_connection_retry',
    't.unit.apps.test_worker.test_Worker_purge::test_purge_retries_connection_on_startup',
    't.unit.apps.test_worker.test_Worker_setup_defaults::test_setup_defaults_called_once',
    't.unit.apps.test_worker.test_Worker_setup_defaults::test_setup_defaults_override_is_kept',
    't.unit.backends.test_mongodb.test_MongoBackend::test_regression_worker_startup_info',
    't.unit.utils.test_platforms.test_maybe_drop_privileges::test_only_gid',
    't.unit.utils.test_platforms.test_maybe_drop_privileges::test_with_guid',
    't.unit.utils.test_platforms::test_check_privileges[accept_content0]',
    't.unit.utils.test_platforms::test_check_privileges[accept_content1]',
    't.unit.utils.test_platforms::test_check_privileges[accept_content2]',
}
# Deliberate differences of this package (docs/userguide/celery.rst says why).
KNOWN_DIFFERENCES = {
    # virtual transports honour the ``expiration`` property (a task already expired is dropped)
    't.unit.tasks.test_tasks.test_tasks::test_regular_task',
}


@dataclass
class Result:
    side: str
    seconds: float = 0.0
    passed: int = 0
    failed: set[str] = field(default_factory=set)
    errors: set[str] = field(default_factory=set)
    skipped: int = 0
    xfailed: int = 0

    @property
    def broken(self) -> set[str]:
        return self.failed | self.errors

    def line(self) -> str:
        return (f'{self.side:>8}: {self.passed} passed, {len(self.failed)} failed, '
                f'{self.skipped} skipped, {len(self.errors)} errors '
                f'({self.xfailed} xfailed) in {self.seconds:.0f}s')


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print('+', ' '.join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def fetch_celery(workdir: Path, version: str) -> Path:
    """Download and unpack Celery's sdist once; returns the source tree."""
    tree = workdir / f'celery-{version}'
    if (tree / 't' / 'unit').is_dir():
        return tree
    dl = workdir / 'sdist'
    dl.mkdir(parents=True, exist_ok=True)
    run([sys.executable, '-m', 'pip', 'download', '-q', '--no-binary', ':all:', '--no-deps',
         '-d', dl, f'celery=={version}'])
    archive = next(dl.glob(f'celery-{version}.tar.gz'))
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, 'data_filter'):
            tar.extractall(workdir, filter='data')
        else:  # Python < 3.11.4: an sdist from PyPI is trusted
            tar.extractall(workdir)
    return tree


def test_requirements(tree: Path, workdir: Path) -> Path:
    """requirements/test.txt without the type checker and hooks (kept next to the original
    so that its ``-r extras/...`` lines still resolve)."""
    src = tree / 'requirements' / 'test.txt'
    dst = tree / 'requirements' / 'test-kombu-compat.txt'
    lines = [ln for ln in src.read_text().splitlines()
             if not ln.strip().lower().startswith(SKIP_REQUIREMENTS)]
    dst.write_text('\n'.join(lines) + '\n')
    return dst


def build_venv(workdir: Path, side: str, tree: Path, celery: str, kombu: str) -> Path:
    venv = workdir / f'venv-{side}'
    python = venv / 'bin' / 'python'
    marker = venv / '.ready'
    if not marker.exists():
        run([sys.executable, '-m', 'venv', '--clear', venv])
        pip = [python, '-m', 'pip', 'install', '-q', '--no-warn-script-location']
        # Kombu first, so that Celery's ``kombu>=`` requirement is already satisfied by it.
        run([*pip, '-e', ROOT] if side == 'ours' else [*pip, f'kombu=={kombu}'])
        run([*pip, f'celery=={celery}', '-r', test_requirements(tree, workdir)])
        marker.touch()
    where = subprocess.run([python, '-c', 'import kombu; print(kombu.__file__)'],
                           check=True, capture_output=True, text=True, cwd='/',
                           env=clean_env(side)).stdout.strip()
    print(f'{side}: import kombu -> {where}', flush=True)
    if (side == 'ours') != where.startswith(str(ROOT)):
        raise SystemExit(f'{side}: kombu resolves to {where}, refusing to run')
    return python


def clean_env(side: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTEST_ADDOPTS')}
    if side == 'ours':
        env['PYTHONPATH'] = str(ROOT)   # this package first on the import path
    return env


def run_suite(python: Path, tree: Path, side: str, workdir: Path,
              pytest_args: list[str]) -> Result:
    report = workdir / f'junit-{side}.xml'
    report.unlink(missing_ok=True)
    args = pytest_args or ['t/unit']
    cmd = [python, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-p', 'no:randomly',
           '--continue-on-collection-errors',
           f'--junitxml={report}', '-o', 'junit_family=xunit1', *args]
    print('+', ' '.join(map(str, cmd)), flush=True)
    start = time.monotonic()
    log = workdir / f'pytest-{side}.log'
    with open(log, 'w') as out:
        subprocess.run([str(c) for c in cmd], cwd=tree, env=clean_env(side),
                       stdout=out, stderr=subprocess.STDOUT)
    result = parse_junit(report, side)
    result.seconds = time.monotonic() - start
    print(f'{side}: pytest output in {log}', flush=True)
    return result


def parse_junit(report: Path, side: str) -> Result:
    result = Result(side)
    if not report.exists():
        result.errors.add('<pytest produced no report>')
        return result
    for case in ET.parse(report).getroot().iter('testcase'):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        if 'failure' in kinds:
            result.failed.add(name)
        elif 'error' in kinds:
            result.errors.add(name)
        elif 'skipped' in kinds:
            skip = case.find('skipped')
            if skip is not None and (skip.get('type') or '').endswith('xfail'):
                result.xfailed += 1
            else:
                result.skipped += 1
        else:
            result.passed += 1
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--kombu', choices=('ours', 'upstream', 'both'), default='ours')
    parser.add_argument('--celery-version', default=os.environ.get('CELERY_VERSION', '5.7.0'))
    parser.add_argument('--upstream-version', default='5.7.0')
    parser.add_argument('--workdir', type=Path, default=Path('/tmp/kombu-celery-unit'))
    parser.add_argument('--rebuild', action='store_true', help='recreate the virtualenvs')
    parser.add_argument('--reuse-upstream', action='store_true',
                        help="with --kombu both: take upstream's result from the last run's "
                             'report in --workdir instead of running it again')
    parser.add_argument('pytest_args', nargs='*', help='passed to pytest (default: t/unit)')
    opts = parser.parse_args()

    opts.workdir.mkdir(parents=True, exist_ok=True)
    tree = fetch_celery(opts.workdir, opts.celery_version)
    sides = ['ours', 'upstream'] if opts.kombu == 'both' else [opts.kombu]
    if opts.rebuild:
        for side in sides:
            shutil.rmtree(opts.workdir / f'venv-{side}', ignore_errors=True)
    results = {}
    for side in sides:
        report = opts.workdir / f'junit-{side}.xml'
        if side == 'upstream' and opts.reuse_upstream and report.exists():
            print(f'upstream: reusing {report}', flush=True)
            results[side] = parse_junit(report, side)
            continue
        python = build_venv(opts.workdir, side, tree, opts.celery_version, opts.upstream_version)
        results[side] = run_suite(python, tree, side, opts.workdir, opts.pytest_args)

    print(f'\nCelery {opts.celery_version} unit suite ({" ".join(opts.pytest_args) or "t/unit"})')
    for result in results.values():
        print(result.line())
    ours = results.get('ours')
    upstream = results.get('upstream')
    if ours and upstream:
        show('fail only with ours (defects in this package)', ours.broken - upstream.broken)
        show('fail only with upstream Kombu', upstream.broken - ours.broken)
        show('fail with both (environment)', ours.broken & upstream.broken)
        return 1 if ours.broken - upstream.broken else 0
    only = next(iter(results.values()))
    known = AS_ROOT if os.geteuid() == 0 else set()
    if only.side == 'ours':
        known = known | KNOWN_DIFFERENCES
    show(f'failing with {only.side}, known ({"as root, " if known & AS_ROOT else ""}'
         'documented differences)', only.broken & known)
    show(f'failing with {only.side}, unexpected', only.broken - known)
    return 1 if only.broken - known else 0


def show(title: str, names: set[str]) -> None:
    print(f'\n{title}: {len(names)}')
    for name in sorted(names):
        print(f'  {name}')


if __name__ == '__main__':
    sys.exit(main())
