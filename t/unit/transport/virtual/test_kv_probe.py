"""ThrottledProbe: how often etcd's and Consul's verify_connection reach the server."""
from __future__ import annotations

from typing import Callable

from kombu.transport.virtual.kv import ThrottledProbe


def counting(results: list[bool]) -> tuple[list[int], Callable[[], bool]]:
    calls = [0]

    def probe() -> bool:
        calls[0] += 1
        return results[min(calls[0], len(results)) - 1]
    return calls, probe


def test_a_success_answers_for_the_interval() -> None:
    calls, probe = counting([True])
    reachable = ThrottledProbe(interval=60)
    assert all(reachable(probe) for _ in range(100))
    assert calls[0] == 1


def test_a_failure_is_not_remembered() -> None:
    calls, probe = counting([False, False, True])
    reachable = ThrottledProbe(interval=60)
    assert [reachable(probe) for _ in range(4)] == [False, False, True, True]
    assert calls[0] == 3


def test_interval_zero_probes_every_time() -> None:
    calls, probe = counting([True])
    reachable = ThrottledProbe(interval=0)
    for _ in range(5):
        assert reachable(probe)
    assert calls[0] == 5


def test_etcd_and_consul_verify_through_one_probe_each() -> None:
    from kombu import Connection
    for url in ('etcd://127.0.0.1:1', 'consul://127.0.0.1:1'):
        conn = Connection(url)
        try:
            transport = conn.transport
        except ImportError:  # the store's client library is an optional extra
            continue
        probes = [0]

        def probe(connection: object, probes: list[int] = probes) -> bool:
            probes[0] += 1
            return True
        transport._probe = probe
        for _ in range(10):
            assert transport.verify_connection(conn)
        assert probes[0] == 1, url
