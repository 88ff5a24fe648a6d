"""Both HTTP clients against a real HTTP server on loopback."""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kombu.asynchronous import Hub
from kombu.asynchronous.http import Client, Request, get_client
from kombu.asynchronous.http.urllib3_client import Urllib3Client
from kombu.exceptions import HttpError
from kombu.utils.encoding import bytes_to_str


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def _send(self, code, body=b'', headers=()):
        self.send_response(code)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header('Content-Length', str(len(body)))
        try:
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    def do_GET(self):
        path = self.path
        if path == '/hello':
            self._send(200, b'hello world', [('X-Thing', 'a'), ('Content-Type', 'text/plain')])
        elif path == '/redirect':
            self._send(302, b'', [('Location', '/hello')])
        elif path == '/slow':
            time.sleep(1.0)
            self._send(200, b'late')
        elif path == '/big':
            self._send(200, b'x' * 300_000)
        elif path == '/gzip':
            self._send(200, gzip.compress(b'zipped' * 100), [('Content-Encoding', 'gzip')])
        elif path == '/auth':
            self._send(200, self.headers.get('Authorization', '').encode())
        elif path == '/ua':
            self._send(200, self.headers.get('User-Agent', '').encode())
        else:
            self._send(404, b'nope')

    def do_POST(self):
        n = int(self.headers.get('Content-Length') or 0)
        self._send(201, b'got:' + self.rfile.read(n))

    def do_PUT(self):
        self.do_POST()

    def do_DELETE(self):
        self._send(204)


@pytest.fixture(scope='module')
def server():
    srv = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{srv.server_address[1]}'
    srv.shutdown()
    srv.server_close()


def make_curl(hub):
    from kombu.asynchronous.http.curl import CurlClient
    pytest.importorskip('pycurl')
    return CurlClient(hub)


@pytest.fixture(params=['urllib3', 'curl'])
def client_and_hub(request):
    hub = Hub()
    client = Urllib3Client(hub) if request.param == 'urllib3' else make_curl(hub)
    yield client, hub
    client.close()
    hub.close()


