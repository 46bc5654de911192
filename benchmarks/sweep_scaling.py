"""The same 20-run sweep in-process and on an embedded Ray with 2 workers, side by side.

Prints wall times, parallel efficiency (ideal: 2 workers halve the time) and Ray's overhead
per run, with and without Ray's start-up; then the actor layout's overhead against the task
layout on a 2-node sweep. Goal: efficiency >= 85%, overhead <= 50 ms per run.
Run: .venv/bin/python benchmarks/sweep_scaling.py
"""

from __future__ import annotations

import os
import tempfile
import time

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep Ray on loopback

from orchestrator.runners.sweep import run_sweep  # noqa: E402
from orchestrator.spec import SweepSpec, validate  # noqa: E402

SWEEP = {
    "name": "scaling",
    "topologies": ["milan-2n-256"],
    "strategies": [{"name": "single"}, {"name": "split-node"}],
    "workloads": [{"file": "execl"}],
    "copies": [16, 64],
    "replications": 5,
    "duration_ms": 15,
    "warmup_ms": 1,
}


def timed(spec: SweepSpec, **options) -> float:
    with tempfile.TemporaryDirectory() as out:
        outcome, _, _ = run_sweep(spec, "benchmark", out=out, **options)
        assert outcome.done == outcome.total and not outcome.failed
        return outcome.wall_s


def ray_startup() -> float:
    import ray
    began = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.shutdown()
    return time.perf_counter() - began


def main() -> None:
    spec = validate(SweepSpec, SWEEP, "benchmark")
    runs = 20
    local = timed(spec, backend="local")
    ray_wall = timed(spec, backend="ray", workers=2)
    startup = ray_startup()
    work = ray_wall - startup
    print(f"{runs} runs   local (1 process): {local:6.2f} s   ray, 2 workers: {ray_wall:6.2f} s "
          f"(of which ~{startup:.2f} s starting and stopping Ray)")
    print(f"parallel efficiency: {local / (2 * work):.0%} without start-up, {local / (2 * ray_wall):.0%} with it")
    print(f"ray overhead per run: {max(0.0, 2 * work - local) / runs * 1e3:6.1f} ms without start-up, "
          f"{max(0.0, 2 * ray_wall - local) / runs * 1e3:6.1f} ms with it")
    small = validate(SweepSpec, {**SWEEP, "name": "layout", "copies": [16], "replications": 2}, "benchmark")
    task = timed(small, backend="ray", workers=2, layout="task")
    actors = timed(small, backend="ray", workers=2, layout="actors")
    print(f"4 runs on 2 nodes: task layout {task:6.2f} s, actor layout {actors:6.2f} s "
          f"({(actors - task) / 4 * 1e3:+.0f} ms per run; each includes Ray start-up)")


if __name__ == "__main__":
    main()
