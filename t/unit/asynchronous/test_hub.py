from __future__ import annotations

import errno
import logging
import os
from queue import Empty

import pytest
from vine import promise

from kombu.asynchronous import ERR, READ, WRITE, Hub, get_event_loop, set_event_loop
from kombu.asynchronous.hub import Stop
from kombu.asynchronous.timer import Timer
from kombu.utils import eventio

POLLERS = [cls for cls in eventio.available_pollers() if cls is not eventio._kqueue]


@pytest.fixture(params=POLLERS, ids=lambda cls: cls.__name__.strip('_'))
def hub(request):
    h = Hub()
    h._poller.close()
    h.poller = request.param()
    yield h
    h.close()


@pytest.fixture
def default_hub():
    h = Hub()
    h._loop = h.create_loop(sleep=lambda secs: None)  # no fds: don't nap
    yield h
    h.close()


def turn(hub, n=1):
    for _ in range(n):
        hub.run_once()


def idle_turn(hub, n=1):
    """Turn without blocking for long when nothing is ready."""
    for _ in range(n):
        hub.call_later(0.01, lambda: None)
        hub.run_once()


def test_module_exports_and_current_loop():
    assert (Hub.READ, Hub.WRITE, Hub.ERR) == (READ, WRITE, ERR)
    prev = get_event_loop()
    h = Hub()
    try:
        assert set_event_loop(h) is h
        assert get_event_loop() is h
    finally:
        set_event_loop(prev)
        h.close()


def test_reader_fires_when_data_arrives(hub, pair):
    a, b = pair
    got = []
    hub.add_reader(a, lambda sock: got.append(sock.recv(100)), a)
    assert a.fileno() in hub.readers
    idle_turn(hub)
    assert got == []
    b.send(b'hello')
    turn(hub)
    assert got == [b'hello']


def test_writer_fires_when_writable(hub, pair):
    a, _ = pair
    calls = []
    hub.add_writer(a.fileno(), calls.append, 'w')
    turn(hub)
    assert calls == ['w']


def test_remove_stops_callbacks(hub, pair):
    a, b = pair
    got = []
    hub.add_reader(a, got.append, 'r')
    hub.add_writer(a, got.append, 'w')
    hub.remove(a)
    assert not hub.readers and not hub.writers
    b.send(b'x')
    idle_turn(hub, 2)
    assert got == []


def test_reader_and_writer_on_same_fd(hub, pair):
    a, b = pair
    got = []

    def on_read():
        got.append(('r', a.recv(100)))

    hub.add_reader(a, on_read)
    hub.add_writer(a, got.append, 'w')
    turn(hub)
    assert got == ['w']  # writable, nothing to read yet
    b.send(b'data')
    turn(hub)
    assert ('r', b'data') in got and got.count('w') == 2
    hub.remove_writer(a)
    assert a.fileno() in hub.readers and a.fileno() not in hub.writers
    got.clear()
    b.send(b'more')
    turn(hub)
    assert got == [('r', b'more')]  # the reader survived remove_writer
    hub.add_writer(a, got.append, 'w')
    hub.remove_reader(a)
    got.clear()
    b.send(b'ignored')
    turn(hub)
    assert got == ['w']  # the writer survived remove_reader


def test_add_replaces_callback(hub, pair):
    a, b = pair
    got = []
    hub.add_reader(a, got.append, 'old')
    hub.add_reader(a, lambda: got.append(a.recv(10)))
    b.send(b'x')
    turn(hub)
    assert got == [b'x']


def test_generator_callbacks(hub, pair):
    a, b = pair
    got = []

    def reader():
        got.append(a.recv(1))
        yield
        got.append(a.recv(1))
        hub.remove(a)
        yield

    hub.add_reader(a, reader())
    b.send(b'xy')
    turn(hub, 3)
    assert got == [b'x', b'y']
    assert not hub.readers


def test_generator_ebadf_removes_fd(hub, pair):
    a, b = pair

    def reader():
        raise OSError(errno.EBADF, 'bad fd')
        yield

    hub.add_reader(a, reader())
    b.send(b'x')
    turn(hub)
    assert not hub.readers


def test_generator_error_removes_fd_and_propagates(hub, pair):
    a, b = pair

    def reader():
        raise KeyError('boom')
        yield

    hub.add_reader(a, reader())
    b.send(b'x')
    with pytest.raises(KeyError):
        turn(hub)
    assert not hub.readers


