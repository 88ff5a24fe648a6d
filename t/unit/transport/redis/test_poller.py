from __future__ import annotations

import socket
import time

from kombu.transport.redis.poller import READ, _Selector


def test_selector_reports_readable_socket():
    a, b = socket.socketpair()
    sel = _Selector()
    try:
        sel.register(a, READ)
        assert sel.poll(0) == []
        b.send(b'x')
        assert sel.poll(1) == [(a.fileno(), READ)]
        sel.unregister(a)
        sel.unregister(a)  # idempotent
        assert sel.poll(0) == []
    finally:
        sel.close()
        a.close()
        b.close()


def test_selector_without_sockets_waits_instead_of_spinning():
    sel = _Selector()
    start = time.monotonic()
    assert sel.poll(0.05) == []
    assert time.monotonic() - start >= 0.04
    sel.close()


def test_after_read_callbacks_run_once_after_a_read():
    from queue import Empty

    import pytest

    from kombu.transport.redis.poller import MultiChannelPoller
    assert MultiChannelPoller.after_read is None  # upstream's class attribute
    poller = MultiChannelPoller()
    assert poller.after_read == set()
    assert MultiChannelPoller().after_read is not poller.after_read
    calls = []
    poller.after_read.add(lambda: calls.append(1))
    with pytest.raises(Empty):
        poller.get(lambda *a: None, timeout=0.01)
    assert calls == [1] and not poller.after_read
    with pytest.raises(Empty):
        poller.get(lambda *a: None, timeout=0.01)
    assert calls == [1]  # one-shot
    poller.close()
