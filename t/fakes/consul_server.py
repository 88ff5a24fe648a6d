"""A small stand-in for Consul's HTTP API: the KV store and sessions, on loopback.

No Consul server can be installed on the CI machines (no package in Debian,
PyPI or npm), so the consul:// transport is tested against this.  It serves
what the transport uses, with Consul's documented semantics:

* ``GET /v1/kv/<key>[?recurse][&index=N&wait=D]`` - the entries (``Value``
  base64), sorted by key, 404 when there are none; ``X-Consul-Index`` on every
  answer (the store's index: any change moves it); with ``index`` a blocking
  query, answered once the index passes ``N`` or after ``wait``.
* ``PUT /v1/kv/<key>[?cas=N][?acquire=S][?release=S]`` - ``true``/``false``;
  ``cas=0`` creates only, ``acquire`` takes the key's lock for session ``S``
  unless another session holds it; values above 512 KiB are refused (413).
* ``DELETE /v1/kv/<key>[?recurse][?cas=N]``.
* ``PUT /v1/session/create`` (``TTL``, ``Behavior``), ``/renew/<id>``,
  ``/destroy/<id>``: a session not renewed within its TTL is invalidated and
  the keys it holds are released, or deleted with ``Behavior: delete``.
* ``GET /v1/status/leader``.

Run standalone with ``python -m t.fakes.consul_server [PORT]``.
"""
from __future__ import annotations

import base64
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ('ConsulFake', 'running')

#: Consul's limit for one value.
MAX_VALUE = 512 * 1024


def _ttl_seconds(text: str | None) -> float | None:
    if not text:
        return None
    text = text.strip()
    if text.endswith('ms'):
        return float(text[:-2]) / 1000
    if text.endswith('s'):
        return float(text[:-1])
    if text.endswith('m'):
        return float(text[:-1]) * 60
    return float(text)


