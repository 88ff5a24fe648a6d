"""HTTP plumbing of the asynchronous AWS clients: botocore signs, the Hub's client sends."""
from __future__ import annotations

import json
import logging
from email import message_from_bytes
from email.message import Message
from typing import Any, Callable, Mapping

from vine import promise

from kombu.asynchronous.http import Headers, get_client
from kombu.asynchronous.http import Request as HttpRequest

from .ext import AWSRequest, exceptions

__all__ = ('AsyncHTTPSConnection', 'AsyncConnection')

logger = logging.getLogger(__name__)


def message_from_headers(hdr: Any) -> Message:
    """An ``email.message.Message`` of ``(name, value)`` header pairs."""
    items = hdr.items() if isinstance(hdr, Mapping) else hdr
    text = ''.join(f'{key}: {value}\r\n' for key, value in items)
    return message_from_bytes(text.encode('latin-1'))


class AsyncHTTPResponse:
    """An ``http.client``-like view of a :class:`kombu.asynchronous.http.Response`."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self._msg: Message | None = None
        self.version = 10

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        return self.response.body or b''

    def getheader(self, name: str, default: Any = None) -> Any:
        return self.response.headers.get(name, default)

    def getheaders(self) -> list[tuple[str, Any]]:
        return list(self.response.headers.items())

    @property
    def msg(self) -> Message:
        if self._msg is None:
            self._msg = message_from_headers(self.getheaders())
        return self._msg

    @property
    def status(self) -> int:
        return int(self.response.code)

    @property
    def reason(self) -> str:
        return str(self.response.status)


class AsyncHTTPSConnection:
    """An ``http.client.HTTPSConnection``-like object whose ``getresponse`` takes a callback."""

    Request = HttpRequest
    Response = AsyncHTTPResponse

    method = 'GET'
    path = '/'
    body: Any = None
    default_ports = {'http': 80, 'https': 443}

    def __init__(self, strict: Any = None, timeout: float = 20.0,
                 http_client: Any = None) -> None:
        self.headers: list[tuple[str, Any]] = []
        self.timeout = timeout
        self.strict = strict
        self.http_client = http_client or get_client()

    def request(self, method: str, path: str, body: Any = None,
                headers: Mapping[str, Any] | None = None) -> None:
        self.path = path
        self.method = method
        if body is not None:
            self.body = body.read() if hasattr(body, 'read') else body
        if headers is not None:
            self.headers.extend(list(headers.items()))

    def getrequest(self) -> HttpRequest:
        headers = Headers(self.headers)
        return self.Request(self.path, method=self.method, headers=headers, body=self.body,
                            connect_timeout=self.timeout, request_timeout=self.timeout,
                            validate_cert=True)

    def getresponse(self, callback: Callable[..., Any] | None = None) -> Any:
        request = self.getrequest()
        request.then(promise(lambda r: callback(self.Response(r)) if callback else None))
        return self.http_client.add_request(request)

    def set_debuglevel(self, level: int) -> None:
        """Kept for ``http.client`` compatibility."""

    def connect(self) -> None:
        """Connections are made (and pooled) by the HTTP client."""

    def close(self) -> None:
        """Connections are pooled by the HTTP client."""

    def putrequest(self, method: str, path: str) -> None:
        self.method = method
        self.path = path

    def putheader(self, header: str, value: Any) -> None:
        self.headers.append((header, value))

    def endheaders(self) -> None:
        """Headers are sent with the request."""

    def send(self, data: Any) -> None:
        self.body = data if self.body is None else self.body + data

    def __repr__(self) -> str:
        return f'<AsyncHTTPSConnection: {self.getrequest()!r}>'


class AsyncConnection:
    """Base of the asynchronous clients: the botocore client and the Hub's HTTP client."""

    def __init__(self, sqs_connection: Any, http_client: Any = None, **kwargs: Any) -> None:
        self.sqs_connection = sqs_connection
        self._httpclient = http_client or get_client()

    def get_http_connection(self) -> AsyncHTTPSConnection:
        return AsyncHTTPSConnection(http_client=self._httpclient)