def test_callback_raising_empty_is_ignored(hub, pair):
    a, b = pair
    calls = []

    def on_read():
        a.recv(10)
        calls.append(1)
        raise Empty()

    hub.add_reader(a, on_read)
    b.send(b'x')
    turn(hub)
    b.send(b'y')
    turn(hub)
    assert calls == [1, 1]


def test_reader_error_propagates_and_hub_continues(hub, pair):
    # Celery restarts its consumer on connection errors raised here, so they
    # must reach the caller; the hub's registrations survive.
    a, b = pair
    got = []

    def on_read():
        data = a.recv(10)
        if data == b'bad':
            raise ConnectionError('lost')
        got.append(data)

    hub.add_reader(a, on_read)
    b.send(b'bad')
    with pytest.raises(ConnectionError):
        turn(hub)
    b.send(b'good')
    turn(hub, 2)  # the dead loop is replaced by a new one
    assert got == [b'good']


def test_call_soon_runs_next_iteration(default_hub):
    h = default_hub
    out = []
    p = h.call_soon(out.append, 1)
    assert isinstance(p, promise)
    q = promise(out.append, (2,))
    assert h.call_soon(q) is q
    h.run_once()
    assert sorted(out) == [1, 2]
    assert not h._ready


def test_call_soon_from_callback_waits_a_turn(default_hub):
    h = default_hub
    out = []

    def again():
        out.append('x')
        h.call_soon(again)

    h.call_soon(again)
    h.run_once()
    assert out == ['x']  # no infinite loop within one iteration
    h.run_once()
    assert out == ['x', 'x']


def test_call_soon_error_keeps_other_callbacks(default_hub):
    h = default_hub
    out = []

    def boom():
        raise ValueError('x')

    for i in range(5):
        h.call_soon(out.append, i)
    h.call_soon(boom)
    with pytest.raises(ValueError):
        h.run_once()
    h.run_once()  # ends the dead loop, like Celery's asynloop does
    h.run_once()
    assert sorted(out) == [0, 1, 2, 3, 4]


def test_queued_work_means_no_blocking_poll(default_hub, pair):
    a, _ = pair
    h = default_hub
    seen = []
    h.add_reader(a, lambda: None)
    real = h.poller.poll

    def spy(timeout):
        seen.append(timeout)
        return real(timeout)
    h.poller.poll = spy
    h.call_soon(lambda: h.call_soon(lambda: None))
    h.run_once()
    assert seen == [0]
    h.call_later(0.01, lambda: None)
    h.run_once()
    assert seen[1] == pytest.approx(0.01, abs=0.005)  # nothing queued: wait


def test_call_later_order_and_timing(default_hub, clock, pair):
    h = default_hub
    a, _ = pair
    h.add_reader(a, lambda: None)  # so the loop polls instead of sleeping
    out = []
    h.call_later(0.03, out.append, 'c')
    h.call_later(0.01, out.append, 'a')
    h.call_at(clock.now + 0.02, out.append, 'b')
    h.run_once()
    assert out == []
    clock.advance(0.015)
    h.run_once()
    assert out == ['a']
    clock.advance(1)
    h.fire_timers()
    assert out == ['a', 'b', 'c']


def test_call_repeatedly_and_cancel(default_hub, clock):
    h = default_hub
    out = []
    tref = h.call_repeatedly(5, out.append, 'tick')
    for _ in range(3):
        clock.advance(5)
        assert h.fire_timers() == 2  # next run in 5s, capped by max_interval
    assert out == ['tick'] * 3
    tref.cancel()
    clock.advance(5)
    h.fire_timers()
    assert out == ['tick'] * 3


def test_fire_timers_limits(default_hub, clock):
    h = default_hub
    out = []
    for i in range(25):
        h.call_later(0, out.append, i)
    assert h.fire_timers(max_timers=10) == 0  # more are due: don't block
    assert len(out) == 10
    assert h.fire_timers(max_timers=10) == 0
    assert h.fire_timers(max_timers=10) == 1  # empty: min_delay
    assert out == list(range(25))
    h.call_later(100, out.append, 'far')
    assert h.fire_timers(max_delay=1000, min_delay=0.1) == 2  # timer max_interval
    assert h.fire_timers(min_delay=7) == 2
    h.timer.max_interval = 50
    assert h.fire_timers(max_delay=10) == 10
    assert h.fire_timers(max_delay=100) == 50


