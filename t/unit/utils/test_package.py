from __future__ import annotations

import subprocess
import sys

import kombu.utils


def test_all_names_resolve():
    for name in kombu.utils.__all__:
        assert getattr(kombu.utils, name) is not None, name


def test_reexports_are_the_submodule_objects():
    from kombu.utils.functional import retry_over_time
    from kombu.utils.objects import cached_property
    assert kombu.utils.cached_property is cached_property
    assert kombu.utils.retry_over_time is retry_over_time
    assert callable(kombu.utils.uuid)


def test_submodules_as_attributes():
    assert kombu.utils.functional.lazy is not None
    assert kombu.utils.compat.fileno(3) == 3


def test_unknown_attribute():
    try:
        kombu.utils.does_not_exist
    except AttributeError as exc:
        assert 'does_not_exist' in str(exc)
    else:
        raise AssertionError('expected AttributeError')


def test_import_is_cheap():
    # Only the tiny uuid helper is loaded eagerly.
    code = ('import sys, kombu.utils; '
            'print(sorted(m for m in sys.modules if m.startswith("kombu.utils.")))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "['kombu.utils.uuid']"
