"""What the compiled engine costs to start: the first run on a machine (compiling into an empty
cache) and a later one (loading the cache), each a fresh process running `orch run` on a small
configuration, plus `orch --help` for the CLI's own start-up.
Run: .venv/bin/python benchmarks/engine_start.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ORCH = str(Path(sys.executable).with_name("orch"))
RUN = [ORCH, "run", "-t", "milan-2n-256", "-w", "execl", "-s", "split-node", "--copies", "8", "--duration-ms", "1"]


def timed(command: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - began


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        print(f"first run (compiles into an empty cache): {timed(RUN, env):6.1f} s")
        print(f"second run (loads the cache):             {timed(RUN, env):6.1f} s")
        print(f"orch --help:                              {timed([ORCH, '--help'], env):6.1f} s")


if __name__ == "__main__":
    main()
