"""Event loop (Hub/Timer/eventio) costs: this package vs upstream Kombu 5.7.

Run: python bench/bench_hub.py [--n 20000] [--rounds 3]

The same script runs under this package and under upstream Kombu in its
throw-away virtualenv (t/upstream.py), in the same run on the same machine.
Rounds alternate between the two; numbers are the best over all rounds
(ns per operation), as the machine is shared and noisy.

Workloads
    call_soon + loop      queue a callback, run it in the next loop iteration
    call_later + fire     schedule a due timer entry and fire it
    reader dispatch       one loop iteration with 64 readable sockets: poll,
                          look up and call each reader (ns per event)
    add/remove writer     hub.add(fd, None, WRITE|ERR, consolidate=True) then
                          hub.remove(fd), as Celery's pool does every tick
    TokenBucket           can_consume() on a bucket that always has tokens
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = r'''
import json, socket, sys, time
from kombu.asynchronous import Hub, WRITE, ERR
from kombu.utils.limits import TokenBucket

n = int(sys.argv[1])
out = {}

def best(fn, per):
    times = []
    for _ in range(5):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) / per * 1e9

def noop(*a):
    pass

hub = Hub()
keep = socket.socketpair()
keep[1].send(b'x')  # always readable, so no loop iteration blocks in poll
hub.add_reader(keep[0], noop)
loop = hub.create_loop()
next(loop)

def soon():
    for _ in range(n // 100):
        for _ in range(100):
            hub.call_soon(noop)
        next(loop)
out['call_soon + loop'] = best(soon, n)

def later():
    for _ in range(n // 100):
        for _ in range(100):
            hub.call_later(0, noop)
        hub.fire_timers(max_timers=100)
out['call_later + fire'] = best(later, n)

pairs = [socket.socketpair() for _ in range(64)]
for a, b in pairs:
    b.send(b'x')  # stays readable: level-triggered
    hub.add_reader(a, noop, a)
def dispatch():
    for _ in range(n // 64):
        next(loop)
out['reader dispatch (per event)'] = best(dispatch, (n // 64) * 65)
for a, b in pairs:
    hub.remove(a)

w = pairs[0][1]
def addremove():
    for _ in range(n):
        hub.add(w, None, WRITE | ERR, consolidate=True)
        hub.remove(w)
out['add/remove consolidated writer'] = best(addremove, n)

bucket = TokenBucket(1e12, capacity=1e12)
def consume():
    for _ in range(n):
        bucket.can_consume(1)
out['TokenBucket.can_consume'] = best(consume, n)
hub.close()
print(json.dumps(out))
'''


def run(python: str, n: int, cwd: str, env: dict[str, str]) -> dict[str, float]:
    proc = subprocess.run([python, '-c', SCRIPT, str(n)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, check=True)
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--n', type=int, default=20000)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=ROOT)
    sys.path.insert(0, ROOT)
    from t.upstream import upstream_python
    upstream = str(upstream_python())
    upstream_env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    ours: dict[str, float] = {}
    theirs: dict[str, float] = {}
    for _ in range(args.rounds):
        for result, got in ((ours, run(sys.executable, args.n, ROOT, env)),
                            (theirs, run(upstream, args.n, '/', upstream_env))):
            for name, value in got.items():
                result[name] = min(value, result.get(name, value))
    print(f'{"operation (ns per op, best)":34} {"this":>8} {"upstream":>9} {"ratio":>6}')
    for name in ours:
        ratio = ours[name] / theirs[name] if theirs.get(name) else float('nan')
        print(f'{name:34} {ours[name]:8.0f} {theirs.get(name, float("nan")):9.0f} {ratio:6.2f}')


if __name__ == '__main__':
    main()
