"""What waiting for a replica (``replica_wait``) costs rediscluster:// publishes and acks.

Usage::

    python bench/bench_rediscluster_wait.py [--messages 2000] [--rounds 3]

Starts a private cluster of three masters with one replica each (``WAIT`` needs
replicas; the shared CI cluster has none), then in the same run, alternating,
publishes ``--messages`` Celery-shaped messages to one queue and consumes them
(each acked) with ``replica_wait=0`` (no wait: Redis' asynchronous replication)
and with ``replica_wait=1`` (each publish and ack returns once a replica has it).
Prints the median msg/s of each and the ratio.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'bench'))

from bench_rediscluster import queues_round  # noqa: E402  (the same rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--messages', type=int, default=2000)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    from t.integration.rediscluster.cluster import PrivateCluster
    setup = PrivateCluster(masters=3, replicas=1).start()
    try:
        rounds: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
        for _ in range(args.rounds):
            for replicas in rounds:  # alternating: both see the same machine load
                rounds[replicas].append(
                    queues_round(setup.url, args.messages, 1, {'replica_wait': replicas}))
        medians = {f'replica_wait={r}': (statistics.median(p for p, _ in v),
                                         statistics.median(c for _, c in v))
                   for r, v in rounds.items()}
        print(f'{args.messages} messages, one queue, 3 masters + 1 replica each, '
              f'median of {args.rounds} rounds (consume: each message acked)')
        print(f'{"":<18}{"publish msg/s":>15}{"consume msg/s":>15}')
        for name, (publish, consume) in medians.items():
            print(f'{name:<18}{publish:>15.0f}{consume:>15.0f}')
        (p0, c0), (p1, c1) = medians.values()
        print(f'{"1 / 0":<18}{p1 / p0:>15.2f}{c1 / c0:>15.2f}')
    finally:
        setup.stop()


if __name__ == '__main__':
    main()