def test_timer_errors_do_not_stop_the_loop(default_hub, clock, caplog):
    h = default_hub
    out = []

    def boom():
        raise RuntimeError('timer failed')

    h.call_later(0, boom)
    h.call_later(0, out.append, 'after')
    with caplog.at_level(logging.ERROR):
        h.run_once()
    assert out == ['after']
    assert 'Error in timer' in caplog.text


def test_timer_errors_go_to_timer_on_error(clock):
    errors = []
    h = Hub(timer=Timer(on_error=errors.append))
    try:
        h.call_later(0, lambda: 1 / 0)
        h.fire_timers()
        assert isinstance(errors[0], ZeroDivisionError)
    finally:
        h.close()


def test_fire_timers_propagate(default_hub, clock):
    h = default_hub
    h.call_later(0, lambda: (_ for _ in ()).throw(ConnectionError()))
    with pytest.raises(ConnectionError):
        h.fire_timers(propagate=(ConnectionError,))
    h.call_later(0, lambda: (_ for _ in ()).throw(MemoryError()))
    with pytest.raises(MemoryError):
        h.fire_timers()


def test_stop_and_run_forever(default_hub, clock):
    h = default_hub
    out = []
    h.call_soon(out.append, 1)
    h.call_later(0, h.stop)
    h.run_forever()
    assert out == [1]
    assert not h._running


def test_on_tick_may_change_itself(default_hub):
    h = default_hub
    calls = []

    def once():
        calls.append(1)
        h.on_tick.discard(once)
        h.on_tick.add(lambda: calls.append(2))

    h.on_tick.add(once)
    h.run_once()
    h.run_once()
    assert calls == [1, 2]


def test_consolidate(hub):
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    batches = []
    hub.consolidate_callback = batches.append
    try:
        hub.add(w1, None, WRITE | ERR, consolidate=True)
        hub.add(w2, None, WRITE | ERR, consolidate=True)
        assert hub.writers[w1] is None and w1 in hub.consolidate
        turn(hub)
        assert len(batches) == 1 and sorted(batches[0]) == sorted([w1, w2])
        got = []
        hub.add_writer(w1, got.append, 'job')  # a real writer takes over
        turn(hub)
        assert got == ['job'] and batches[-1] == [w2]
        hub.remove(w1)
        hub.remove_writer(w2)
        assert not hub.consolidate
    finally:
        for fd in (r1, w1, r2, w2):
            os.close(fd)


def test_closed_fd_does_not_kill_loop(hub, pair):
    a, b = pair
    r, w = os.pipe()
    errs = []
    hub.add_reader(r, errs.append, 'dead')
    os.close(r)
    os.close(w)
    got = []
    hub.add_reader(a, lambda: got.append(a.recv(10)))
    b.send(b'x')
    idle_turn(hub, 3)
    assert got == [b'x']
    assert errs in ([], ['dead'])  # told at most once, where the OS reports it


def test_remove_closed_socket_and_unknown_fd(default_hub, pair):
    a, _ = pair
    default_hub.add_reader(a, lambda: None)
    default_hub.remove(999)
    default_hub.remove_reader(998)
    default_hub.remove_writer(997)
    assert a.fileno() in default_hub.readers


def test_add_invalid_fd_raises_and_leaves_no_trace(default_hub):
    with pytest.raises((ValueError, OSError)):
        default_hub.add_reader(-1, lambda: None)
    assert not default_hub.readers


def test_no_fds_sleeps_briefly(default_hub):
    slept = []
    loop = default_hub.create_loop(sleep=slept.append)
    next(loop)
    assert slept == [0.1]


def test_close_runs_on_close_and_pending_callbacks(default_hub, pair, caplog):
    h = default_hub
    a, _ = pair
    h.add_reader(a, lambda: None)
    out = []
    h.on_close.add(lambda hub: out.append(('closed', hub)))
    h.call_soon(out.append, 'ack')
    h.call_soon(lambda: 1 / 0)
    h.stop()  # a pending Stop must not escape close()
    with caplog.at_level(logging.ERROR):
        h.close()
    assert ('closed', h) in out and 'ack' in out
    assert 'raised exception' in caplog.text
    assert not h.readers and h._poller is None
    assert h.poller is not None  # recreated on demand


def test_close_inside_loop_ends_it(default_hub, pair):
    h = default_hub
    a, _ = pair
    h.add_writer(a, lambda: None)
    loop = h.create_loop()
    next(loop)
    h.close()
    h.add_writer(a, lambda: None)
    h._poller = None
    with pytest.raises(StopIteration):
        next(loop)