def run_until(hub, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out waiting for the hub'
        hub.call_later(0.01, lambda: None)  # bound each poll
        hub.run_once()


def fetch(client, hub, url, **kwargs):
    responses = []
    client.add_request(Request(url, on_ready=responses.append, **kwargs))
    run_until(hub, lambda: responses)
    return responses[0]


def test_get(client_and_hub, server):
    client, hub = client_and_hub
    r = fetch(client, hub, server + '/hello')
    assert r.code == r.status_code == 200 and r.error is None
    assert r.body == r.content == b'hello world'
    assert r.headers['X-Thing'] == 'a'
    assert r.headers['Content-Type'] == 'text/plain'
    assert r.status == 'OK'


def test_not_found_is_http_error(client_and_hub, server):
    client, hub = client_and_hub
    r = fetch(client, hub, server + '/missing')
    assert r.code == 404 and r.body == b'nope'
    assert isinstance(r.error, HttpError) and r.error.code == 404
    with pytest.raises(HttpError):
        r.raise_for_error()


def test_post_and_put_send_body(client_and_hub, server):
    client, hub = client_and_hub
    r = fetch(client, hub, server + '/echo', method='POST', body='payload')
    assert (r.code, r.body) == (201, b'got:payload')
    r = fetch(client, hub, server + '/echo', method='PUT', body=b'bytes')
    assert (r.code, r.body) == (201, b'got:bytes')
    r = fetch(client, hub, server + '/x', method='DELETE')
    assert r.code == 204


def test_redirects(client_and_hub, server):
    client, hub = client_and_hub
    r = fetch(client, hub, server + '/redirect')
    assert r.code == 200 and r.body == b'hello world'
    assert r.effective_url.endswith('/hello')
    r = fetch(client, hub, server + '/redirect', follow_redirects=False)
    assert r.code == 302


def test_gzip_decoded_and_big_body(client_and_hub, server):
    client, hub = client_and_hub
    assert fetch(client, hub, server + '/gzip').body == b'zipped' * 100
    assert len(fetch(client, hub, server + '/big').body) == 300_000


def test_basic_auth_and_user_agent(client_and_hub, server):
    client, hub = client_and_hub
    r = fetch(client, hub, server + '/auth', auth_username='u', auth_password='p')
    assert r.body == b'Basic dTpw'
    assert fetch(client, hub, server + '/ua', user_agent='me/1').body == b'me/1'


def test_timeout_gives_599_and_on_timeout(client_and_hub, server):
    client, hub = client_and_hub
    timeouts = []
    r = fetch(client, hub, server + '/slow', request_timeout=0.2,
              on_timeout=lambda: timeouts.append(1))
    assert r.code == 599 and isinstance(r.error, HttpError)
    assert timeouts == [1]


def test_connection_refused_gives_599(client_and_hub):
    from t.servers import free_port
    client, hub = client_and_hub
    r = fetch(client, hub, f'http://127.0.0.1:{free_port()}/', connect_timeout=2)
    assert r.code == 599 and r.error is not None and r.body is None


def test_on_stream_gets_chunks(client_and_hub, server):
    client, hub = client_and_hub
    chunks = []
    r = fetch(client, hub, server + '/big', on_stream=chunks.append)
    assert r.code == 200
    assert b''.join(chunks) == b'x' * 300_000


def test_on_header_sees_each_line(client_and_hub, server):
    client, hub = client_and_hub
    lines = []

    def on_header(headers, line):
        lines.append(line)
        client.on_header(headers, line)

    r = fetch(client, hub, server + '/hello', on_header=on_header)
    assert r.headers['X-Thing'] == 'a' and r.headers.complete
    assert any(bytes_to_str(line).startswith('HTTP/') for line in lines)


def test_many_requests_more_than_max_clients(server):
    hub = Hub()
    client = Urllib3Client(hub, max_clients=3)
    try:
        got, threads = [], set()

        def on_ready(response):
            threads.add(threading.get_ident())
            got.append(response.code)

        client.perform([server + '/hello'] * 20, on_ready=on_ready)
        run_until(hub, lambda: len(got) == 20)
        assert got == [200] * 20
        assert threads == {threading.get_ident()}  # callbacks on the hub thread
    finally:
        client.close()
        hub.close()


def test_then_and_get_client(server):
    hub = Hub()
    try:
        client = get_client(hub)
        assert get_client(hub) is client   # one client per hub
        req = Request(server + '/hello')
        got = []
        req.then(got.append)
        client.add_request(req)
        run_until(hub, lambda: got)
        assert got[0].body == b'hello world'
        client.close()
        dropped = []
        client.add_request(Request(server + '/hello', on_ready=dropped.append))
        hub.call_later(0.05, lambda: None)
        hub.run_once()
        assert dropped == []  # a closed client drops new requests
    finally:
        hub.close()


def test_client_without_hub_calls_back_in_thread(server):
    client = Client(None)
    try:
        done = threading.Event()
        got = []
        client.add_request(Request(server + '/hello',
                                   on_ready=lambda r: (got.append(r.body), done.set())))
        assert done.wait(10)
        assert got == [b'hello world']
    finally:
        client.close()


def test_client_closed_with_its_hub(server):
    hub = Hub()
    client = get_client(hub)
    hub.close()
    assert client._closed
    assert not hasattr(hub, '_current_http_client')
    assert get_client(hub) is not client
    get_client(hub).close()


def test_closed_client_drops_requests(client_and_hub, server):
    client, hub = client_and_hub
    client.close()
    client.close()  # idempotent
    got = []
    req = Request(server + '/hello', on_ready=got.append)
    assert client.add_request(req) is req
    hub.call_later(0.05, lambda: None)
    hub.run_once()
    assert got == []


def test_client_picks_curl_when_installed_and_a_hub_drives_it(monkeypatch):
    from kombu.asynchronous.http import curl
    pytest.importorskip('pycurl')
    hub = Hub()
    try:
        assert isinstance(Client(hub), curl.CurlClient)
        monkeypatch.setattr(curl, 'pycurl', None)
        assert isinstance(Client(hub), Urllib3Client)
    finally:
        hub.close()
    assert isinstance(Client(None), Urllib3Client)   # no loop: curl has nothing to drive it
