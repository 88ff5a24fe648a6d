"""sqla:// shares its tables with upstream Kombu 5.7 (run in its own virtualenv).

Upstream creates the tables (its schema: no priority, claim or arguments
columns); this transport adds its columns to them, consumes what upstream
published, and upstream consumes what this transport published.
"""
from __future__ import annotations

import json
import subprocess

import pytest

from kombu import Connection
from t.upstream import run_upstream, upstream_python

pytest.importorskip('sqlalchemy')


def _upstream_with_sqlalchemy() -> None:
    python = str(upstream_python())
    if subprocess.run([python, '-c', 'import sqlalchemy'], capture_output=True).returncode:
        subprocess.run([python, '-m', 'pip', 'install', '-q', 'sqlalchemy'], check=True,
                       capture_output=True, timeout=300)


def test_upstream_and_this_package_share_the_tables(tmp_path) -> None:
    _upstream_with_sqlalchemy()
    url = f'sqla+sqlite:///{tmp_path / "shared.db"}'
    run_upstream(f'''
        from kombu import Connection
        with Connection({url!r}) as conn:
            queue = conn.SimpleQueue('golden')
            for n in range(3):
                queue.put({{'from': 'upstream', 'n': n}}, priority=0)
            queue.close()
    ''')
    with Connection(url) as conn:
        queue = conn.SimpleQueue('golden')
        got = []
        for _ in range(3):
            message = queue.get(timeout=5)
            got.append(message.payload)
            message.ack()
        assert got == [{'from': 'upstream', 'n': n} for n in range(3)]
        for n in range(3):
            queue.put({'from': 'us', 'n': n})
        queue.close()
    out = run_upstream(f'''
        import json
        from kombu import Connection
        with Connection({url!r}) as conn:
            queue = conn.SimpleQueue('golden')
            got = []
            for _ in range(3):
                message = queue.get(timeout=5)
                got.append(message.payload)
                message.ack()
            queue.close()
        print(json.dumps(got))
    ''')
    assert json.loads(out.strip().splitlines()[-1]) == [{'from': 'us', 'n': n} for n in range(3)]
