"""A local HTTPS fake of the SoftLayer Message Queue REST API (v1), for the real
``softlayer_messaging`` client (the service was discontinued in 2017).

The endpoints the client calls, with the service's behaviour as documented:

* ``POST /v1/<account>/auth`` (``X-Auth-User``/``X-Auth-Key`` -> ``X-Auth-Token``),
  ``GET /v1/ping``; every other call needs a valid ``X-Auth-Token``;
* queues: ``GET .../queues[?tags=a,b]`` (the queues with all those tags),
  ``PUT/GET/DELETE .../queues/<name>`` (``visibility_interval``,
  ``expiration``, ``tags``; detail with ``message_count`` and ``visible_message_count``);
* messages: ``POST .../queues/<name>/messages``, ``GET .../messages?batch=N`` (the popped
  messages stay invisible for the queue's ``visibility_interval``, then reappear unless
  deleted), ``DELETE .../messages/<id>``;
* topics: ``PUT/GET/DELETE .../topics/<name>``, ``POST .../topics/<name>/messages`` (a copy
  to every subscribed queue), ``GET/POST .../topics/<name>/subscriptions``,
  ``DELETE .../subscriptions/<id>``.

The client forces HTTPS: :class:`FakeSLMQ` serves TLS with a throw-away self-signed
certificate (``openssl``) that tests trust through ``REQUESTS_CA_BUNDLE``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ('FakeSLMQ',)

_NAME = re.compile(r'^[A-Za-z0-9_]{1,128}$')


@dataclass
class _Message:
    id: str
    body: str
    fields: dict[str, Any]
    entered: float
    visible_at: float


@dataclass
class _Queue:
    name: str
    visibility_interval: int = 30
    expiration: int = 604800
    tags: list[str] = field(default_factory=list)
    messages: list[_Message] = field(default_factory=list)


@dataclass
class _Topic:
    name: str
    tags: list[str] = field(default_factory=list)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)


class _State:
    def __init__(self, account: str, username: str, api_key: str) -> None:
        self.account, self.username, self.api_key = account, username, api_key
        self.lock = threading.Lock()
        self.tokens: set[str] = set()
        self.queues: dict[str, _Queue] = {}
        self.topics: dict[str, _Topic] = {}
        self.requests = 0

    def live(self, queue: _Queue, now: float) -> list[_Message]:
        queue.messages = [m for m in queue.messages if now - m.entered < queue.expiration]
        return queue.messages

    def detail(self, queue: _Queue) -> dict[str, Any]:
        now = time.time()
        messages = self.live(queue, now)
        return {'name': queue.name, 'visibility_interval': queue.visibility_interval,
                'expiration': queue.expiration, 'tags': queue.tags,
                'message_count': len(messages),
                'visible_message_count': sum(m.visible_at <= now for m in messages)}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True   # no 40 ms delayed-ACK stall per request

    def log_message(self, *args: Any) -> None:   # quiet
        pass

    def _reply(self, status: int, payload: Any = None, headers: dict[str, str] | None = None
               ) -> None:
        data = json.dumps(payload if payload is not None else {}).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length) if length else b''
        return json.loads(raw) if raw else {}

    def _dispatch(self, method: str) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        path = [p for p in parts.path.split('/') if p]
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        body = self._body() if method in ('POST', 'PUT') else None
        with state.lock:
            state.requests += 1
            if path == ['v1', 'ping']:
                return self._reply(200, {})
            if len(path) < 3 or path[0] != 'v1' or path[1] != state.account:
                return self._reply(404, {'message': 'Account not found'})
            if path[2:] == ['auth'] and method == 'POST':
                if (self.headers.get('X-Auth-User') == state.username
                        and self.headers.get('X-Auth-Key') == state.api_key):
                    token = uuid.uuid4().hex
                    state.tokens.add(token)
                    return self._reply(200, {'status': 'OK', 'token': token},
                                       {'X-Auth-Token': token})
                return self._reply(401, {'message': 'Unauthorized'})
            if self.headers.get('X-Auth-Token') not in state.tokens:
                return self._reply(401, {'message': 'Unauthorized'})
            if self.server.fail_with_status:
                return self._reply(self.server.fail_with_status, {'message': 'Failure'})
            rest = path[2:]
            if rest[:1] == ['queues']:
                return self._queues(method, rest[1:], query, body)
            if rest[:1] == ['topics']:
                return self._topics(method, rest[1:], body)
            return self._reply(404, {'message': 'Not found'})

    def _queues(self, method: str, rest: list[str], query: dict[str, str], body: Any) -> None:
        state = self.server.state
        if not rest:
            wanted = [t for t in query.get('tags', '').split(',') if t]
            listing = [{'name': q.name, 'tags': q.tags} for q in state.queues.values()
                       if all(t in q.tags for t in wanted)]
            return self._reply(200, {'item_count': len(listing), 'items': listing})
        name = rest[0]
        queue = state.queues.get(name)
        if len(rest) == 1:
            if method == 'PUT':
                if not _NAME.match(name):
                    return self._reply(400, {'message': 'Invalid queue name',
                                             'errors': ['name']})
                created = queue is None
                queue = queue or state.queues.setdefault(name, _Queue(name))
                for key in ('visibility_interval', 'expiration'):
                    if key in body:
                        setattr(queue, key, int(body[key]))
                if 'tags' in body:
                    queue.tags = list(body['tags'])
                return self._reply(201 if created else 200, state.detail(queue))
            if queue is None:
                return self._reply(404, {'message': 'Queue not found'})
            if method == 'GET':
                return self._reply(200, state.detail(queue))
            if method == 'DELETE':
                if state.live(queue, time.time()) and query.get('force') != '1':
                    return self._reply(409, {'message': 'Queue is not empty'})
                del state.queues[name]
                for topic in state.topics.values():
                    topic.subscriptions = {
                        k: s for k, s in topic.subscriptions.items()
                        if s['endpoint'].get('queue_name') != name}
                return self._reply(202, {'message': 'Object queued for deletion'})
        if queue is None:
            return self._reply(404, {'message': 'Queue not found'})
        if rest[1:] == ['messages'] and method == 'POST':
            return self._reply(201, self._push(queue, body))
        if rest[1:] == ['messages'] and method == 'GET':
            batch = max(1, min(int(query.get('batch', 1)), 100))
            now = time.time()
            items: list[dict[str, Any]] = []
            for message in state.live(queue, now):
                if len(items) == batch:
                    break
                if message.visible_at <= now:
                    message.visible_at = now + queue.visibility_interval
                    items.append({'id': message.id, 'body': message.body,
                                  'fields': message.fields,
                                  'initial_entry_time': message.entered,
                                  'visibility_interval': queue.visibility_interval,
                                  'visibility_delay': 0})
            return self._reply(200, {'item_count': len(items), 'items': items})
        if len(rest) == 3 and rest[1] == 'messages' and method == 'DELETE':
            before = len(queue.messages)
            queue.messages = [m for m in queue.messages if m.id != rest[2]]
            if len(queue.messages) == before:
                return self._reply(404, {'message': 'Message not found'})
            return self._reply(202, {'message': 'Object queued for deletion'})
        return self._reply(405, {'message': 'Method not allowed'})

    def _push(self, queue: _Queue, body: Any) -> dict[str, Any]:
        now = time.time()
        message = _Message(uuid.uuid4().hex, str(body.get('body', '')),
                           dict(body.get('fields') or {}), now,
                           now + float(body.get('visibility_delay') or 0))
        queue.messages.append(message)
        return {'id': message.id, 'body': message.body, 'fields': message.fields}

    def _topics(self, method: str, rest: list[str], body: Any) -> None:
        state = self.server.state
        if not rest:
            items = [{'name': t.name, 'tags': t.tags} for t in state.topics.values()]
            return self._reply(200, {'item_count': len(items), 'items': items})
        name = rest[0]
        topic = state.topics.get(name)
        if len(rest) == 1 and method == 'PUT':
            if not _NAME.match(name):
                return self._reply(400, {'message': 'Invalid topic name'})
            created = topic is None
            topic = topic or state.topics.setdefault(name, _Topic(name))
            topic.tags = list(body.get('tags') or topic.tags)
            return self._reply(201 if created else 200, {'name': name, 'tags': topic.tags})
        if topic is None:
            return self._reply(404, {'message': 'Topic not found'})
        if len(rest) == 1 and method == 'GET':
            return self._reply(200, {'name': name, 'tags': topic.tags})
        if len(rest) == 1 and method == 'DELETE':
            del state.topics[name]
            return self._reply(202, {'message': 'Object queued for deletion'})
        if rest[1:] == ['messages'] and method == 'POST':
            for sub in topic.subscriptions.values():
                queue = state.queues.get(sub['endpoint'].get('queue_name', ''))
                if sub['endpoint_type'] == 'queue' and queue is not None:
                    self._push(queue, body)
            return self._reply(201, {'message': 'Message published'})
        if rest[1:] == ['subscriptions'] and method == 'GET':
            items = list(topic.subscriptions.values())
            return self._reply(200, {'item_count': len(items), 'items': items})
        if rest[1:] == ['subscriptions'] and method == 'POST':
            sub = {'id': uuid.uuid4().hex, 'endpoint_type': body.get('endpoint_type'),
                   'endpoint': dict(body.get('endpoint') or {})}
            topic.subscriptions[sub['id']] = sub
            return self._reply(201, sub)
        if len(rest) == 3 and rest[1] == 'subscriptions' and method == 'DELETE':
            if topic.subscriptions.pop(rest[2], None) is None:
                return self._reply(404, {'message': 'Subscription not found'})
            return self._reply(202, {'message': 'Object queued for deletion'})
        return self._reply(405, {'message': 'Method not allowed'})

    def do_GET(self) -> None:
        self._dispatch('GET')

    def do_PUT(self) -> None:
        self._dispatch('PUT')

    def do_POST(self) -> None:
        self._dispatch('POST')

    def do_DELETE(self) -> None:
        self._dispatch('DELETE')


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State
    fail_with_status = 0


class FakeSLMQ:
    """The fake service on ``127.0.0.1:<spare port>`` over TLS (``start``/``stop``)."""

    def __init__(self, account: str = 'acct', username: str = 'user',
                 api_key: str = 'apikey') -> None:
        self.account, self.username, self.api_key = account, username, api_key
        self._dir = tempfile.mkdtemp(prefix='fake-slmq-')
        self.certfile = os.path.join(self._dir, 'cert.pem')
        keyfile = os.path.join(self._dir, 'key.pem')
        subprocess.run(
            ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
             '-nodes', '-days', '1',
             '-keyout', keyfile, '-out', self.certfile, '-subj', '/CN=127.0.0.1',
             '-addext', 'subjectAltName=IP:127.0.0.1'],
            check=True, capture_output=True)
        self.server = _Server(('127.0.0.1', 0), _Handler)
        self.server.state = _State(account, username, api_key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certfile, keyfile)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def state(self) -> _State:
        return self.server.state

    @property
    def url(self) -> str:
        return f'slmq://{self.username}:{self.api_key}@127.0.0.1:{self.port}/{self.account}'

    def fail(self, status: int) -> None:
        """Answer every authenticated call with ``status`` (0: stop failing)."""
        self.server.fail_with_status = status

    def start(self) -> FakeSLMQ:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self._dir, ignore_errors=True)
