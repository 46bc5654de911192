"""A real Ray cluster for tests: a head and a second node on this machine, loopback, free ports,
token auth; stopped by their process groups.

The head has no CPUs, so runs go to the second node, as they would on a real cluster. Both
run `python` (default: this one), and nothing puts its folder on PATH: a job must find its
Python itself.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayHead:
    def __init__(self, tmp: Path, python: Path | str = sys.executable, nodes: int = 4):
        self.port, self.dashboard = free_port(), free_port()
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
                    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # keep every Ray address on loopback
        resources = "{" + ",".join(f'"vnode_{i}": 1000' for i in range(nodes)) + "}"
        self.procs: list[subprocess.Popen] = []
        self._start(python, tmp / "h", "--head", f"--port={self.port}", "--dashboard-host=127.0.0.1",
                    f"--dashboard-port={self.dashboard}", "--include-dashboard=true", "--num-cpus=0")
        self._wait(self.dashboard)
        # Ray's loopback switch also forbids a second node, and with it off Ray swaps 127.0.0.1 for
        # the machine's outward address, where the head does not listen: the second node names the
        # head by the IPv6 form of 127.0.0.1, which Ray leaves alone, and itself by --node-ip-address
        agent = self._start(python, tmp / "n", f"--address=[::ffff:127.0.0.1]:{self.port}", "--num-cpus=2",
                            f"--resources={resources}", f"--node-manager-port={free_port()}",
                            f"--object-manager-port={free_port()}",
                            env={**self.env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"})
        self._wait(agent)

    def _start(self, python: Path | str, temp: Path, *flags: str, env: dict | None = None) -> int:
        """Start a node; returns the port of its dashboard agent, open once the node is up."""
        # every port a node opens is a free one: another Ray on this machine keeps the defaults
        agent, grpc, runtime_env, metrics = (free_port() for _ in range(4))
        self.procs.append(subprocess.Popen(
            [str(python), "-m", "ray.scripts.scripts", "start", "--block", "--node-ip-address=127.0.0.1", *flags,
             f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={grpc}",
             f"--runtime-env-agent-port={runtime_env}", f"--metrics-export-port={metrics}",
             f"--temp-dir={temp}", "--disable-usage-stats"],
            env=env or self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        return agent

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.dashboard}"

    def _wait(self, port: int, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(proc.poll() is not None for proc in self.procs):
                self.stop()
                raise RuntimeError("a ray node exited")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    time.sleep(2)  # the jobs API comes up just after the port opens
                    return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("a ray node did not come up")

    def stop(self) -> None:
        """Stop exactly what this cluster started: its own process groups, the second node first."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
