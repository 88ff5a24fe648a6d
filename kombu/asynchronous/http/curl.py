"""HTTP client on pycurl's multi-socket API, driven by the hub.

curl tells us which sockets to watch (``M_SOCKETFUNCTION``) and when to call
it back (``M_TIMERFUNCTION``); the hub watches those sockets and runs the
timer, so transfers never block the loop.  Requires ``pycurl``.
"""

from __future__ import annotations

import logging
from collections import deque
from io import BytesIO
from typing import Any

from kombu.asynchronous.hub import READ, WRITE, Hub, get_event_loop
from kombu.exceptions import HttpError
from kombu.utils.encoding import bytes_to_str

from .base import BaseClient, Headers, Request

METH_TO_CURL: dict[str, Any]
try:
    import pycurl
except ImportError:  # pragma: no cover
    pycurl = None
    METH_TO_CURL = {}
else:
    METH_TO_CURL = {
        'GET': pycurl.HTTPGET,
        'POST': pycurl.POST,
        'PUT': pycurl.UPLOAD,
        'HEAD': pycurl.NOBODY,
    }

__all__ = ('CurlClient',)

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT = 'Mozilla/5.0 (compatible; pycurl)'
EXTRA_METHODS = frozenset(['DELETE', 'OPTIONS', 'PATCH'])


