"""pyro:// on Pyro4 (the fallback when Pyro5 is not installed): a Pyro4 name server, the
broker and a client run in processes where Pyro5 cannot be imported."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from t.integration.private_pyro import ROOT
from t.servers import free_port, port_open

pytest.importorskip('Pyro4')

#: run before anything else in a process: makes ``import Pyro5`` fail.
BLOCK_PYRO5 = "import sys; sys.modules['Pyro5'] = sys.modules['Pyro5.api'] = None\n"


def python(code: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, '-c', BLOCK_PYRO5 + textwrap.dedent(code)],
                            env={**os.environ, 'PYTHONPATH': ROOT}, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_pyro4_name_server_broker_and_client():
    port = free_port()
    ns = subprocess.Popen([sys.executable, '-m', 'Pyro4.naming', '-n', '127.0.0.1', '-p',
                           str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    broker = None
    try:
        deadline = time.monotonic() + 20
        while not port_open('127.0.0.1', port, 0.2):
            assert ns.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        broker = python(f'''
            from kombu.transport import pyro
            assert pyro.pyro.__name__ == 'Pyro4', pyro.pyro
            pyro.main(['--ns-port', '{port}'])
        ''')
        assert broker.stdout is not None and 'registered' in broker.stdout.readline()
        client = python(f'''
            from kombu import Connection, Exchange, Producer, Queue
            from kombu.transport import pyro
            assert pyro.pyro.__name__ == 'Pyro4'
            with Connection('pyro://127.0.0.1:{port}/kombu.broker') as conn:
                fan = Exchange('p4-fan', 'fanout')
                queues = [Queue('p4-a', fan, max_priority=9), Queue('p4-b', fan)]
                for q in queues:
                    q(conn.default_channel).declare()
                producer = Producer(conn.default_channel)
                for priority in (1, 8):
                    producer.publish(f'p{{priority}}', exchange='p4-fan', priority=priority,
                                     serializer='json')
                for q in queues:
                    print([q(conn.default_channel).get(no_ack=True).payload for _ in range(2)])
        ''')
        out, err = client.communicate(timeout=60)
        assert client.returncode == 0, err
        assert out.splitlines() == ["['p8', 'p1']", "['p1', 'p8']"]
    finally:
        for process in (broker, ns):
            if process is not None:
                process.kill()
                process.wait(10)
