"""Failover between alternates of different schemes (``redis://a;memory://``).

As in Kombu 5.x, an alternate URL names its own transport: after the switch
the connection is that transport's, with none of the first URL's host, port
or credentials; a plain host name (or a URL of the first scheme) keeps the
first URL's transport and credentials.
"""
from __future__ import annotations

import socket

from kombu import Connection
from kombu.asyncio import AsyncConnection, ThreadRunner
from t.servers import unique_name
from t.unit.asyncio.common import run


def dead_port() -> int:
    """A local port nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


def test_switch_to_another_scheme_takes_its_transport() -> None:
    conn = Connection('amqp://user:secret@foo:5673//;redis://example.com/3')
    conn.maybe_switch_next()
    assert conn.transport_cls == 'redis'
    assert (conn.hostname, conn.port, conn.virtual_host) == ('example.com', None, '3')
    assert conn.userid is None and conn.password is None
    conn.maybe_switch_next()  # and back: the first URL whole again
    assert conn.transport_cls == 'amqp' and conn.hostname == 'foo'
    assert (conn.port, conn.userid, conn.password) == (5673, 'user', 'secret')


def test_plain_host_alternate_keeps_transport_and_credentials() -> None:
    conn = Connection('amqp://user:secret@foo:5673//;bar')
    conn.maybe_switch_next()
    assert (conn.transport_cls, conn.hostname) == ('amqp', 'bar')
    assert (conn.port, conn.userid, conn.password) == (5673, 'user', 'secret')


def test_dead_redis_fails_over_to_memory() -> None:
    name = unique_name('xscheme')
    port = dead_port()
    seen: list[str] = []
    with Connection(f'redis://127.0.0.1:{port}/0;memory://') as conn:
        conn.ensure_connection(errback=lambda exc, interval: seen.append(type(exc).__name__),
                               max_retries=2, interval_start=0)
        assert conn.transport_cls == 'memory' and conn.as_uri() == 'memory://localhost//'
        assert len(seen) == 1  # one refused redis attempt, then memory
        queue = conn.SimpleQueue(name)
        queue.put({'n': 1})
        message = queue.get(timeout=1)
        assert message.payload == {'n': 1}
        message.ack()
        assert queue.qsize() == 0
        queue.close()


def test_async_dead_redis_fails_over_to_memory() -> None:
    name = unique_name('xscheme-aio')
    port = dead_port()

    async def main() -> tuple[str, object]:
        conn = AsyncConnection(f'redis://127.0.0.1:{port}/0;memory://')
        # redis is among the alternates: its blocking calls need the thread
        assert isinstance(conn.runner, ThreadRunner)
        async with conn:
            queue = conn.SimpleQueue(name)
            await queue.put('hello')
            message = await queue.get(timeout=1)
            await message.ack()
            return conn.transport_name, message.payload

    assert run(main()) == ('memory', 'hello')


def test_async_memory_first_with_other_alternates_uses_the_thread() -> None:
    conn = AsyncConnection('memory://;redis://127.0.0.1:6379/0')
    assert isinstance(conn.runner, ThreadRunner)
    conn.runner.close()
    assert AsyncConnection('memory://').runner.native
