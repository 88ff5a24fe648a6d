"""Helpers for tests that talk to real broker processes.

A test that needs a server calls :func:`require_server`. When the server is not
listening the test is skipped locally with a message saying how to start it,
and fails loudly under CI (``CI=true``), where ``.ci/run`` is meant to have
started it.
"""
from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from typing import Callable, Iterator

import pytest

IN_CI = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int, how_to_start: str) -> None:
    """Skip (locally) or fail (in CI) unless ``host:port`` accepts connections."""
    if port_open(host, port):
        return
    message = f'{name} is not listening on {host}:{port}; start it with: {how_to_start}'
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def unique_name(prefix: str = 't') -> str:
    """A queue/exchange name no other test run on this machine will use."""
    return f'{prefix}.{os.getpid()}.{uuid.uuid4().hex[:12]}'


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A loopback TCP server that accepts connections and never answers (a hung
    broker); yields its port."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(('127.0.0.1', 0))
    server.listen(64)
    server.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for sock in accepted:
            sock.close()
        server.close()


class _Pair:
    """One proxied connection: client side, server side and the relay switch."""

    def __init__(self, client: socket.socket, upstream: socket.socket, relaying: bool) -> None:
        self.client, self.upstream = client, upstream
        self.lock = threading.Lock()  # held while forwarding: stall() waits for it
        self.relaying = relaying
        self.resumed = threading.Condition(self.lock)
        self.closed = False

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.resumed.notify_all()
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.close()


class StallingProxy:
    """A TCP proxy on a spare loopback port in front of ``host:port`` that can stop
    relaying while it keeps both sockets open: the peer looks gone without a FIN
    or RST (a suspended VM, a firewall dropping the flow).

    :meth:`stall` stops forwarding, in both directions, on the connections open
    now (``new_connections=True``: also on those accepted later); once it returns
    no further byte is forwarded.  :meth:`resume` forwards again, starting with
    whatever arrived meanwhile.  Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, target_port: int, target_host: str = '127.0.0.1') -> None:
        self.target = (target_host, target_port)
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(('127.0.0.1', 0))
        self._server.listen(64)
        self._server.settimeout(0.05)
        self.port: int = self._server.getsockname()[1]
        self._pairs: list[_Pair] = []
        self._lock = threading.Lock()
        self._stall_new = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    # -- control -----------------------------------------------------------------

    def stall(self, new_connections: bool = False) -> None:
        with self._lock:
            self._stall_new = new_connections
            pairs = list(self._pairs)
        for pair in pairs:
            with pair.lock:
                pair.relaying = False

    def resume(self) -> None:
        with self._lock:
            self._stall_new = False
            pairs = list(self._pairs)
        for pair in pairs:
            with pair.lock:
                pair.relaying = True
                pair.resumed.notify_all()

    @property
    def connections(self) -> int:
        """Connections open through the proxy now."""
        with self._lock:
            return sum(1 for p in self._pairs if not p.closed)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            pairs, self._pairs = list(self._pairs), []
        for pair in pairs:
            pair.close()
        for thread in self._threads:
            thread.join(2)
        self._server.close()

    def __enter__(self) -> StallingProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- relaying ----------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()  # the broker is down: so is the proxied one
                continue
            for sock in (client, upstream):
                sock.settimeout(0.05)
            with self._lock:
                pair = _Pair(client, upstream, relaying=not self._stall_new)
                self._pairs.append(pair)
            self._spawn(self._pump, pair, client, upstream)
            self._spawn(self._pump, pair, upstream, client)

    def _pump(self, pair: _Pair, src: socket.socket, dst: socket.socket) -> None:
        while not self._stop.is_set() and not pair.closed:
            with pair.lock:  # stalled: read nothing (the kernel buffers fill up)
                while not pair.relaying and not pair.closed:
                    pair.resumed.wait(0.1)
            try:
                data = src.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)  # a real FIN: pass it on
                return
            with pair.lock:  # read just before a stall(): hold it until resume()
                while not pair.relaying and not pair.closed:
                    pair.resumed.wait(0.1)
                if pair.closed or not self._send(pair, dst, data):
                    break
        pair.close()

    def _send(self, pair: _Pair, dst: socket.socket, data: bytes) -> bool:
        view = memoryview(data)
        while view:
            if pair.closed or self._stop.is_set():
                return False
            try:
                view = view[dst.send(view):]
            except socket.timeout:  # the reader is slow: keep the bytes, retry
                continue
            except OSError:
                return False
        return True
