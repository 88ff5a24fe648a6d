from __future__ import annotations

from io import BytesIO

import pytest
from vine import promise

from kombu.asynchronous.http import BaseClient, Headers, Request, Response
from kombu.asynchronous.http.base import normalize_header
from kombu.exceptions import HttpError


def test_normalize_header():
    assert normalize_header('content-TYPE') == 'Content-Type'
    assert normalize_header('x') == 'X'


def test_request_defaults_and_options():
    r = Request('http://h/p')
    assert r.method == 'GET' and isinstance(r.on_ready, promise)
    assert isinstance(r.headers, Headers) and r.headers == {}
    assert (r.connect_timeout, r.request_timeout) == (30.0, 30.0)
    assert r.follow_redirects and r.max_redirects == 6 and r.validate_cert and r.use_gzip
    r = Request('http://h/p', 'POST', headers={'A': 'b'}, body='secret', user_agent='me')
    assert r.headers == {'A': 'b'} and r.user_agent == 'me'
    assert 'secret' not in repr(r) and 'POST http://h/p' in repr(r)


def test_request_then():
    got = []
    r = Request('http://h/')
    r.then(got.append)
    r.on_ready('response')
    assert got == ['response']


def test_response():
    req = Request('http://h/')
    ok = Response(req, 200, buffer=BytesIO(b'body'))
    assert ok.body == ok.content == b'body' and ok.error is None
    assert ok.status == 'OK' and ok.status_code == 200 and ok.effective_url == 'http://h/'
    ok.raise_for_error()
    bad = Response(req, 500)
    assert bad.body is None and bad.status == 'Internal Server Error'
    with pytest.raises(HttpError) as exc:
        bad.raise_for_error()
    assert exc.value.code == 500 and exc.value.response is bad
    assert Response(req, 999).status == 'Unknown'


def test_header_parser_via_client():
    c = BaseClient(hub=None)
    h = Headers()
    for line in [b'HTTP/1.1 200 OK\r\n', b'content-type: text/plain\r\n',
                 b'X-Long: part one\r\n', b'   part two\r\n', b'\r\n']:
        c.on_header(h, line)
    assert h == {'Content-Type': 'text/plain', 'X-Long': 'part one part two'}
    assert h.complete


def test_perform_wraps_urls_and_add_request_abstract():
    added = []

    class C(BaseClient):
        def add_request(self, request):
            added.append(request)

    with C(None) as c:
        c.perform(['http://a/', Request('http://b/')], method='HEAD')
    assert [r.url for r in added] == ['http://a/', 'http://b/']
    assert added[0].method == 'HEAD'
    with pytest.raises(NotImplementedError):
        BaseClient(None).add_request(Request('http://x/'))
