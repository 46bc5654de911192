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


REPLY_TIMEOUT_S = 10  # a busy head still answers in well under this
RAY_JOB_DRIVER = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # what Ray's job supervisor sets for a job's driver, with RAY_ADDRESS
GCS_WANTED = "wants the GCS address HOST:PORT of a Ray head (port 6379 by default)"


def check_head(address: str) -> None:
    """`address` is a Ray head's GCS, answering: fail in seconds with the cause, not after Ray's
    own minutes of retrying (with C++ warnings) against an absent head or another server."""
    if "://" in address.removeprefix("ray://"):
        raise UserError(address, "--address", f"{GCS_WANTED}, not the dashboard URL (that is for orch submit)")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_TIMEOUT_S).close()
    except ValueError:
        raise UserError(address, "--address", f"{GCS_WANTED}, e.g. 10.0.0.5:6379") from None
    except OSError as exc:
        raise UserError(address, "--address", f"cannot reach a Ray head there: {exc.strerror or exc}") from None
    if not address.startswith("ray://") and os.environ.get("RAY_USE_TLS", "0").lower() in ("0", "false", ""):
        _ask_gcs(address)


def _ask_gcs(address: str) -> None:
    """One call a GCS serves (with a token or without: it answers either way), to tell a GCS from
    the dashboard, Ray's client server or any other listener."""
    import grpc  # a dependency of Ray's

    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary("/ray.rpc.NodeInfoGcsService/CheckAlive",
                                   request_serializer=bytes, response_deserializer=bytes)
        try:
            call(b"", timeout=REPLY_TIMEOUT_S)  # an empty message is a valid request
            return
        except grpc.RpcError as exc:
            code = exc.code()  # a failed call is also a grpc.Call
    if code == grpc.StatusCode.UNAUTHENTICATED:
        if os.environ.get("RAY_AUTH_MODE") == "token":
            return  # ours carried no token; Ray's will
        raise UserError(address, "--address", "the cluster wants a token: export RAY_AUTH_MODE=token and "
                                              "RAY_AUTH_TOKEN (orch docs cluster)")
    what = {grpc.StatusCode.UNIMPLEMENTED: "a gRPC server other than a GCS (Ray's client server?)",
            grpc.StatusCode.UNAVAILABLE: "a server that does not speak gRPC (the dashboard?)"}
    raise UserError(address, "--address", f"{what.get(code, 'something that is not a Ray head')} listens there: "
                                          f"{GCS_WANTED}")


def forget_ray_address() -> None:
    """$RAY_ADDRESS is the dashboard URL of orch submit and orch jobs; the commands that run Ray
    here (sweep, measure, calibrate) take a cluster from --address only, and ray.init would read
    the variable itself. A submitted job's driver gets it from Ray, with the job's config: kept."""
    if RAY_JOB_DRIVER in os.environ:
        return
    value = os.environ.pop("RAY_ADDRESS", None)
    if value:
        print(f"orch: ignoring $RAY_ADDRESS={value}: it is for orch submit and orch jobs; "
              "this command joins a cluster only with --address", file=sys.stderr)


@contextmanager
def ray_session(address: str | None, workers: int | None, nodes: int) -> Iterator[None]:
    """Start a local Ray for the sweep (shut down after) or join the cluster at `address`.
    Leaving (at the end, on an error or on a stop signal, see runners/stopping.py) ends our
    job, and with it Ray kills its tasks and actors; a Ray we started is shut down, and any
    process of it still alive is killed."""
    forget_ray_address()
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
            check_head(address)
            with tempfile.TemporaryDirectory() as folder:  # uploaded by ray.init
                ray.init(address=address, log_to_driver=False, configure_logging=False,
                         runtime_env={**runtime_env(Path(folder)), **({"env_vars": env} if env else {})})
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise UserError(address or "ray", "--address", f"cannot start or reach Ray: {exc}") from None
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - Ray raises bare Exception, e.g. a node that timed out starting
        raise RunCrashed(f"cannot start Ray: {one_line(str(exc))}") from None
    except SystemExit as exc:  # SIGTERM while ray.init ran: Ray's handler exits; stop as ours would
        if exc.code != signal.SIGTERM:
            raise
        stopping.noted_sigterm()
