"""`orch submit` and `orch jobs`: run a sweep on a remote Ray cluster through the Jobs API
(runners/jobs.py). The job writes the dataset where --out says, which must be a place the
cluster can write and you can read (an object store URI, a shared filesystem, or a path on the
head you fetch from). --address defaults to RAY_ADDRESS, the dashboard's URL.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path

import typer

from orchestrator.cli.catalog import table
from orchestrator.cli.options import Layout
from orchestrator.cli.sweep import STUDY_OR_FILE, load_sweep
from orchestrator.errors import UserError
from orchestrator.plan import expand_sweep
from orchestrator.runners.bundle import SPEC

app = typer.Typer(help="List, follow and stop submitted sweeps.", no_args_is_help=True)
ADDRESS = typer.Option(..., "--address", envvar="RAY_ADDRESS", show_envvar=False,
                       help="the cluster's dashboard, http://HEAD:8265 (default: $RAY_ADDRESS)")


def _jobs(address: str):
    from orchestrator.runners.jobs import Jobs

    return Jobs(address)


def _is_remote_safe(output: str) -> bool:
    return "://" in output or Path(output).is_absolute()


def submit(
    spec_file: str = typer.Argument(..., metavar="SPEC", help=STUDY_OR_FILE),
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
    jobs = _jobs(address)
    job = jobs.submit(spec, entry)
    print(job, flush=True)
    reason = jobs.started(job)
    if reason is not None:
        print(f"orch: failed: job {job} did not start: {reason} (orch jobs logs {job} has the rest)", file=sys.stderr)
        raise typer.Exit(1)


@app.command("list")
def list_jobs(address: str = ADDRESS) -> None:
    """List the cluster's jobs, oldest first: id, status, start time (UTC) and sweep."""
    table("Jobs", ("job", "status", "started", "sweep"), _jobs(address).rows())


@app.command()
def status(job: str = typer.Argument(...), address: str = ADDRESS) -> None:
    """Print a submitted sweep's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED)."""
    print(_jobs(address).info(job).status.value)


@app.command()
def logs(job: str = typer.Argument(...), address: str = ADDRESS,
         follow: bool = typer.Option(False, "--follow", "-f", help="keep printing until the job ends")) -> None:
    """Print a submitted sweep's output so far, or all of it as it comes (--follow)."""
    jobs = _jobs(address)
    jobs.info(job)
    if not follow:
        print(jobs.logs(job), end="")
        return

    async def tail() -> None:
        async for chunk in jobs.tail(job):
            print(chunk, end="", flush=True)

    asyncio.run(tail())


@app.command()
def stop(job: str = typer.Argument(...), address: str = ADDRESS) -> None:
    """Stop a submitted sweep; finished runs stay in its dataset."""
    jobs = _jobs(address)
    jobs.info(job)
    print("stopping" if jobs.stop(job) else "not running")
