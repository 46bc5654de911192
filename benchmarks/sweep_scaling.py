"""Sweep scaling (issue 15): many short runs, in-process and on an embedded Ray with 2 workers.

Each measurement runs in a fresh process, so that its peak RSS is the driver's own:
  - closed-loop runs of about 1 ms of simulation each on a tiny topology (laptop-1n-8), 1,000 and
    10,000 of them, --backend local and Ray with 2 workers: wall time, runs per second, parallel
    efficiency, overhead per run, driver peak RSS, files written;
  - 1,000 runs of about 50 ms: parallel efficiency (goal >= 85%; with 200 of them, 8 s of work,
    the workers' start-up, about a second each, holds it at 63 - 77%);
  - with --big: 100,000 runs on --backend local.
Ray's start-up and shutdown are measured apart and left out of Ray's figures. The load average
(uptime) is printed with every figure: on a busy machine they are not worth much.
Goals: efficiency >= 85% (50 ms runs), overhead <= 5 ms per run, at most one file per table per
1,000 runs.
Run: .venv/bin/python benchmarks/sweep_scaling.py [--big]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep Ray on loopback

WORKERS = 2
SHORT_MS, LONG_MS = 0.02, 200.0  # virtual durations: about 1 ms and about 50 ms of wall time a run (idle machine)


def spec_of(runs: int, duration_ms: float) -> dict:
    # 2 strategies x 4 copy counts x seeds; 8 copy counts past 10,000 seeds (the most a sweep has)
    copies = [1, 2, 4, 8] if runs <= 80_000 else list(range(1, 9))
    return {"name": "scaling", "topologies": ["laptop-1n-8"], "workloads": [{"file": "closed-loop"}],
            "strategies": [{"name": "single"}, {"name": "split-cpu"}], "copies": copies,
            "replications": runs // (2 * len(copies)), "duration_ms": duration_ms}


def one(backend: str, runs: int, duration_ms: float) -> dict:
    """One sweep in this process: its figures as a dict."""
    import pyarrow.dataset as ds

    from orchestrator.runners.sweep import run_sweep
    from orchestrator.spec import SweepSpec, validate

    spec = validate(SweepSpec, spec_of(runs, duration_ms), "benchmark")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as out:
        began = time.perf_counter()
        outcome, _, _ = run_sweep(spec, "benchmark", backend=backend, workers=WORKERS, out=out)
        total = time.perf_counter() - began
        assert outcome.done == outcome.total and not outcome.failed
        sim = ds.dataset(f"{out}/table=runs", partitioning="hive").to_table(columns=["wall_s"]).column(0)
        files = sum(1 for _ in Path(out).rglob("*.parquet"))
    return {"backend": backend, "runs": outcome.done, "wall_s": outcome.wall_s, "total_s": total,
            "sim_s": sum(sim.to_pylist()), "files": files, "load": load,
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def ray_startup() -> dict:
    import ray

    load = os.getloadavg()[0]
    began = time.perf_counter()
    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
    ray.shutdown()
    return {"startup_s": time.perf_counter() - began, "load": load}


def child(*args) -> dict:
    """Run this file with args in a fresh process; its one line of JSON."""
    done = subprocess.run([sys.executable, __file__, *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def row(name: str, local: dict, ray: dict | None, startup: float) -> list[str]:
    runs = local["runs"]
    cells = [name, f"{runs:,}", f"{local['sim_s'] / runs * 1e3:.2f}",
             f"{runs / local['wall_s']:,.0f}", f"{(local['wall_s'] - local['sim_s']) / runs * 1e3:.2f}",
             f"{local['rss_mib']:.0f}", str(local["files"]), f"{local['load']:.1f}"]
    if ray is None:
        return cells + ["-"] * 7
    work = ray["wall_s"] - startup
    return cells + [f"{runs / work:,.0f}", f"{local['wall_s'] / (WORKERS * work):.0%}",
                    f"{(WORKERS * work - ray['sim_s']) / runs * 1e3:.2f}",
                    f"{(WORKERS * work - local['wall_s']) / runs * 1e3:+.2f}", f"{ray['rss_mib']:.0f}",
                    str(ray["files"]), f"{ray['load']:.1f}"]


def main(big: bool) -> None:
    startup = child("--startup")
    rows = []
    for runs, duration in ((1_000, SHORT_MS), (10_000, SHORT_MS), (1_000, LONG_MS)):  # sim ms/run: what they took
        local = child("--one", "local", runs, duration)
        ray = child("--one", "ray", runs, duration)
        rows.append(row("short runs" if duration == SHORT_MS else "long runs", local, ray, startup["startup_s"]))
    if big:
        rows.append(row("short runs", child("--one", "local", 100_000, SHORT_MS), None, 0))
    head = ["sweep", "runs", "sim ms/run", "local runs/s", "local overhead ms/run", "local RSS MiB", "local files",
            "load", f"ray({WORKERS}) runs/s", "efficiency", "ray overhead ms/run", "ray - local ms/run",
            "ray driver RSS MiB", "ray files", "load"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print(f"Ray start-up and shutdown: {startup['startup_s']:.2f} s (load {startup['load']:.1f}), left out of "
          "Ray's figures")
    for line in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths)))
    print("sim ms/run: a run's own simulation (wall_s of runs); overhead: wall x workers minus simulation, per "
          "run; efficiency: local wall / (2 x Ray wall); ray - local: what Ray adds per run; files: *.parquet; "
          "load: 1-minute load average as the sweep started (2 cores)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))))
    elif sys.argv[1:2] == ["--startup"]:
        print(json.dumps(ray_startup()))
    else:
        main("--big" in sys.argv[1:])
