"""`orch submit` and `orch jobs`: run a sweep on a remote Ray cluster through the Jobs API.

The sweep runs as a Ray job: its driver runs on the cluster with this project as its working
directory, joins the cluster (--address auto) and writes the dataset where --out says, which
must be a place the cluster can write and you can read (an object store URI, a shared
filesystem, or a path on the head you fetch from). With token authentication (Ray >= 2.52,
RAY_AUTH_MODE=token) set RAY_AUTH_TOKEN to the cluster's token (`ray get-auth-token`).
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import typer

from orchestrator.cli.sweep import load_sweep
from orchestrator.errors import UserError
from orchestrator.presets import PACKAGE
from orchestrator.runners.ray_cluster import EXCLUDES

app = typer.Typer(help="Status, logs and stopping of submitted sweeps.", no_args_is_help=True)
SPEC_ENV = "ORCH_SWEEP_YAML"
AGENT_WAIT_S = 60  # how long to wait for a freshly started head's job agent


def _client(address: str):
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except Exception as exc:  # ConnectionError, auth errors, bad URLs: all the user's to fix
        raise UserError(address, "--address", f"cannot reach the Ray Jobs API: {exc}") from None


def _is_remote_safe(output: str) -> bool:
    return "://" in output or Path(output).is_absolute()


def submit(
    spec_file: str = typer.Argument(..., metavar="SPEC", help="sweep YAML"),
    address: str = typer.Option(..., "--address", help="the cluster's dashboard, http://HEAD:8265"),
    out: str | None = typer.Option(None, "--out", help="dataset URI or absolute path on the cluster"),
    workers: int = typer.Option(2, "--workers", min=1, help="runs in flight at once"),
    layout: str = typer.Option("task", "--layout", help="task or actors"),
) -> None:
    """Submit a sweep as a Ray job; prints the job id."""
    spec, text = load_sweep(spec_file)
    output = out or spec.output
    if not _is_remote_safe(output):
        raise UserError(spec_file, "output", f"{output!r} is relative: the job's working directory is "
                                             "temporary; give --out an absolute path or a URI")
    entry = (f'printf "%s" "${SPEC_ENV}" | python -m orchestrator sweep - --address auto '
             f"--workers {workers} --layout {shlex.quote(layout)} --out {shlex.quote(output)}")
    client = _client(address)
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            job = client.submit_job(
                entrypoint=entry,
                runtime_env={"working_dir": str(PACKAGE.parent), "excludes": EXCLUDES, "env_vars": {SPEC_ENV: text}},
            )
            break
        except Exception as exc:  # a head that just started has no job agent for a few seconds
            if "No available agent" in str(exc) and time.monotonic() < deadline:
                time.sleep(2)
                continue
            raise UserError(address, "--address", f"submission failed: {exc}") from None
    print(job)


@app.command()
def status(job: str = typer.Argument(...), address: str = typer.Option(..., "--address")) -> None:
    """Print a submitted sweep's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED)."""
    print(_client(address).get_job_status(job).value)


@app.command()
def logs(job: str = typer.Argument(...), address: str = typer.Option(..., "--address")) -> None:
    """Print a submitted sweep's output so far."""
    print(_client(address).get_job_logs(job), end="")


@app.command()
def stop(job: str = typer.Argument(...), address: str = typer.Option(..., "--address")) -> None:
    """Stop a submitted sweep; finished runs stay in its dataset."""
    print("stopping" if _client(address).stop_job(job) else "not running")
