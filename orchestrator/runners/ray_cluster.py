"""Connecting to Ray: an embedded local instance started for the sweep, or an existing cluster."""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from orchestrator import compat
from orchestrator.errors import RunCrashed, UserError, one_line
from orchestrator.runners import stopping
from orchestrator.runners.bundle import runtime_env


def vnode_resources(nodes: int) -> dict[str, float]:
    """One custom resource per virtual NUMA node; actors of node i ask for vnode_i."""
    return {f"vnode_{i}": 1000.0 for i in range(nodes)}


REACH_TIMEOUT_S = 10
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def _stay_on_loopback(address: str | None) -> None:
    """Ray swaps a loopback address for the machine's outward IP; a local instance (or a head on
    127.0.0.1) must stay on loopback. Ray reads this switch when it is first imported."""
    host = (address or "127.0.0.1").rsplit(":", 1)[0]
    if host in LOOPBACK_HOSTS:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def check_reachable(address: str) -> None:
    """A head that is not there fails in seconds with its cause, not after Ray's own minutes of
    retrying to reach its GCS."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_TIMEOUT_S).close()
    except ValueError:
        raise UserError(address, "--address", "expected HOST:PORT of a Ray head (e.g. 10.0.0.5:6379)") from None
    except OSError as exc:
        raise UserError(address, "--address", f"cannot reach a Ray head there: {exc.strerror or exc}") from None


@contextmanager
def ray_session(address: str | None, workers: int | None, nodes: int) -> Iterator[None]:
    """Start a local Ray for the sweep (shut down after) or join the cluster at `address`.
    Leaving (at the end, on an error or on a stop signal, see runners/stopping.py) ends our
    job, and with it Ray kills its tasks and actors; a Ray we started is shut down, and any
    process of it still alive is killed."""
    _stay_on_loopback(address)
    import ray

    env = {k: v for k, v in os.environ.items() if k.startswith("ORCH_")}
    mark = stopping.owner_mark() if address is None else None
    global _raylet
    with _ray_lines_to_log():
        try:
            with stopping.deferred():  # a Ctrl-C waits for ray.init: half a Ray is harder to stop
                _init(ray, address, workers, nodes, env, mark)
            stopping.take()
            stopping.check()
            _raylet = _raylet_of(mark) if mark is not None else None
            yield
        finally:
            _leave(ray, mark)


def _leave(ray, mark: str | None) -> None:
    global _raylet, _lost
    try:
        with stopping.deferred():
            if _raylet is None or _alive(_raylet):
                ray.shutdown(wait_for_processes=mark is not None)
            else:  # a Ray without its raylet cannot be shut down, and its core keeps writing: reap it
                _lost = True
            if mark is not None:
                stopping.reap(mark)
    finally:
        _raylet = None


_raylet: int | None = None  # the raylet of the Ray this process started, while it runs
_lost = False  # that raylet died: Ray's core stays in this process, writing to descriptor 2 until it ends


def _raylet_of(mark: str) -> int | None:
    for pid in stopping.marked(mark):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if b"raylet/raylet" in cmdline.read():
                    return pid
        except OSError:
            pass
    return None


def _alive(pid: int) -> bool:
    """Running, not a zombie (a raylet is our child: dead, it stays a zombie until Ray reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def check_raylet() -> None:
    """Called where the driver waits for Ray: Ray's C++ core ends this process without a word
    some seconds after the raylet of the Ray it started dies; orch says so first, in one line
    (what the sweep finished is kept, as on any failure)."""
    if _raylet is not None and not _alive(_raylet):
        raise RunCrashed(f"the raylet of orch's Ray (pid {_raylet}) died: what was finished is kept, the same "
                         f"command resumes the rest (Ray's messages: {_log_path()})")


def _log_path() -> str:
    return os.path.join(tempfile.gettempdir(), f"orch-ray-{os.getpid()}.log")


@contextmanager
def _ray_lines_to_log() -> Iterator[None]:
    """While Ray runs, what its C++ core writes to file descriptor 2 (a lost raylet, objects it
    cannot recover) goes to TMP/orch-ray-PID.log; orch's own lines (sys.stderr) still reach the
    terminal. Skipped where sys.stderr is not descriptor 2 (a test capturing it)."""
    try:
        ours = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        ours = False
    if not ours:
        yield
        return
    path = _log_path()
    sys.stderr.flush()
    terminal = os.dup(2)
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 2)
    os.close(log)
    saved = sys.stderr
    sys.stderr = open(terminal, "w", buffering=1, encoding=saved.encoding, errors="backslashreplace",
                      closefd=False)
    try:
        yield
    finally:
        sys.stderr.flush()
        if not _lost:  # else descriptor 2 stays on the log, orch's lines on the terminal, to the end
            os.dup2(terminal, 2)
            os.close(terminal)
            sys.stderr = saved
            if os.path.exists(path) and os.path.getsize(path) == 0:
                os.unlink(path)


def _init(ray, address: str | None, workers: int | None, nodes: int, env: dict, mark: str | None) -> None:
    try:
        if address is None:
            assert mark is not None  # a Ray orch starts carries its mark (ray_session)
            with compat.ray_in_own_sessions(), stopping.marking(mark):  # a Ctrl-C reaches orch alone
                ray.init(num_cpus=workers or os.cpu_count(), resources=vnode_resources(nodes),
                         include_dashboard=False, log_to_driver=False, configure_logging=False,
                         runtime_env={"env_vars": env} if env else None)
        elif address == "auto" or os.environ.get("RAY_JOB_ID"):
            ray.init(address=address, log_to_driver=False, configure_logging=False)  # inside a job
        else:  # the cluster's workers get orch (and plugins) from us: see runners/bundle.py
            check_reachable(address)
            with tempfile.TemporaryDirectory() as folder:  # uploaded by ray.init
                ray.init(address=address, log_to_driver=False, configure_logging=False,
                         runtime_env={**runtime_env(Path(folder)), **({"env_vars": env} if env else {})})
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise UserError(address or "ray", "--address", f"cannot start or reach Ray: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - Ray raises bare Exception, e.g. a node that timed out starting
        raise RunCrashed(f"cannot start Ray: {one_line(str(exc))}") from None
    except SystemExit as exc:  # SIGTERM while ray.init ran: Ray's handler exits; stop as ours would
        if exc.code != signal.SIGTERM:
            raise
        stopping.noted_sigterm()
