"""Per-message serialization cost: this package vs upstream Kombu vs bare json.

Run: python bench/bench_serialization.py [--n 50000]

Upstream Kombu runs in its throw-away virtualenv (t/upstream.py) on the same
machine in the same run, with the same script, so the numbers are comparable.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = r'''
import json, sys, timeit, zlib
from kombu import serialization, compression
n = int(sys.argv[1])
body = {"task": "proj.tasks.add", "id": "9a7c3a0e-62a5-4b0f-9f0a-2f8a6f0b2f7e",
        "args": [1, 2], "kwargs": {"x": "y" * 40}, "retries": 0, "eta": None}
accept = serialization.prepare_accept_content(["json"])
ct, ce, payload = serialization.dumps(body, "json")
raw = payload.encode()
gz, gzt = compression.compress(raw, "gzip")
cases = {
    "dumps json": lambda: serialization.dumps(body, "json"),
    "loads json (accept)": lambda: serialization.loads(raw, ct, ce, accept=accept),
    "loads json (no accept)": lambda: serialization.loads(raw, ct, ce),
    "dumps bytes (no serializer)": lambda: serialization.dumps(raw),
    "decompress gzip": lambda: compression.decompress(gz, gzt),
    "stdlib json.dumps (floor)": lambda: json.dumps(body),
    "stdlib json.loads (floor)": lambda: json.loads(raw),
}
out = {}
for name, fn in cases.items():
    best = min(timeit.repeat(fn, number=n, repeat=5))
    out[name] = best / n * 1e9
print(json.dumps(out))
'''


def run(python: str, n: int, cwd: str, env: dict[str, str]) -> dict[str, float]:
    proc = subprocess.run([python, '-c', SCRIPT, str(n)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, check=True)
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--n', type=int, default=50000)
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=ROOT)
    ours = run(sys.executable, args.n, ROOT, env)
    sys.path.insert(0, ROOT)
    from t.upstream import upstream_python
    upstream_env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    theirs = run(str(upstream_python()), args.n, '/', upstream_env)
    print(f'{"operation (ns per call, best of 5)":38} {"this":>8} {"upstream":>9} {"ratio":>6}')
    for name in ours:
        ratio = ours[name] / theirs[name] if theirs.get(name) else float('nan')
        print(f'{name:38} {ours[name]:8.0f} {theirs.get(name, float("nan")):9.0f} '
              f'{ratio:6.2f}')


if __name__ == '__main__':
    main()
