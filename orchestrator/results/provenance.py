"""Where and by what a part of a dataset was written: kept in every Parquet file's metadata, so
that a report can say which orch, which commit and which hosts produced the runs it shows."""

from __future__ import annotations

import functools
import json
import platform
import socket
import subprocess
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from orchestrator.spec.run import MODEL_VERSION

KEY = "orch.provenance"
CHECKOUT = Path(__file__).resolve().parent.parent.parent


def _commit() -> str:
    """The checkout's commit (with +dirty for uncommitted changes), or unknown for an installed wheel."""
    if not (CHECKOUT / ".git").exists():
        return "unknown"
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=CHECKOUT, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=CHECKOUT,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


@functools.cache
def _this_process() -> dict[str, str]:
    try:
        orch = version("orchestrator")
    except PackageNotFoundError:
        orch = "unknown"
    return {"orch_version": orch, "git_commit": _commit(), "model_version": MODEL_VERSION,
            "host": socket.gethostname(), "python": platform.python_version()}


def stamp() -> str:
    """The provenance of a part written now, as JSON for the file metadata."""
    written = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return json.dumps({**_this_process(), "written_at": written}, sort_keys=True)
