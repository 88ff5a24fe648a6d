from __future__ import annotations

import os
import socket

import pytest

from kombu.utils import eventio
from kombu.utils.eventio import ERR, READ, WRITE, available_pollers, poll

POLLERS = [cls for cls in available_pollers() if cls is not eventio._kqueue]


@pytest.fixture(params=POLLERS, ids=lambda cls: cls.__name__.strip('_'))
def poller(request):
    p = request.param()
    yield p
    p.close()


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def events_for(poller, fd, timeout=0.5):
    return dict(poller.poll(timeout)).get(fd, 0)


def test_constants_match_kombu():
    assert (READ, WRITE, ERR) == (0x1, 0x4, 0x18)
    assert eventio.POLL_READ == READ and eventio.POLL_ERR == ERR
    import errno
    assert errno.EBADF in eventio.SELECT_BAD_FD


def test_linux_prefers_epoll():
    if eventio.epoll is None:
        pytest.skip('no epoll here')
    p = poll()
    try:
        assert isinstance(p, eventio._epoll)
    finally:
        p.close()


def test_read_event_when_data_arrives(poller, pair):
    a, b = pair
    fd = poller.register(a, READ | ERR)
    assert fd == a.fileno()
    assert poller.poll(0) == []
    b.send(b'x')
    assert events_for(poller, fd) & READ


def test_write_event_on_writable_socket(poller, pair):
    a, _ = pair
    poller.register(a.fileno(), WRITE)
    assert events_for(poller, a.fileno()) & WRITE


def test_register_again_replaces_the_mask(poller, pair):
    a, b = pair
    poller.register(a, WRITE)
    poller.register(a, READ)  # no longer interested in writability
    assert poller.poll(0) == []
    b.send(b'x')
    ev = events_for(poller, a.fileno())
    assert ev & READ and not ev & WRITE


def test_unregister_stops_events(poller, pair):
    a, b = pair
    poller.register(a, READ)
    poller.unregister(a)
    b.send(b'x')
    assert poller.poll(0) == []
    poller.unregister(a)  # twice is fine
    poller.unregister(12345)  # never registered is fine


def test_hangup_reported(poller, pair):
    a, b = pair
    poller.register(a, READ | ERR)
    b.close()
    assert events_for(poller, a.fileno()) & (READ | ERR)


def test_timeout_waits_and_none_blocks_until_ready(poller, pair):
    import threading
    import time
    a, b = pair
    poller.register(a, READ)
    start = time.monotonic()
    assert poller.poll(0.05) == []
    assert time.monotonic() - start >= 0.04
    t = threading.Timer(0.05, b.send, (b'x',))
    t.start()
    try:
        assert events_for(poller, a.fileno(), timeout=None) & READ
    finally:
        t.join()


def test_closed_fd_does_not_break_poll(poller, pair):
    a, b = pair
    r, w = os.pipe()
    poller.register(r, READ | ERR)
    poller.register(a, READ)
    os.close(r)
    os.close(w)
    b.send(b'x')
    # The bad fd is dropped (maybe reported once as ERR); the good one works.
    seen = {}
    for _ in range(3):
        for fd, ev in poller.poll(0.1):
            seen[fd] = seen.get(fd, 0) | ev
    assert seen.get(a.fileno(), 0) & READ
    if r in seen:
        assert seen[r] & ERR
    # Later polls no longer report it.
    assert r not in dict(poller.poll(0))


def test_unregister_closed_socket_object(poller):
    a, b = socket.socketpair()
    poller.register(a, READ)
    a.close()
    b.close()
    poller.unregister(a)  # fileno() is -1 now: must not raise
    for _ in range(2):  # the dead fd may be reported once, never raises
        assert all(ev & ERR for _, ev in poller.poll(0))
    assert poller.poll(0) == []


def test_epoll_reregisters_reused_fd():
    if eventio.epoll is None:
        pytest.skip('no epoll here')
    p = eventio._epoll()
    try:
        a, b = socket.socketpair()
        fd = p.register(a, READ)
        a.close()  # kernel drops it from the epoll set
        b.close()
        c, d = socket.socketpair()
        try:
            if c.fileno() != fd:
                pytest.skip('fd not reused')
            p.register(c, READ)  # known fd: modify fails, register again
            d.send(b'x')
            assert dict(p.poll(0.5)).get(fd, 0) & READ
        finally:
            c.close()
            d.close()
    finally:
        p.close()


def test_poll_timeout_conversion():
    assert eventio._timeout_ms(None) == -1
    assert eventio._timeout_ms(0) == 0
    assert eventio._timeout_ms(-3) == 0
    assert eventio._timeout_ms(0.0001) == 1
    assert eventio._timeout_ms(1.5) == 1500


def test_select_in_green_environment(monkeypatch):
    monkeypatch.setattr(eventio, '_environment', lambda: 'gevent')
    p = poll()
    assert isinstance(p, eventio._select)
    p.close()