class CurlClient(BaseClient):
    """HTTP client running up to ``max_clients`` curl transfers at once."""

    Curl: Any = pycurl.Curl if pycurl is not None else None

    def __init__(self, hub: Hub | None = None, max_clients: int = 10) -> None:
        if pycurl is None:
            raise ImportError('The curl client requires the pycurl library.')
        hub = hub or get_event_loop()
        if hub is None:
            raise ValueError('CurlClient needs an event loop (hub)')
        super().__init__(hub)
        self.max_clients = max_clients
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._set_timeout)
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._handle_socket)
        self._curls = [self.Curl() for _ in range(max_clients)]
        self._free_list = self._curls[:]
        self._pending: deque[Request] = deque()
        self._fds: dict[int, int] = {}
        self._timer: Any = None
        self._closed = False
        # Safety net for a lost curl timer callback.
        self._timeout_check_tref = self.hub.call_repeatedly(1.0, self._timeout_check)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._detach_from_hub()
        self._timeout_check_tref.cancel()
        if self._timer is not None:
            self._timer.cancel()
        for fd in list(self._fds):
            self.hub.remove(fd)
        self._fds.clear()
        for curl in self._curls:
            curl.close()
        self._multi.close()

    def add_request(self, request: Request) -> Request:
        if self._closed:
            # Hub.close() closes us before it runs the callbacks still
            # queued on it, which may start requests: nothing may run then.
            logger.debug('dropping %r: HTTP client is closed', request)
            return request
        self._pending.append(request)
        self._process_queue()
        self._set_timeout(0)
        return request

    # -- curl -> hub -----------------------------------------------------------

    def _handle_socket(self, event: int, fd: int, multi: Any, data: Any) -> None:
        hub = self.hub
        if event == pycurl.POLL_REMOVE:
            if self._fds.pop(fd, None) is not None:
                hub.remove(fd)
            return
        wanted = {pycurl.POLL_IN: READ, pycurl.POLL_OUT: WRITE,
                  pycurl.POLL_INOUT: READ | WRITE}.get(event, 0)
        self._fds[fd] = wanted
        if wanted & READ:
            hub.add_reader(fd, self.on_readable, fd)
        else:
            hub.remove_reader(fd)
        if wanted & WRITE:
            hub.add_writer(fd, self.on_writable, fd)
        else:
            hub.remove_writer(fd)

    def _set_timeout(self, msecs: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if msecs >= 0:  # -1: curl wants no timer
            self._timer = self.hub.call_later(msecs / 1000.0, self._timeout_check)

    # -- hub -> curl -----------------------------------------------------------

    def _timeout_check(self) -> None:
        self._drive(self._multi.socket_action, pycurl.SOCKET_TIMEOUT, 0)
        self._process_pending_requests()

    def on_readable(self, fd: int) -> None:
        self._on_event(fd, pycurl.CSELECT_IN)

    def on_writable(self, fd: int) -> None:
        self._on_event(fd, pycurl.CSELECT_OUT)

    def _on_event(self, fd: int, event: int) -> None:
        self._drive(self._multi.socket_action, fd, event)
        self._process_pending_requests()

    def _drive(self, action: Any, *args: Any) -> None:
        while 1:
            try:
                ret, _ = action(*args)
            except pycurl.error as exc:
                ret = exc.args[0]
            if ret != pycurl.E_CALL_MULTI_PERFORM:
                break

    def _process_pending_requests(self) -> None:
        while 1:
            queued, succeeded, failed = self._multi.info_read()
            for curl in succeeded:
                self._process(curl)
            for curl, errno, reason in failed:
                self._process(curl, errno, reason)
            if queued == 0:
                break
        self._process_queue()

    def _process_queue(self) -> None:
        while self._free_list and self._pending:
            curl = self._free_list.pop()
            request = self._pending.popleft()
            headers, buf = self.Headers(), BytesIO()
            curl.info = {'headers': headers, 'buffer': buf, 'request': request}
            try:
                self._setup_request(curl, request, buf, headers)
            except Exception as exc:  # bad request options: fail this one only
                curl.info = None
                self._free_list.append(curl)
                request.on_ready(self.Response(request, 599, headers,
                                               error=HttpError(599, str(exc))))
                continue
            self._multi.add_handle(curl)

    def _process(self, curl: Any, errno: int | None = None, reason: str | None = None) -> None:
        info, curl.info = curl.info, None
        self._multi.remove_handle(curl)
        self._free_list.append(curl)
        request, buffer = info['request'], info['buffer']
        error: HttpError | None = None
        effective_url = None
        if errno:
            code = 599
            error = HttpError(code, reason)
            error.errno = errno  # type: ignore[attr-defined]
            buffer = None
            if errno == pycurl.E_OPERATION_TIMEDOUT and request.on_timeout:
                request.on_timeout()
        else:
            code = curl.getinfo(pycurl.HTTP_CODE)
            effective_url = curl.getinfo(pycurl.EFFECTIVE_URL)
            buffer.seek(0)
        request.on_ready(self.Response(
            request=request, code=code, headers=info['headers'], buffer=buffer,
            effective_url=effective_url, error=error,
        ))

    # -- request options -------------------------------------------------------

    def _setup_request(self, curl: Any, request: Request, buffer: BytesIO,
                       headers: Headers) -> None:
        setopt = curl.setopt
        setopt(pycurl.URL, bytes_to_str(request.url))
        # No "Expect: 100-continue" round trip; no "Pragma: no-cache".
        request.headers.setdefault('Expect', '')
        request.headers.setdefault('Pragma', '')
        setopt(pycurl.HTTPHEADER, [f'{k}: {v}' for k, v in request.headers.items()])
        on_header = request.on_header or self.on_header
        setopt(pycurl.HEADERFUNCTION, lambda line: on_header(headers, line))
        setopt(pycurl.WRITEFUNCTION, request.on_stream or buffer.write)
        setopt(pycurl.FOLLOWLOCATION, bool(request.follow_redirects))
        setopt(pycurl.MAXREDIRS, int(request.max_redirects))
        setopt(pycurl.CONNECTTIMEOUT_MS, int(1000 * request.connect_timeout))
        setopt(pycurl.TIMEOUT_MS, int(1000 * request.request_timeout))
        setopt(pycurl.USERAGENT, bytes_to_str(request.user_agent or DEFAULT_USER_AGENT))
        if request.network_interface:
            setopt(pycurl.INTERFACE, request.network_interface)
        setopt(pycurl.ENCODING, 'gzip,deflate' if request.use_gzip else 'none')
        self._setup_proxy(curl, request)
        setopt(pycurl.SSL_VERIFYPEER, 1 if request.validate_cert else 0)
        setopt(pycurl.SSL_VERIFYHOST, 2 if request.validate_cert else 0)
        if request.ca_certs is not None:
            setopt(pycurl.CAINFO, request.ca_certs)
        setopt(pycurl.IPRESOLVE, pycurl.IPRESOLVE_WHATEVER)
        self._setup_method(curl, request)
        self._setup_auth(curl, request)
        if request.client_cert is not None:
            setopt(pycurl.SSLCERT, request.client_cert)
        if request.client_key is not None:
            setopt(pycurl.SSLKEY, request.client_key)
        if request.on_prepare is not None:
            request.on_prepare(curl)

    def _setup_proxy(self, curl: Any, request: Request) -> None:
        if request.proxy_host:
            if not request.proxy_port:
                raise ValueError('Request with proxy_host but no proxy_port')
            curl.setopt(pycurl.PROXY, request.proxy_host)
            curl.setopt(pycurl.PROXYPORT, request.proxy_port)
            if request.proxy_username:
                curl.setopt(pycurl.PROXYUSERPWD,
                            f'{request.proxy_username}:{request.proxy_password or ""}')
        else:
            curl.setopt(pycurl.PROXY, '')
            curl.unsetopt(pycurl.PROXYUSERPWD)

    def _setup_method(self, curl: Any, request: Request) -> None:
        for option in METH_TO_CURL.values():
            curl.setopt(option, False)
        option = METH_TO_CURL.get(request.method)
        if option is None:
            curl.setopt(pycurl.CUSTOMREQUEST, request.method)
        else:
            curl.unsetopt(pycurl.CUSTOMREQUEST)
            curl.setopt(option, True)
        body = request.body or b''
        if isinstance(body, str):
            body = body.encode('utf-8')
        if request.method == 'POST':
            curl.setopt(pycurl.POSTFIELDSIZE, len(body))
            curl.setopt(pycurl.READFUNCTION, BytesIO(body).read)
        elif request.method == 'PUT':
            curl.setopt(pycurl.INFILESIZE, len(body))
            curl.setopt(pycurl.READFUNCTION, BytesIO(body).read)
        elif body:
            curl.setopt(pycurl.POSTFIELDS, body)
            curl.setopt(pycurl.CUSTOMREQUEST, request.method)

    def _setup_auth(self, curl: Any, request: Request) -> None:
        if request.auth_username is None:
            curl.unsetopt(pycurl.USERPWD)
            return
        modes = {'basic': pycurl.HTTPAUTH_BASIC, 'digest': pycurl.HTTPAUTH_DIGEST}
        try:
            mode = modes[request.auth_mode or 'basic']
        except KeyError:
            raise ValueError(f'unsupported auth_mode: {request.auth_mode!r}')
        curl.setopt(pycurl.HTTPAUTH, mode)
        curl.setopt(pycurl.USERPWD, f'{request.auth_username}:{request.auth_password or ""}')
