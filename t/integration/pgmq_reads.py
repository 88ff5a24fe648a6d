"""Counting the reads a pgmq:// connection issues (tests and bench/bench_pgmq_wait.py)."""
from __future__ import annotations

from collections import Counter
from typing import Any

#: the PGMQ client's methods that read a queue.
READS = ('read', 'read_with_poll', 'pop', 'read_grouped', 'read_grouped_with_poll')


def count_reads(conn: Any, methods: tuple[str, ...] = READS) -> Counter[str]:
    """Count, per method, the reads (or ``methods``) ``conn``'s PGMQ client issues from now on.

    The client's methods are wrapped, not replaced: each call still reaches the server.
    """
    client = conn.transport._get_pgmq_client()
    counts: Counter[str] = Counter()
    for method in methods:
        real = getattr(client, method)

        def counted(*args: Any, _real: Any = real, _method: str = method, **kw: Any) -> Any:
            counts[_method] += 1
            return _real(*args, **kw)
        setattr(client, method, counted)
    return counts
