"""A real Ray head for tests: loopback, free ports, token auth; stopped by its process group."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayHead:
    def __init__(self, tmp: Path, nodes: int = 4):
        self.port, self.dashboard = free_port(), free_port()
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
                    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # keep every Ray address on loopback
                    # the cluster's Python is this one, with orch's dependencies (jobs run `python`)
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        resources = "{" + ",".join(f'"vnode_{i}": 1000' for i in range(nodes)) + "}"
        self.proc = subprocess.Popen(
            [RAY, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={self.port}",
             "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dashboard}", "--include-dashboard=true",
             # every port the head opens is a free one: another Ray on this machine keeps the defaults
             *(f"--{flag}={free_port()}" for flag in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                                       "runtime-env-agent-port", "metrics-export-port")),
             "--num-cpus=2", f"--resources={resources}", f"--temp-dir={tmp}/ray", "--disable-usage-stats"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self._wait()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.dashboard}"

    def _wait(self, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("ray head exited")
            try:
                with socket.create_connection(("127.0.0.1", self.dashboard), timeout=1):
                    time.sleep(2)  # the jobs API comes up just after the port opens
                    return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("ray head did not come up")

    def stop(self) -> None:
        """Stop exactly what this head started: its own process group."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
