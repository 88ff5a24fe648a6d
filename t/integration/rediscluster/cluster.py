"""A private Redis Cluster on spare loopback ports, for tests that reshard or kill nodes."""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any

import pytest

from t.servers import IN_CI, port_open


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            return False
        return True


def _free_base(count: int) -> int:
    """A port P with P..P+count-1 and their bus ports (+10000) all free.

    Drawn from 10000-22000, so the bus ports stay below Linux's ephemeral range
    (32768+), where a client socket could take one between the check and the start.
    """
    for _ in range(200):
        base = random.randrange(10000, 22000)
        if all(_bindable(p) for i in range(count) for p in (base + i, base + i + 10000)):
            return base
    raise RuntimeError('no free port range for a Redis Cluster')


class PrivateCluster:
    """``masters`` redis-server nodes in cluster mode, ``replicas`` replicas per master."""

    def __init__(self, masters: int = 3, replicas: int = 0) -> None:
        self.count = masters * (1 + replicas)
        self.replicas = replicas
        self.dir = tempfile.mkdtemp(prefix='kombu-rcluster-')
        self.base = 0
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def ports(self) -> list[int]:
        return [self.base + i for i in range(self.count)]

    @property
    def url(self) -> str:
        return ';'.join(f'rediscluster://127.0.0.1:{p}' for p in self.ports)

    def start_node(self, port: int) -> None:
        node_dir = os.path.join(self.dir, str(port))
        os.makedirs(node_dir, exist_ok=True)
        self.procs[port] = subprocess.Popen(
            ['redis-server', '--bind', '127.0.0.1', '--port', str(port), '--dir', node_dir,
             '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
             '--cluster-node-timeout', '2000', '--cluster-replica-validity-factor', '0',
             '--save', '', '--appendonly', 'no'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> PrivateCluster:
        if shutil.which('redis-server') is None or shutil.which('redis-cli') is None:
            message = 'no redis-server/redis-cli (apt-get install redis-server)'
            if IN_CI:
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        for _attempt in range(3):  # a bus port (+10000) may be taken meanwhile: try another
            self.base = _free_base(self.count)
            for port in self.ports:
                self.start_node(port)
            deadline = time.monotonic() + 5
            while not all(port_open('127.0.0.1', p, 0.1) for p in self.ports):
                if time.monotonic() > deadline or any(
                        proc.poll() is not None for proc in self.procs.values()):
                    break
                time.sleep(0.05)
            else:
                break
            self._stop_nodes()
        else:
            raise RuntimeError('cluster nodes did not start')
        subprocess.run(
            ['redis-cli', '--cluster', 'create', *[f'127.0.0.1:{p}' for p in self.ports],
             '--cluster-replicas', str(self.replicas), '--cluster-yes'],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_ok()
        self.wait_replicas()
        return self

    def wait_replicas(self, timeout: float = 20) -> None:
        """Until every replica's link to its master is up (a failover needs one)."""
        if not self.replicas:
            return
        deadline = time.monotonic() + timeout
        while True:
            roles = [self.cli(p, 'info', 'replication') for p in self.ports if self.alive(p)]
            replicas = [r for r in roles if 'role:slave' in r]
            if len(replicas) >= self.count // (1 + self.replicas) * self.replicas and all(
                    'master_link_status:up' in r for r in replicas):
                return
            if time.monotonic() > deadline:
                raise RuntimeError('replicas did not sync')
            time.sleep(0.1)

    def cli(self, port: int, *args: str) -> str:
        return subprocess.run(['redis-cli', '-p', str(port), *args], check=True,
                              capture_output=True, text=True).stdout

    def wait_ok(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while True:
            live = [p for p in self.ports if self.alive(p)]
            if all('cluster_state:ok' in self.cli(p, 'cluster', 'info') for p in live):
                return
            if time.monotonic() > deadline:
                raise RuntimeError('cluster_state did not become ok')
            time.sleep(0.1)

    def alive(self, port: int) -> bool:
        proc = self.procs.get(port)
        return proc is not None and proc.poll() is None

    def kill(self, port: int) -> None:
        proc = self.procs[port]
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)

    def restart(self, port: int) -> None:
        """Start a killed node again in its old directory: it rejoins (a master that
        lost its slots to a promoted replica comes back as that replica's replica)."""
        self.start_node(port)
        deadline = time.monotonic() + 5
        while not port_open('127.0.0.1', port, 0.1):
            if time.monotonic() > deadline:
                raise RuntimeError(f'node {port} did not restart')
            time.sleep(0.05)

    def wait_failed_over(self, port: int, timeout: float = 20) -> None:
        """Until a replica took over the slots of the killed master ``port``.

        Not merely "marked failed": a master without persistence restarted
        before that comes back empty and still master, and its replica then
        syncs the empty data set (the messages would be gone).
        """
        deadline = time.monotonic() + timeout
        while True:
            node = self.node_ids()[port]
            if node['failed'] and not node['slots']:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f'no replica took over the slots of node {port}')
            time.sleep(0.1)
        self.wait_ok(timeout)

    def node_ids(self) -> dict[int, dict[str, Any]]:
        """port -> {'id', 'master', 'slots'} as CLUSTER NODES lists it (from a live node)."""
        port = next(p for p in self.ports if self.alive(p))
        nodes: dict[int, dict[str, Any]] = {}
        for line in self.cli(port, 'cluster', 'nodes').splitlines():
            fields = line.split()
            node_port = int(fields[1].split('@')[0].rsplit(':', 1)[1])
            nodes[node_port] = {'id': fields[0], 'master': 'master' in fields[2],
                                'failed': 'fail' in fields[2].split(','),  # 'fail?' is a suspicion
                                'slots': fields[8:]}
        return nodes

    def _stop_nodes(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    def stop(self) -> None:
        self._stop_nodes()
        shutil.rmtree(self.dir, ignore_errors=True)
