"""`orch submit` and `orch jobs`: run a sweep on a remote Ray cluster through the Jobs API.

The sweep runs as a Ray job: its driver runs on the cluster, in a working directory holding
the spec and the files it names, with orch and its plugins installed from the wheels that
runners/bundle.py packs. It joins the cluster (--address auto) and writes the dataset where
--out says, which must be a place the cluster can write and you can read (an object store
URI, a shared filesystem, or a path on the head you fetch from). A cluster with token
authentication wants both RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (docs/cluster.md); --address
defaults to RAY_ADDRESS.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING
from unittest.mock import patch

import typer

from orchestrator.cli.catalog import table
from orchestrator.cli.sweep import Layout, load_sweep
from orchestrator.errors import UserError
from orchestrator.plan import expand_sweep
from orchestrator.runners.bundle import SPEC, bundle_spec, runtime_env

if TYPE_CHECKING:
    from ray.job_submission import JobDetails

app = typer.Typer(help="List, follow and stop submitted sweeps.", no_args_is_help=True)
ADDRESS = typer.Option(..., "--address", envvar="RAY_ADDRESS", show_envvar=False,
                       help="the cluster's dashboard, http://HEAD:8265 (default: $RAY_ADDRESS)")
SWEEP_KEY = "orch_sweep"  # job metadata: the sweep's name
AGENT_WAIT_S = 60  # how long to wait for a freshly started head's job agent


def _client(address: str):
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    for handler in logging.getLogger("ray").handlers:  # every Ray message passes here: keep its
        handler.setLevel(logging.WARNING)               # notes on packing and uploading quiet
    try:
        with patch.dict(os.environ):  # Ray would let these variables override the --address given
            for name in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
                os.environ.pop(name, None)
            return JobSubmissionClient(address)
    except AuthenticationError as exc:  # its str() is a page of advice; ours is the one line that fits
        raise UserError(address, "--address", f"{one_line(exc.message)}: export RAY_AUTH_MODE=token and "
                                              "RAY_AUTH_TOKEN (see docs/cluster.md)") from None
    except Exception as exc:  # ConnectionError, bad URLs: all the user's to fix
        raise UserError(address, "--address", f"cannot reach the Ray Jobs API: {one_line(str(exc))}") from None


def one_line(text: str) -> str:
    return " ".join(text.split())


def _is_remote_safe(output: str) -> bool:
    return "://" in output or Path(output).is_absolute()


def submit(
    spec_file: str = typer.Argument(..., metavar="SPEC", help="sweep YAML"),
    address: str = ADDRESS,
    out: str | None = typer.Option(None, "--out", help="dataset URI or absolute path on the cluster"),
    workers: int = typer.Option(2, "--workers", min=1, help="runs in flight at once"),
    layout: Layout = typer.Option(Layout.task, "--layout", help="task or actors"),
) -> None:
    """Submit a sweep as a Ray job; prints the job id once the sweep has started on the cluster."""
    spec, _ = load_sweep(spec_file)
    output = out or spec.output
    if not _is_remote_safe(output):
        raise UserError(spec_file, "output", f"{output!r} is relative: the job's working directory is "
                                             "temporary; give --out an absolute path or a URI")
    expand_sweep(spec, spec_file)  # every error a spec can have, before anything is sent
    # The Python of the virtualenv Ray makes for the job's wheels: the cluster's `python` may lack orch.
    entry = (f'"$VIRTUAL_ENV/bin/python" -m orchestrator sweep {SPEC} --address auto --workers {workers} '
             f"--layout {layout.value} --out {shlex.quote(output)}")
    client = _client(address)
    with tempfile.TemporaryDirectory() as folder:  # uploaded by submit_job
        bundle_spec(spec, Path(folder))
        env = runtime_env(Path(folder))
        deadline = time.monotonic() + AGENT_WAIT_S
        while True:
            try:
                job = client.submit_job(entrypoint=entry, runtime_env=env, metadata={SWEEP_KEY: spec.name})
                break
            except Exception as exc:  # a head that just started has no job agent for a few seconds
                if "No available agent" in str(exc) and time.monotonic() < deadline:
                    time.sleep(2)
                    continue
                raise UserError(address, "--address", f"submission failed: {one_line(str(exc))}") from None
    print(job, flush=True)
    _wait_for_start(client, job)


def _wait_for_start(client, job: str) -> None:
    """Return once the sweep's driver has joined the cluster (it has passed installing orch,
    importing and planning) or the job succeeded; a job that ended otherwise failed to start."""
    while True:
        info = client.get_job_info(job)
        if info.status == "SUCCEEDED" or (info.driver_info and not info.status.is_terminal()):
            return
        if info.status.is_terminal():
            reason = (info.message or "").strip().splitlines() or [info.status.value]  # its last line says why
            print(f"orch: failed: job {job} did not start: {reason[-1].strip()} (orch jobs logs {job} "
                  "has the rest)", file=sys.stderr)
            raise typer.Exit(1)
        time.sleep(1)


def _job(client, job: str, address: str) -> JobDetails:
    """The job's details; an id the cluster does not know is the user's mistake."""
    try:
        return client.get_job_info(job)
    except RuntimeError as exc:  # Ray's client puts the HTTP status into the message
        if "status code 404" in str(exc):
            raise UserError(job, None, f"no such job at {address}") from None
        raise


@app.command("list")
def list_jobs(address: str = ADDRESS) -> None:
    """List the cluster's jobs, oldest first: id, status, start time (UTC) and sweep."""
    rows = [(job.submission_id or job.job_id or "-", job.status.value,
             time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(job.start_time / 1000)) if job.start_time else "-",
             (job.metadata or {}).get(SWEEP_KEY, "-"))
            for job in sorted(_client(address).list_jobs(), key=lambda job: job.start_time or 0)]
    table("Jobs", ("job", "status", "started", "sweep"), rows)


@app.command()
def status(job: str = typer.Argument(...), address: str = ADDRESS) -> None:
    """Print a submitted sweep's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED)."""
    print(_job(_client(address), job, address).status.value)


@app.command()
def logs(job: str = typer.Argument(...), address: str = ADDRESS,
         follow: bool = typer.Option(False, "--follow", "-f", help="keep printing until the job ends")) -> None:
    """Print a submitted sweep's output so far, or all of it as it comes (--follow)."""
    client = _client(address)
    _job(client, job, address)
    if not follow:
        print(client.get_job_logs(job), end="")
        return

    async def tail() -> None:  # the cluster closes the stream when the job ends
        async for chunk in client.tail_job_logs(job):
            print(chunk, end="", flush=True)

    asyncio.run(tail())


@app.command()
def stop(job: str = typer.Argument(...), address: str = ADDRESS) -> None:
    """Stop a submitted sweep; finished runs stay in its dataset."""
    client = _client(address)
    _job(client, job, address)
    print("stopping" if client.stop_job(job) else "not running")
