from __future__ import annotations

import io
import os
import pickle

from kombu.utils.div import emergency_dump_state


def test_dumps_pickle_to_new_file():
    err = io.StringIO()
    path = emergency_dump_state({'a': [1, 2]}, stderr=err)
    try:
        assert path in err.getvalue()
        with open(path, 'rb') as f:
            assert pickle.load(f) == {'a': [1, 2]}
    finally:
        os.unlink(path)


def test_falls_back_to_pformat():
    err = io.StringIO()
    state = {'f': lambda: 1}  # not picklable

    path = emergency_dump_state(state, stderr=err)
    try:
        assert 'Cannot pickle state' in err.getvalue()
        with open(path, 'rb') as f:
            assert f.read().startswith(b"{'f': <function")
    finally:
        os.unlink(path)
