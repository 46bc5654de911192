"""One meaning per address flag: sweep, measure and calibrate take a Ray head's GCS (HOST:PORT)
from --address only and check that a GCS answers there, in seconds; submit and jobs take the
dashboard's URL, from --address or $RAY_ADDRESS. A wrong kind of address is one line saying
which is wanted."""

from __future__ import annotations

import os
import socket
from concurrent import futures

import grpc
import pytest
import yaml

from orchestrator.runners.ray_cluster import RAY_JOB_DRIVER, forget_ray_address

COMMANDS = [["sweep", "quick"], ["measure", "spawn", "--copies", "1"],
            ["calibrate", "curve.csv", "-t", "ideal", "-w", "execl", "--backend", "ray"]]


@pytest.fixture
def run_with_address(orch, tmp_path):
    """orch COMMAND --address ADDRESS, with the files the commands name."""
    (tmp_path / "curve.csv").write_text("copies,throughput_per_s\n1,5000\n")

    def run(command: list[str], address: str):
        command = [str(tmp_path / c) if c == "curve.csv" else c for c in command]
        return orch(*command, "--address", address, "--out", str(tmp_path / "out"))

    return run


def assert_one_line(result, *words: str) -> None:
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert all(word in result.err for word in words), result.err


@pytest.mark.parametrize("command", COMMANDS)
def test_a_listener_that_is_not_a_head_is_one_line(run_with_address, command):
    with socket.socket() as listener:  # accepts connections (the kernel does) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        result = run_with_address(command, f"127.0.0.1:{listener.getsockname()[1]}")
    assert_one_line(result, "not a Ray head listens there", "wants the GCS address HOST:PORT")


@pytest.fixture
def grpc_server():
    """A gRPC server on a free loopback port; `answer(code)` sets the status its CheckAlive
    returns and gives its address."""
    state = {"code": None}

    def check_alive(request, context):
        context.abort(state["code"], "as told")

    handler = grpc.method_handlers_generic_handler("ray.rpc.NodeInfoGcsService", {
        "CheckAlive": grpc.unary_unary_rpc_method_handler(check_alive)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()

    def answer(code):
        state["code"] = code
        return f"127.0.0.1:{port}"

    yield answer
    server.stop(None)


def test_a_grpc_server_other_than_a_gcs_is_one_line(run_with_address, grpc_server):
    result = run_with_address(["sweep", "quick"], grpc_server(grpc.StatusCode.UNIMPLEMENTED))  # as any other
    assert_one_line(result, "a gRPC server other than a GCS", "wants the GCS address")


def test_a_head_that_wants_a_token_says_so(run_with_address, grpc_server, monkeypatch):
    """A GCS with token authentication refuses a call without one: that is a GCS answering. Only
    when orch has no token mode set is it the user's to fix."""
    monkeypatch.delenv("RAY_AUTH_MODE")
    result = run_with_address(["sweep", "quick"], grpc_server(grpc.StatusCode.UNAUTHENTICATED))
    assert_one_line(result, "the cluster wants a token", "RAY_AUTH_MODE=token", "orch docs cluster")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_dashboard_url_given_for_a_gcs_is_one_line(run_with_address, command):
    result = run_with_address(command, "http://127.0.0.1:8265")
    assert_one_line(result, "wants the GCS address HOST:PORT", "not the dashboard URL")


@pytest.mark.parametrize("args", [["submit", "quick", "--out", "/data/orch"], ["jobs", "list"]])
@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_gcs_address_given_for_the_dashboard_is_one_line(orch, monkeypatch, args, how):
    if how == "flag":
        args = [*args, "--address", "127.0.0.1:6379"]
    else:
        monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert_one_line(orch(*args), "wants the dashboard URL http://HOST:8265")


def test_a_sweep_ignores_ray_address(orch, tmp_path, monkeypatch):
    """A leftover export of the dashboard URL neither sends a local sweep to a cluster nor fails it."""
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump({"name": "here", "topologies": ["ideal"], "strategies": [{"name": "single"}],
                                    "workloads": [{"file": "closed-loop"}], "copies": [1], "duration_ms": 1,
                                    "replications": 1}))
    monkeypatch.setenv("RAY_ADDRESS", "http://127.0.0.1:1")
    result = orch("sweep", spec, "--backend", "local", "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert (tmp_path / "out" / "table=runs").is_dir()


def test_ray_address_is_cleared_before_ray_reads_it_and_said_once(monkeypatch, capsys):
    monkeypatch.setenv("RAY_ADDRESS", "http://head:8265")
    monkeypatch.delenv(RAY_JOB_DRIVER, raising=False)
    forget_ray_address()
    forget_ray_address()
    err = capsys.readouterr().err
    assert "RAY_ADDRESS" not in os.environ
    assert err.count("\n") == 1 and "ignoring $RAY_ADDRESS=http://head:8265" in err and "--address" in err


def test_inside_a_submitted_job_ray_address_is_rays_own(monkeypatch, capsys):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")  # Ray's job supervisor sets both
    monkeypatch.setenv(RAY_JOB_DRIVER, "{}")
    forget_ray_address()
    assert os.environ["RAY_ADDRESS"] == "10.0.0.5:6379" and capsys.readouterr().err == ""
