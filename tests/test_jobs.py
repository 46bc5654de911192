"""orch jobs against a Ray head of our own: the documented auth setup, list, logs --follow,
unknown job ids."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SUBMIT = ("import sys; from ray.job_submission import JobSubmissionClient; "
          "print(JobSubmissionClient(sys.argv[1]).submit_job(entrypoint=sys.argv[2]))")


def orch(head, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """orch in its own process (Ray loads an auth token once per process)."""
    return subprocess.run([BIN / "orch", *args], capture_output=True, text=True, env=env or head.env,
                          timeout=300, check=False)


def documented_exports(head) -> list[str]:
    """The export lines docs/cluster.md gives for submitting, aimed at our head."""
    text = (REPO / "docs" / "cluster.md").read_text()
    block = text.split("## Submit the sweep as a Ray job", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.replace("http://HEAD_IP:8265", head.http) for line in block.splitlines()
            if line.startswith("export ")]


@pytest.fixture(scope="module")
def finished_job(head) -> str:
    """A job that prints one line, waits, prints another and ends."""
    job = subprocess.run([sys.executable, "-c", SUBMIT, head.http, "echo first; sleep 3; echo last"],
                         capture_output=True, text=True, env=head.env, timeout=120, check=True).stdout.strip()
    follow = orch(head, "jobs", "logs", job, "--follow", "--address", head.http)
    assert follow.returncode == 0, follow.stderr
    assert "first" in follow.stdout and "last" in follow.stdout  # followed to the end
    return job


def test_logs_follow_ends_when_the_job_ends(head, finished_job):
    assert orch(head, "jobs", "status", finished_job, "--address", head.http).stdout.strip() == "SUCCEEDED"


def test_documented_auth_setup_reaches_the_cluster(head, finished_job, tmp_path):
    # the user's shell: no Ray variables; `ray get-auth-token` finds the token in the cluster's file
    env = {k: v for k, v in head.env.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))}
    (tmp_path / "token").write_text(head.env["RAY_AUTH_TOKEN"])
    env.update(RAY_AUTH_TOKEN_PATH=str(tmp_path / "token"), PATH=f"{BIN}{os.pathsep}{env['PATH']}")
    exports = documented_exports(head)
    assert any("RAY_AUTH_MODE=token" in line for line in exports)
    listed = subprocess.run(["bash", "-c", "\n".join([*exports, "orch jobs list"])], capture_output=True,
                            text=True, env=env, timeout=300, check=False)
    assert listed.returncode == 0, listed.stderr
    assert re.search(rf"{finished_job}\s.*SUCCEEDED", listed.stdout)
    # the token alone is not enough: a one-line error, not a traceback
    alone = [line for line in exports if "RAY_AUTH_MODE" not in line]
    refused = subprocess.run(["bash", "-c", "\n".join([*alone, "orch jobs list"])], capture_output=True,
                             text=True, env=env, timeout=300, check=False)
    assert refused.returncode == 2, refused.stderr
    error = refused.stderr.strip().splitlines()  # (`ray get-auth-token` prints an empty line)
    assert len(error) == 1 and "export RAY_AUTH_MODE=token and RAY_AUTH_TOKEN" in error[0], error


@pytest.mark.parametrize("args", [["status"], ["logs"], ["logs", "--follow"], ["stop"]])
def test_unknown_job_id_is_one_line_exit_2(head, args):
    result = orch(head, "jobs", *args, "raysubmit_nosuchjob", env={**head.env, "RAY_ADDRESS": head.http})
    assert result.returncode == 2
    assert result.stderr == f"orch: error: raysubmit_nosuchjob: no such job at {head.http}\n"
