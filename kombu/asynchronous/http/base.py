"""HTTP request/response model shared by the event-loop HTTP clients."""

from __future__ import annotations

import sys
from http.client import responses
from typing import Any, Callable, Generator, Mapping

from vine import Thenable, maybe_promise, promise

from kombu.exceptions import HttpError
from kombu.utils.compat import coro
from kombu.utils.encoding import bytes_to_str
from kombu.utils.functional import maybe_list, memoize

__all__ = ('Headers', 'Response', 'Request', 'BaseClient')

PYPY = hasattr(sys, 'pypy_version_info')


@memoize(maxsize=1000)
def normalize_header(key: str) -> str:
    """``content-TYPE`` -> ``Content-Type``."""
    return '-'.join(part.capitalize() for part in key.split('-'))


class Headers(dict):
    """HTTP headers (a plain dict; keys are stored as given)."""

    #: Set when all of the headers have been read.
    complete = False

    #: Last key seen, for folded (continuation) header lines.
    _prev_key: str | None = None


@Thenable.register
class Request:
    """An HTTP request, fulfilled through its ``on_ready`` promise.

    Arguments:
        url (str): The URL to request.
        method (str): HTTP method (default ``GET``).

    Keyword Arguments:
        headers (Mapping): Request headers.
        body (str | bytes): Request body.
        connect_timeout (float): Seconds to connect (default 30).
        request_timeout (float): Seconds for the whole request (default 30).
        follow_redirects (bool), max_redirects (int): Redirect policy.
        use_gzip (bool): Accept gzip-compressed responses.
        validate_cert (bool), ca_certs, client_key, client_cert: TLS options.
        auth_username, auth_password, auth_mode: HTTP authentication.
        proxy_host, proxy_port, proxy_username, proxy_password: Proxy.
        user_agent (str), network_interface (str): Connection details.
        on_ready: Called with the :class:`Response`.
        on_timeout: Called if the request timed out.
        on_stream: Called with each body chunk (the body is then not kept).
        on_header: Called as ``(headers, line)`` for each header line.
        on_prepare: Client specific hook (curl: gets the curl handle).
    """

    body: Any = None
    user_agent: str | None = None
    network_interface: str | None = None
    auth_username: str | None = None
    auth_password: str | None = None
    auth_mode: str | None = None
    proxy_host: str | None = None
    proxy_port: int | None = None
    proxy_username: str | None = None
    proxy_password: str | None = None
    ca_certs: str | None = None
    client_key: str | None = None
    client_cert: str | None = None
    connect_timeout = 30.0
    request_timeout = 30.0
    follow_redirects = True
    max_redirects = 6
    use_gzip = True
    validate_cert = True

    if not PYPY:  # pragma: no branch
        __slots__ = ('url', 'method', 'on_ready', 'on_timeout', 'on_stream',
                     'on_prepare', 'on_header', 'headers', '__weakref__', '__dict__')

    def __init__(self, url: str, method: str = 'GET', on_ready: Any = None,
                 on_timeout: Any = None, on_stream: Any = None, on_prepare: Any = None,
                 on_header: Any = None, headers: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> None:
        self.url = url
        self.method = method or 'GET'
        self.on_ready = maybe_promise(on_ready) or promise()
        self.on_timeout = maybe_promise(on_timeout)
        self.on_stream = maybe_promise(on_stream)
        self.on_prepare = maybe_promise(on_prepare)
        self.on_header = maybe_promise(on_header)
        for key, value in kwargs.items():
            setattr(self, key, value)
        self.headers = headers if isinstance(headers, Headers) else Headers(headers or {})

    def then(self, callback: Callable[..., Any], errback: Callable[..., Any] | None = None) -> Any:
        return self.on_ready.then(callback, errback)

    def __repr__(self) -> str:
        # The body may hold secrets (and be large): show its size only.
        size = len(self.body) if isinstance(self.body, (bytes, str)) else 0
        return f'<Request: {self.method} {self.url} body:{size}B>'


class Response:
    """HTTP response.

    Attributes:
        request (Request): The request answered.
        code (int): Status code (599 when no response was received).
        headers (Headers): Response headers.
        buffer (io.BytesIO): Body buffer (None when streamed or failed).
        effective_url (str): URL after redirects.
        error (Exception): :exc:`~kombu.exceptions.HttpError` for codes
            outside 200-299, or the error that prevented a response.
        status (str): Reason phrase, e.g. ``OK``.
    """

    if not PYPY:  # pragma: no branch
        __slots__ = ('request', 'code', 'headers', 'buffer', 'effective_url',
                     'error', 'status', '_body', '__weakref__')

    def __init__(self, request: Request, code: int, headers: Headers | None = None,
                 buffer: Any = None, effective_url: str | None = None,
                 error: BaseException | None = None, status: str | None = None) -> None:
        self.request = request
        self.code = code
        self.headers = headers if headers is not None else Headers()
        self.buffer = buffer
        self.effective_url = effective_url or request.url
        self._body: bytes | None = None
        self.status = status or responses.get(code, 'Unknown')
        self.error = error
        if error is None and not 200 <= code <= 299:
            self.error = HttpError(code, self.status, self)

    def raise_for_error(self) -> None:
        """Raise :attr:`error` (:exc:`~kombu.exceptions.HttpError`) if set."""
        if self.error:
            raise self.error

    @property
    def body(self) -> bytes | None:
        """The whole body (read from :attr:`buffer` once, then cached)."""
        if self._body is None and self.buffer is not None:
            self._body = self.buffer.getvalue()
        return self._body

    # Names used by Requests, for convenience.
    @property
    def status_code(self) -> int:
        return self.code

    @property
    def content(self) -> bytes | None:
        return self.body

    def __repr__(self) -> str:
        return f'<Response: {self.code} {self.status} {self.effective_url}>'


@coro
def header_parser(keyt: Callable[[str], str] = normalize_header) -> Generator[None, Any, None]:
    """Coroutine fed ``(line, headers)``: parses raw header lines into headers."""
    while 1:
        line, headers = yield
        if line.startswith('HTTP/'):
            continue
        if not line.strip():
            headers.complete = True
            continue
        if line[0].isspace():  # folded continuation of the previous header
            pkey = headers._prev_key
            headers[pkey] = ' '.join([headers.get(pkey) or '', line.strip()])
            continue
        key, _, value = line.partition(':')
        key = headers._prev_key = keyt(key.strip())
        headers[key] = value.strip()


#: For annotations inside BaseClient, whose attributes shadow the classes.
_Request = Request
_Headers = Headers


class BaseClient:
    """Base class of the HTTP clients driven by a :class:`~kombu.asynchronous.Hub`."""

    Headers = Headers
    Request = Request
    Response = Response

    def __init__(self, hub: Any, **kwargs: Any) -> None:
        self.hub = hub
        self._header_parser = header_parser()
        # Closed with the hub: no request may complete after the consumer
        # that made it was torn down.
        if hub is not None:
            hub.on_close.add(self._on_hub_close)

    def perform(self, request: Any, **kwargs: Any) -> None:
        """Start one or more requests (URLs or :class:`Request` objects)."""
        for req in maybe_list(request) or []:
            if not isinstance(req, self.Request):
                req = self.Request(req, **kwargs)
            self.add_request(req)

    def add_request(self, request: _Request) -> Any:
        raise NotImplementedError('must implement add_request')

    def close(self) -> None:
        pass

    def _detach_from_hub(self) -> None:
        # The hub outlives this client (reset, or closed by its owner): the
        # next get_client() must make a new client, not return this one.
        hub = self.hub
        if hub is None:
            return
        hub.on_close.discard(self._on_hub_close)
        if getattr(hub, '_current_http_client', None) is self:
            del hub._current_http_client

    def _on_hub_close(self, hub: Any) -> None:
        self._detach_from_hub()
        self.close()

    def on_header(self, headers: _Headers, line: Any) -> None:
        """Feed one raw header line into ``headers``."""
        try:
            self._header_parser.send((bytes_to_str(line), headers))
        except StopIteration:  # pragma: no cover (parser never ends)
            self._header_parser = header_parser()

    def __enter__(self) -> BaseClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
