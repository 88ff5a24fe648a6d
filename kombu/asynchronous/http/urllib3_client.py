"""HTTP client without native dependencies: urllib3 in a small thread pool.

Blocking urllib3 calls run in worker threads (pooled, keep-alive
connections); their results are handed back to the event loop through a
self-pipe, so every callback (``on_ready``, ``on_stream``, ``on_header``,
``on_timeout``) runs on the hub's thread, like the curl client's do.
Without a hub the callbacks run in the worker thread.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from typing import Any, Callable

try:
    import urllib3
    from urllib3.exceptions import MaxRetryError
    from urllib3.exceptions import TimeoutError as _Urllib3Timeout
except ImportError:  # pragma: no cover
    urllib3 = None  # type: ignore[assignment]

from kombu.asynchronous.hub import Hub, get_event_loop
from kombu.exceptions import HttpError

from .base import BaseClient, Headers, Request, normalize_header

__all__ = ('Urllib3Client',)

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT = 'Mozilla/5.0 (compatible; kombu urllib3)'
EXTRA_METHODS = frozenset(['DELETE', 'OPTIONS', 'PATCH'])
CHUNK_SIZE = 64 * 1024


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, MaxRetryError):
        exc = exc.reason or exc
    return isinstance(exc, (_Urllib3Timeout, TimeoutError, socket.timeout))


class Urllib3Client(BaseClient):
    """HTTP client running urllib3 in ``max_clients`` threads."""

    def __init__(self, hub: Hub | None = None, max_clients: int = 10) -> None:
        if urllib3 is None:  # pragma: no cover
            raise ImportError('The urllib3 client requires the urllib3 library.')
        hub = hub or get_event_loop()
        super().__init__(hub)
        self.max_clients = max_clients
        self._executor = ThreadPoolExecutor(max_workers=max_clients,
                                            thread_name_prefix='kombu-http')
        self._managers: dict[tuple[Any, ...], Any] = {}
        self._managers_lock = threading.Lock()
        # Callbacks to run on the hub thread; a byte on the pipe wakes it.
        self._done: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)
        self._closed = False
        if self.hub is not None:
            self.hub.add_reader(self._wakeup_r, self._on_wakeup)

    # -- public API ----------------------------------------------------------

    def add_request(self, request: Request) -> Request:
        """Start ``request``; ``request.on_ready`` gets the response."""
        if self._closed:
            # Hub.close() closes us before it runs the callbacks still
            # queued on it, which may start requests: nothing may run then.
            logger.debug('dropping %r: HTTP client is closed', request)
            return request
        self._executor.submit(self._run, request)
        return request

    def close(self) -> None:
        """Stop accepting requests and release threads and connections."""
        if self._closed:
            return
        self._closed = True
        self._detach_from_hub()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self.hub is not None:
            self.hub.remove(self._wakeup_r)
        self._wakeup_r.close()
        self._wakeup_w.close()
        with self._managers_lock:
            for manager in self._managers.values():
                manager.clear()
            self._managers.clear()

    def on_readable(self, fd: int) -> None:
        """Kept for API compatibility with the curl client (unused)."""

    def on_writable(self, fd: int) -> None:
        """Kept for API compatibility with the curl client (unused)."""

    # -- worker thread -------------------------------------------------------

    def _run(self, request: Request) -> None:
        try:
            response, header_lines = self._fetch(request)
        except Exception as exc:
            header_lines = []
            response = self.Response(request, 599, Headers(), None, request.url,
                                     error=HttpError(599, str(exc)))
            if _is_timeout(exc) and request.on_timeout:
                self._call_on_hub(request.on_timeout)
        self._call_on_hub(self._deliver, request, response, header_lines)

    def _fetch(self, request: Request) -> tuple[Any, list[str]]:
        if request.auth_mode not in (None, 'basic'):
            raise ValueError(f'unsupported auth_mode: {request.auth_mode!r}')
        manager = self._manager_for(request)
        body = request.body
        if isinstance(body, str):
            body = body.encode('utf-8')
        redirects = request.max_redirects if request.follow_redirects else 0
        resp = manager.request(
            request.method, request.url, body=body, headers=self._headers_for(request),
            timeout=urllib3.Timeout(connect=request.connect_timeout,
                                    read=request.request_timeout),
            retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0,
                                  redirect=redirects, raise_on_redirect=False),
            preload_content=False, decode_content=True,
        )
        try:
            buffer = self._read_body(request, resp)
        finally:
            resp.release_conn()
        headers, lines = self._parse_headers(resp)
        response = self.Response(request, resp.status, headers, buffer,
                                 getattr(resp, 'url', None) or request.url,
                                 status=resp.reason or None)
        return response, lines

    def _read_body(self, request: Request, resp: Any) -> BytesIO | None:
        if request.on_stream:
            for chunk in resp.stream(CHUNK_SIZE):
                self._call_on_hub(request.on_stream, chunk)
            return None
        return BytesIO(resp.read())

    def _parse_headers(self, resp: Any) -> tuple[Headers, list[str]]:
        headers = Headers()
        lines = [f'HTTP/1.1 {resp.status} {resp.reason or ""}'.rstrip()]
        for key, value in resp.headers.items():
            key = normalize_header(key)
            headers[key] = f'{headers[key]}, {value}' if key in headers else value
            lines.append(f'{key}: {value}')
        lines.append('')
        headers.complete = True
        return headers, lines

    def _headers_for(self, request: Request) -> dict[str, str]:
        headers = dict(request.headers)
        extra = urllib3.make_headers(
            user_agent=request.user_agent or DEFAULT_USER_AGENT,
            accept_encoding=bool(request.use_gzip),
        )
        if request.auth_username is not None:
            extra.update(urllib3.make_headers(
                basic_auth=f'{request.auth_username}:{request.auth_password or ""}'))
        for key, value in extra.items():
            headers.setdefault(key, value)
        return headers

    def _manager_for(self, request: Request) -> Any:
        key = (request.validate_cert, request.ca_certs, request.client_cert,
               request.client_key, request.network_interface, request.proxy_host,
               request.proxy_port, request.proxy_username, request.proxy_password)
        with self._managers_lock:
            manager = self._managers.get(key)
            if manager is None:
                manager = self._managers[key] = self._new_manager(request)
            return manager

    def _new_manager(self, request: Request) -> Any:
        kwargs: dict[str, Any] = {
            'num_pools': 32, 'maxsize': self.max_clients, 'block': False,
            'cert_reqs': 'CERT_REQUIRED' if request.validate_cert else 'CERT_NONE',
        }
        if request.ca_certs is not None:
            kwargs['ca_certs'] = request.ca_certs
        elif request.validate_cert:
            try:
                import certifi
            except ImportError:  # pragma: no cover
                pass
            else:
                kwargs['ca_certs'] = certifi.where()
        if request.client_cert is not None:
            kwargs['cert_file'] = request.client_cert
        if request.client_key is not None:
            kwargs['key_file'] = request.client_key
        if request.network_interface:
            kwargs['source_address'] = (request.network_interface, 0)
        if not request.proxy_host:
            return urllib3.PoolManager(**kwargs)
        if not request.proxy_port:
            raise ValueError('proxy_host requires proxy_port')
        proxy_headers = None
        if request.proxy_username:
            proxy_headers = urllib3.make_headers(
                proxy_basic_auth=f'{request.proxy_username}:{request.proxy_password or ""}')
        return urllib3.ProxyManager(f'http://{request.proxy_host}:{request.proxy_port}',
                                    proxy_headers=proxy_headers, **kwargs)

    # -- back on the hub thread ------------------------------------------------

    def _call_on_hub(self, fun: Callable[..., Any], *args: Any) -> None:
        if self.hub is None or self._closed:
            fun(*args)
            return
        self._done.append((fun, args))
        self._wake()

    def _wake(self) -> None:
        try:
            self._wakeup_w.send(b'\0')
        except (BlockingIOError, OSError):
            pass  # pipe full: a wakeup is already pending (or we are closed)

    def _on_wakeup(self) -> None:
        try:
            while self._wakeup_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        done = self._done
        while done:
            fun, args = done.popleft()
            try:
                fun(*args)
            except BaseException:
                if done:
                    self._wake()  # the rest still runs on the next turn
                raise

    def _deliver(self, request: Request, response: Any, header_lines: list[str]) -> None:
        if request.on_header:
            # As with curl: the callback fills the headers (via on_header).
            response.headers = Headers()
            for line in header_lines:
                request.on_header(response.headers, line)
        request.on_ready(response)
