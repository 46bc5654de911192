"""The Ray Jobs API, for `orch submit` and `orch jobs`: a sweep runs as a Ray job.

Its driver runs on the cluster, in a working directory holding the spec and the files it names,
with orch and its plugins installed from the wheels that runners/bundle.py packs. A cluster with
token authentication wants both RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (orch docs cluster).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator
from unittest.mock import patch

from orchestrator.errors import UserError, one_line
from orchestrator.runners.bundle import bundle_spec, runtime_env
from orchestrator.spec import SweepSpec

if TYPE_CHECKING:
    from ray.job_submission import JobDetails

SWEEP_KEY = "orch_sweep"  # job metadata: the sweep's name
AGENT_WAIT_S = 60  # how long to wait for a freshly started head's job agent


class Jobs:
    """The Jobs API of the cluster whose dashboard is at `address` (http://HEAD:8265)."""

    def __init__(self, address: str):
        from ray.exceptions import AuthenticationError
        from ray.job_submission import JobSubmissionClient

        if not address.startswith(("http://", "https://")):
            raise UserError(address, "--address", "wants the dashboard URL http://HOST:8265 of a Ray head, not a GCS "
                                                  "address (that is for orch sweep --address)")
        self.address = address
        for handler in logging.getLogger("ray").handlers:  # every Ray message passes here: keep its
            handler.setLevel(logging.WARNING)               # notes on packing and uploading quiet
        try:
            with patch.dict(os.environ):  # Ray would let these variables override the --address given
                for name in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
                    os.environ.pop(name, None)
                self.client = JobSubmissionClient(address)
        except AuthenticationError as exc:  # its str() is a page of advice; ours is the one line that fits
            raise UserError(address, "--address", f"{one_line(exc.message)}: export RAY_AUTH_MODE=token and "
                                                  "RAY_AUTH_TOKEN (orch docs cluster)") from None
        except Exception as exc:  # ConnectionError, bad URLs: all the user's to fix
            raise UserError(address, "--address", f"cannot reach the Ray Jobs API: {one_line(str(exc))}") from None

    def submit(self, spec: SweepSpec, entry: str) -> str:
        """Submit `entry` (a command run in the job's working directory, where the spec is) as a job."""
        with tempfile.TemporaryDirectory() as folder:  # uploaded by submit_job
            bundle_spec(spec, Path(folder))
            env = runtime_env(Path(folder))
            deadline = time.monotonic() + AGENT_WAIT_S
            while True:
                try:
                    return self.client.submit_job(entrypoint=entry, runtime_env=env, metadata={SWEEP_KEY: spec.name})
                except Exception as exc:  # a head that just started has no job agent for a few seconds
                    if "No available agent" in str(exc) and time.monotonic() < deadline:
                        time.sleep(2)
                        continue
                    raise UserError(self.address, "--address", f"submission failed: {one_line(str(exc))}") from None

    def started(self, job: str) -> str | None:
        """Wait until the job's driver has joined the cluster (it has passed installing orch,
        importing and planning) or the job succeeded: None; a job that ended otherwise did not
        start: the last line of its message."""
        while True:
            info = self.client.get_job_info(job)
            if info.status == "SUCCEEDED" or (info.driver_info and not info.status.is_terminal()):
                return None
            if info.status.is_terminal():
                reason = (info.message or "").strip().splitlines() or [info.status.value]  # its last line says why
                return reason[-1].strip()
            time.sleep(1)

    def info(self, job: str) -> JobDetails:
        """The job's details; an id the cluster does not know is the user's mistake."""
        try:
            return self.client.get_job_info(job)
        except RuntimeError as exc:  # Ray's client puts the HTTP status into the message
            if "status code 404" in str(exc):
                raise UserError(job, None, f"no such job at {self.address}") from None
            raise

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(job, status, start time UTC, sweep) of every job, oldest first."""
        return [(job.submission_id or job.job_id or "-", job.status.value,
                 time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(job.start_time / 1000)) if job.start_time else "-",
                 (job.metadata or {}).get(SWEEP_KEY, "-"))
                for job in sorted(self.client.list_jobs(), key=lambda job: job.start_time or 0)]

    def logs(self, job: str) -> str:
        return self.client.get_job_logs(job)

    def tail(self, job: str) -> AsyncIterator[str]:
        """The job's output as it comes; the cluster closes the stream when the job ends."""
        return self.client.tail_job_logs(job)

    def stop(self, job: str) -> bool:
        return self.client.stop_job(job)
