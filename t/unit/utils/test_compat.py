from __future__ import annotations

import gc
import io
import os
import sys
import weakref
from contextlib import contextmanager
from unittest.mock import Mock, patch

import pytest

from kombu.utils import compat
from kombu.utils.compat import (
    FILENO_ERRORS,
    coro,
    detect_environment,
    entrypoints,
    fileno,
    get_gevent_concurrent_error,
    maybe_fileno,
    nested,
    register_after_fork,
)


def test_fileno():
    assert fileno(5) == 5
    r, w = os.pipe()
    try:
        with os.fdopen(r) as f:
            assert fileno(f) == r
    finally:
        os.close(w)
    with pytest.raises(FILENO_ERRORS):
        fileno(object())
    with pytest.raises(FILENO_ERRORS):
        fileno(io.BytesIO())


def test_maybe_fileno():
    assert maybe_fileno(7) == 7
    assert maybe_fileno(object()) is None
    assert maybe_fileno(io.StringIO()) is None


def test_nested_enters_and_exits_in_order():
    events = []

    @contextmanager
    def cm(name):
        events.append(('enter', name))
        yield name
        events.append(('exit', name))

    with nested(cm('a'), cm('b')) as values:
        assert values == ['a', 'b']
    assert events == [('enter', 'a'), ('enter', 'b'), ('exit', 'b'), ('exit', 'a')]


def test_coro_primes_generator():
    @coro
    def echo():
        received = []
        while True:
            received.append((yield received))

    it = echo()
    assert it.send(1) == [1]


def test_detect_environment_default_and_cached():
    with patch.object(compat, '_environment', None):
        assert detect_environment() == 'default'
        assert compat._environment == 'default'
    with patch.object(compat, '_environment', 'gevent'):
        assert detect_environment() == 'gevent'


def test_detect_environment_gevent_and_eventlet():
    fake_gsocket = Mock()
    fake_gsocket.socket = __import__('socket').socket  # "monkey patched"
    gevent = Mock(socket=fake_gsocket)
    with patch.dict(sys.modules, {'gevent': gevent, 'gevent.socket': fake_gsocket}):
        assert compat._detect_environment() == 'gevent'
    patcher = Mock()
    patcher.is_monkey_patched.return_value = True
    eventlet = Mock(patcher=patcher)
    with patch.dict(sys.modules, {'eventlet': eventlet, 'eventlet.patcher': patcher}):
        assert compat._detect_environment() == 'eventlet'
    patcher.is_monkey_patched.return_value = False
    with patch.dict(sys.modules, {'eventlet': eventlet, 'eventlet.patcher': patcher}):
        assert compat._detect_environment() == 'default'


def test_gevent_concurrent_error():
    with patch.dict(sys.modules):
        sys.modules.pop('gevent', None)
        assert get_gevent_concurrent_error() is None

    class ConcurrentObjectUseError(Exception):
        pass
    exceptions = Mock(ConcurrentObjectUseError=ConcurrentObjectUseError)
    with patch.dict(sys.modules, {'gevent': Mock(exceptions=exceptions),
                                  'gevent.exceptions': exceptions}):
        assert get_gevent_concurrent_error() is ConcurrentObjectUseError


def test_entrypoints_lists_loaded_objects():
    ep = Mock()
    ep.name = 'x'
    ep.load.return_value = 'loaded'
    with patch.object(compat.importlib_metadata, 'entry_points', return_value=[ep]) as eps:
        assert list(entrypoints('kombu.serializers')) == [(ep, 'loaded')]
    eps.assert_called_once_with(group='kombu.serializers')


class Obj:
    pass


@pytest.fixture
def after_fork_registry(monkeypatch):
    # The callbacks below write to pipes closed after the test: left
    # registered, they would write into whatever reuses those fds in the
    # children of later tests.
    monkeypatch.setattr(compat, '_after_fork_weak', weakref.WeakValueDictionary())
    monkeypatch.setattr(compat, '_after_fork_strong', {})


def test_register_after_fork_runs_in_child_and_is_weak(after_fork_registry):
    obj, dead = Obj(), Obj()
    r, w = os.pipe()

    def mark(o):
        os.write(w, b'A' if o is obj else b'B')
    register_after_fork(obj, mark)
    register_after_fork(dead, mark)
    del dead
    gc.collect()
    register_after_fork([1], lambda o: os.write(w, b'L'))  # not weak-referenceable: kept
    register_after_fork(obj, lambda o: 1 / 0)  # a failing callback does not stop others
    pid = os.fork()
    if pid == 0:  # pragma: no cover  (child)
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(w)
    with os.fdopen(r, 'rb') as f:
        data = f.read()
    assert data == b'AL'


def test_register_after_fork_works_in_child_forked_while_registering(after_fork_registry):
    # A thread registering at fork time leaves the lock held in the child:
    # the child must still be able to register (e.g. create a pool).
    register_after_fork(Obj(), lambda o: None)  # installs the fork hook
    with compat._after_fork_lock:
        pid = os.fork()
        if pid == 0:  # pragma: no cover  (child)
            ok = compat._after_fork_lock.acquire(timeout=5)
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