class AsyncAWSQueryConnection(AsyncConnection):
    """Requests of an AWS JSON API (SQS's), signed by the botocore client."""

    STATUS_CODE_OK = 200
    STATUS_CODE_REQUEST_TIMEOUT = 408
    STATUS_CODE_NETWORK_CONNECT_TIMEOUT_ERROR = 599
    STATUS_CODE_INTERNAL_ERROR = 500
    STATUS_CODE_BAD_GATEWAY = 502
    STATUS_CODE_SERVICE_UNAVAILABLE_ERROR = 503
    STATUS_CODE_GATEWAY_TIMEOUT = 504
    STATUS_CODES_SERVER_ERRORS = (
        STATUS_CODE_INTERNAL_ERROR, STATUS_CODE_BAD_GATEWAY,
        STATUS_CODE_SERVICE_UNAVAILABLE_ERROR)
    STATUS_CODES_TIMEOUT = (
        STATUS_CODE_REQUEST_TIMEOUT, STATUS_CODE_NETWORK_CONNECT_TIMEOUT_ERROR,
        STATUS_CODE_GATEWAY_TIMEOUT)

    #: the ``X-Amz-Target`` prefix of the API.
    target_prefix = 'AmazonSQS'

    def __init__(self, sqs_connection: Any, http_client: Any = None,
                 http_client_params: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        if http_client is None and http_client_params:
            http_client = get_client(**dict(http_client_params))
        super().__init__(sqs_connection, http_client, **kwargs)
        #: seconds a request may take (a long poll holds one up to 20 s).
        self.request_timeout = float(kwargs.get('request_timeout', 60.0))

    def make_request(self, operation: str, params: Mapping[str, Any], path: str,
                     verb: str = 'POST', callback: Any = None,
                     protocol_params: Any = None) -> Any:
        """Send ``operation`` with JSON ``params`` to ``path`` (a URL); ``callback``
        gets the decoded answer, or its ``throw`` a ``ClientError``."""
        url = path if '://' in path else self.sqs_connection.meta.endpoint_url
        aws_request = AWSRequest(
            method=verb, url=url, data=json.dumps(dict(params)).encode(),
            headers={'Content-Type': 'application/x-amz-json-1.0',
                     'X-Amz-Target': f'{self.target_prefix}.{operation}'})
        self.sqs_connection._request_signer.sign(operation, aws_request)
        prepared = aws_request.prepare()
        request = HttpRequest(prepared.url, method=verb, headers=dict(prepared.headers),
                          body=prepared.body, connect_timeout=self.request_timeout,
                          request_timeout=self.request_timeout)
        request.then(promise(self._on_response, (operation, callback)))
        return self._httpclient.add_request(request)

    def _on_response(self, operation: str, callback: Any, response: Any) -> None:
        body = response.body or b''
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = {}
        if response.code == self.STATUS_CODE_OK:
            if callback is not None:
                callback(data)
            return
        error = self._client_error(operation, response, data)
        if callback is not None and hasattr(callback, 'throw'):
            try:
                callback.throw(error)
                return
            except type(error):  # no errback on the promise chain
                pass
        logger.warning('sqs %s failed: %s', operation, error)

    @staticmethod
    def _client_error(operation: str, response: Any, data: Mapping[str, Any]) -> Exception:
        if response.code == 599 or not data:
            reason = getattr(response, 'error', None) or response.status
            return exceptions.EndpointConnectionError(
                endpoint_url=f'{response.request.url} ({reason})')
        code = str(data.get('__type', '')).rsplit('#', 1)[-1]
        query = response.headers.get('x-amzn-query-error', '')
        if query:
            code = query.split(';', 1)[0] or code
        message = data.get('message') or data.get('Message') or ''
        return exceptions.ClientError(
            {'Error': {'Code': code, 'Message': message},
             'ResponseMetadata': {'HTTPStatusCode': response.code}}, operation)

    def get_list(self, operation: str, params: Mapping[str, Any], markers: Any, path: str = '/',
                 parent: Any = None, verb: str = 'POST', callback: Any = None,
                 protocol_params: Any = None) -> Any:
        """``callback`` gets the list under the answer's first key in ``markers``."""
        key = markers[0] if isinstance(markers, (list, tuple)) and markers else markers

        def pick(data: Mapping[str, Any]) -> Any:
            return callback(data.get(key) or []) if callback else None
        return self.make_request(operation, params, path, verb, promise(pick))

    def get_object(self, operation: str, params: Mapping[str, Any], path: str = '/',
                   parent: Any = None, verb: str = 'POST', callback: Any = None,
                   protocol_params: Any = None) -> Any:
        return self.make_request(operation, params, path, verb, callback)

    def get_status(self, operation: str, params: Mapping[str, Any], path: str = '/',
                   parent: Any = None, verb: str = 'GET', callback: Any = None,
                   protocol_params: Any = None) -> Any:
        def ok(data: Mapping[str, Any]) -> Any:
            return callback(True) if callback else None
        return self.make_request(operation, params, path, verb, promise(ok))
