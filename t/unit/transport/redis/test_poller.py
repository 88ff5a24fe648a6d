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