def test_reset_gives_fresh_poller(default_hub, pair):
    a, b = pair
    h = default_hub
    h.add_reader(a, lambda: None)
    old = h.poller
    h.reset()
    assert h.poller is not old and not h.readers
    got = []
    h.add_reader(a, lambda: got.append(a.recv(5)))
    b.send(b'z')
    h.run_once()
    assert got == [b'z']


def test_stop_is_base_exception():
    assert issubclass(Stop, BaseException) and not issubclass(Stop, Exception)


def test_repr_helpers(default_hub, pair):
    a, b = pair
    h = default_hub

    def on_read(x):
        pass

    h.add_reader(a, on_read, 7)
    fd = a.fileno()
    assert repr(h).startswith('<Hub@') and 'R:1 W:0' in repr(h)
    assert h.repr_active() == f'({fd})on_read(7)->R!'
    assert h.repr_events([(fd, READ)]) == f'on_read(7)({fd})->R'
    assert h.repr_events([(999, WRITE)]) == '(GONE)(999)->W'


def test_on_tick_runs_after_ready_callbacks_and_timers(default_hub, clock):
    # Celery's pool registers its writers in on_tick: jobs queued by ready
    # callbacks or timers must be seen before this iteration's poll.
    h = default_hub
    order = []
    h.on_tick.add(lambda: order.append('tick'))
    h.call_later(0, order.append, 'timer')
    h.call_soon(order.append, 'soon')
    h.run_once()
    assert order == ['soon', 'timer', 'tick']


def test_call_soon_from_another_thread_wakes_the_poller(default_hub, pair):
    import threading
    import time
    h = default_hub
    a, _ = pair
    h.add_reader(a, lambda: None)
    h.call_later(30, lambda: None)  # the poll could block for a long time
    h.timer.max_interval = 30
    got = []
    t = threading.Timer(0.05, h.call_soon, (got.append, 'from thread'))
    start = time.monotonic()
    t.start()
    try:
        h.run_once()  # makes the waker, then is woken through it
    finally:
        t.join()
    assert time.monotonic() - start < 5  # not the 10 s poll timeout
    assert not h._wake_pending
    h._run_ready()
    assert got == ['from thread']


def test_pop_ready_and_close_clears_current_loop():
    h = Hub()
    p = h.call_soon(lambda: None)
    assert h._pop_ready() == {p} and not h._ready
    set_event_loop(h)
    h.close()
    assert get_event_loop() is None


def test_fd_closed_without_remove_then_reused(hub):
    import socket
    a, b = socket.socketpair()
    hub.add_reader(a, lambda: None)
    fd = a.fileno()
    a.close()  # owner forgot hub.remove(); epoll drops it silently
    b.close()
    c, d = socket.socketpair()
    try:
        if c.fileno() != fd:
            pytest.skip('fd number not reused')
        got = []
        hub.add_reader(c, lambda: got.append(c.recv(10)))
        d.send(b'new')
        idle_turn(hub, 3)
        assert got == [b'new']
    finally:
        c.close()
        d.close()


def test_signal_wakes_a_blocked_poll(pair):
    # Celery's warm shutdown sets a flag in its SIGTERM handler: the loop
    # must come back to it at once, not after the poll timeout (up to 10s).
    import signal
    import threading
    import time
    h = Hub()
    a, _ = pair
    got = []
    old = signal.signal(signal.SIGUSR1, lambda *args: got.append('signal'))
    try:
        h.add_reader(a, lambda: None)
        h.call_later(30, lambda: None)
        h.timer.max_interval = 30
        t = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1))
        start = time.monotonic()
        t.start()
        h.run_once()
        t.join()
        assert got == ['signal']
        assert time.monotonic() - start < 5  # not the 10 s poll timeout
    finally:
        h.close()
        signal.signal(signal.SIGUSR1, old)
    assert signal.set_wakeup_fd(-1) == -1  # given back on close


def test_signal_wakeup_left_to_its_owner():
    import signal
    import socket
    r, w = socket.socketpair()
    w.setblocking(False)
    signal.set_wakeup_fd(w.fileno())
    h = Hub()
    try:
        h._loop = h.create_loop(sleep=lambda secs: None)
        h.run_once()
        assert signal.set_wakeup_fd(w.fileno()) == w.fileno()  # untouched
    finally:
        h.close()
        assert signal.set_wakeup_fd(-1) == w.fileno()
        r.close()
        w.close()
