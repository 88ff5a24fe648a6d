"""The test helper ``t.servers.StallingProxy``: relays, stalls without closing, resumes."""
from __future__ import annotations

import socket
import threading
from typing import Iterator

import pytest

from t.servers import StallingProxy


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(8)
    server.settimeout(0.1)
    stop = threading.Event()

    def echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()


def _roundtrip(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    return sock.recv(4096)


def test_relays_stalls_and_resumes(echo_port: int) -> None:
    with StallingProxy(echo_port) as proxy:
        sock = socket.create_connection(('127.0.0.1', proxy.port), timeout=0.3)
        with sock:
            assert _roundtrip(sock, b'one') == b'one'
            proxy.stall()
            sock.sendall(b'two')
            with pytest.raises(socket.timeout):  # held, not closed: no EOF
                sock.recv(4096)
            assert proxy.connections == 1
            # a connection made after stall() is relayed...
            with socket.create_connection(('127.0.0.1', proxy.port), timeout=0.3) as fresh:
                assert _roundtrip(fresh, b'new') == b'new'
            proxy.resume()
            assert sock.recv(4096) == b'two'  # what waited is forwarded on resume


def test_stall_new_connections_too(echo_port: int) -> None:
    with StallingProxy(echo_port) as proxy:
        proxy.stall(new_connections=True)
        with socket.create_connection(('127.0.0.1', proxy.port), timeout=0.3) as sock:
            sock.sendall(b'x')
            with pytest.raises(socket.timeout):
                sock.recv(4096)
            proxy.resume()
            assert sock.recv(4096) == b'x'