class ConsulFake:
    """The store: keys, sessions and the index, behind one lock."""

    def __init__(self) -> None:
        # a Condition: blocking queries wait on it for the index to move
        self.lock = threading.Condition()
        self.index = 1
        self.kv: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.requests = 0

    def _bump(self) -> int:
        self.index += 1
        self.lock.notify_all()
        return self.index

    def block(self, index: int, wait: float) -> None:
        """A blocking query: until the index passes ``index`` or ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while self.index <= index:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.lock.wait(min(remaining, 0.05))
            self.expire_sessions()

    def expire_sessions(self) -> None:
        now = time.monotonic()
        for sid, session in list(self.sessions.items()):
            if session['ttl'] is not None and now > session['renewed'] + session['ttl']:
                self.invalidate(sid)

    def invalidate(self, sid: str) -> None:
        session = self.sessions.pop(sid, None)
        if session is None:
            return
        for key, entry in list(self.kv.items()):
            if entry.get('Session') == sid:
                if session['behavior'] == 'delete':
                    del self.kv[key]
                else:
                    entry.pop('Session', None)
                    entry['ModifyIndex'] = self._bump()

    # -- KV ----------------------------------------------------------------

    def get(self, key: str, recurse: bool) -> list[dict[str, Any]]:
        if recurse:
            keys = sorted(k for k in self.kv if k.startswith(key))
        else:
            keys = [key] if key in self.kv else []
        return [dict(self.kv[k]) for k in keys]

    def put(self, key: str, value: bytes, params: dict[str, str]) -> bool:
        entry = self.kv.get(key)
        if 'cas' in params:
            cas = int(params['cas'])
            if (cas == 0 and entry is not None) or (
                    cas and (entry is None or entry['ModifyIndex'] != cas)):
                return False
        sid = params.get('acquire')
        if sid is not None:
            if sid not in self.sessions:
                raise LookupError(f'invalid session "{sid}"')
            if entry is not None and entry.get('Session') not in (None, sid):
                return False
        release = params.get('release')
        if release is not None and entry is not None and entry.get('Session') != release:
            return False
        index = self._bump()
        new = {'Key': key, 'Flags': 0, 'Value': base64.b64encode(value).decode() if value
               else None, 'CreateIndex': entry['CreateIndex'] if entry else index,
               'ModifyIndex': index, 'LockIndex': entry.get('LockIndex', 0) if entry else 0}
        if sid is not None:
            new['Session'] = sid
            new['LockIndex'] += 1
        elif entry is not None and release is None and entry.get('Session'):
            new['Session'] = entry['Session']
        self.kv[key] = new
        return True

    def delete(self, key: str, params: dict[str, str]) -> bool:
        if 'recurse' in params:
            for k in [k for k in self.kv if k.startswith(key)]:
                del self.kv[k]
            self._bump()
            return True
        entry = self.kv.get(key)
        if 'cas' in params and (entry is None or entry['ModifyIndex'] != int(params['cas'])):
            return False
        self.kv.pop(key, None)
        self._bump()
        return True

    # -- sessions -------------------------------------------------------------

    def create_session(self, body: dict[str, Any]) -> str:
        body = {k.lower(): v for k, v in body.items()}  # Consul takes any case
        sid = str(uuid.uuid4())
        ttl = _ttl_seconds(body.get('ttl'))
        if ttl is not None and not 10 <= ttl <= 86400:
            raise ValueError('Invalid Session TTL: must be between 10s and 24h')
        self.sessions[sid] = {'ttl': ttl, 'renewed': time.monotonic(),
                              'behavior': body.get('behavior') or 'release',
                              'name': body.get('name', '')}
        return sid


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = 'HTTP/1.1'
    # headers and body go out as separate writes: without this, Nagle's
    # algorithm and delayed ACKs add 40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, code: int, payload: Any) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.send_header('X-Consul-Index', str(self.server.store.index))
        self.end_headers()
        self.wfile.write(body)

    def _route(self, method: str) -> None:
        store = self.server.store
        url = urlsplit(self.path)
        path = unquote(url.path)
        params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        with store.lock:
            store.requests += 1
            store.expire_sessions()
            try:
                self._dispatch(store, method, path, params, body)
            except LookupError as exc:
                self._answer(500, str(exc).encode())
            except ValueError as exc:
                self._answer(400, str(exc).encode())

    def _dispatch(self, store: ConsulFake, method: str, path: str, params: dict[str, str],
                  body: bytes) -> None:
        if path.startswith('/v1/kv/'):
            key = path[len('/v1/kv/'):]
            if method == 'GET':
                if 'index' in params:
                    store.block(int(params['index']), _ttl_seconds(params.get('wait')) or 300)
                entries = store.get(key, 'recurse' in params)
                return self._answer(200 if entries else 404, entries if entries else b'')
            if method == 'PUT':
                if len(body) > MAX_VALUE:
                    return self._answer(413, b'Value exceeds 524288 byte limit')
                return self._answer(200, store.put(key, body, params))
            if method == 'DELETE':
                return self._answer(200, store.delete(key, params))
        elif path == '/v1/session/create' and method == 'PUT':
            return self._answer(200, {'ID': store.create_session(json.loads(body or b'{}'))})
        elif path.startswith('/v1/session/renew/') and method == 'PUT':
            session = store.sessions.get(path.rsplit('/', 1)[1])
            if session is None:
                return self._answer(404, b'Session id not found')
            session['renewed'] = time.monotonic()
            return self._answer(200, [{'ID': path.rsplit('/', 1)[1],
                                       'TTL': f"{session['ttl']:g}s"}])
        elif path.startswith('/v1/session/destroy/') and method == 'PUT':
            store.invalidate(path.rsplit('/', 1)[1])
            return self._answer(200, True)
        elif path == '/v1/status/leader' and method == 'GET':
            return self._answer(200, '127.0.0.1:8300')
        return self._answer(404, b'no such endpoint')

    def do_GET(self) -> None:
        self._route('GET')

    def do_PUT(self) -> None:
        self._route('PUT')

    def do_DELETE(self) -> None:
        self._route('DELETE')


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    store: ConsulFake


class running:
    """``with running() as (port, store):`` a fake Consul on a free loopback port."""

    def __init__(self, port: int = 0) -> None:
        self.server = _Server(('127.0.0.1', port), _Handler)
        self.server.store = ConsulFake()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> tuple[int, ConsulFake]:
        self.thread.start()
        return self.server.server_address[1], self.server.store

    def __exit__(self, *exc_info: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


if __name__ == '__main__':  # pragma: no cover - manual use
    with running(int(sys.argv[1]) if len(sys.argv) > 1 else 8500) as (bound, _):
        print(f'fake Consul on 127.0.0.1:{bound}', flush=True)
        while True:
            time.sleep(3600)
