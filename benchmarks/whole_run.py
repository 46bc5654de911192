"""The whole run's speed, against a bare Python heapq loop measured in the same process.

For execl on hygon-12n-384 at 384 copies, per strategy: a short and a long run (after the spec
is parsed, so everything `simulate` does counts: world building, operation streams, the loop,
the readout). The marginal rate (extra events / extra wall seconds) is the steady speed; what
it leaves unexplained in the short run is the fixed cost per run. The bare loop is the least a
Python discrete-event simulation of 384 CPUs does per event: pop the earliest, push its next
time. Every figure is a median of --repeats measurements; the engine is loaded from the
compile cache first, so compiling is never counted as engine speed.
--via says what is timed: `simulate` (from the parsed spec), `worker` (what a sweep worker does
per run: validate the spec, simulate, turn the result into table rows) or `cli` (a fresh
`orch run ... --json` process: interpreter, imports and the cached engine included).
Run: .venv/bin/python benchmarks/whole_run.py [--via simulate|worker|cli] [--short-ms 10]
     [--long-ms 60] [--repeats 3] [STRATEGY...]
"""

from __future__ import annotations

import argparse
import heapq
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from orchestrator.plan import compose_run
from orchestrator.runners.work import run_rows
from orchestrator.simulate import simulate
from orchestrator.strategies import available

TOPOLOGY, WORKLOAD, CPUS = "hygon-12n-384", "execl", 384


def bare_heapq(events: int) -> float:
    """Events per wall second of the least a Python event loop does: pop, then push the CPU's next time."""
    gaps = np.random.default_rng(1).integers(100, 10_000, events + CPUS).tolist()
    heap = [(gaps[cpu], cpu) for cpu in range(CPUS)]
    heapq.heapify(heap)
    began = time.perf_counter()
    for i in range(CPUS, CPUS + events):
        now, cpu = heapq.heappop(heap)
        heapq.heappush(heap, (now + gaps[i], cpu))
    return events / (time.perf_counter() - began)


def timed_run(design: str, duration_ms: float, via: str = "simulate") -> tuple[int, float]:
    """(events, wall seconds) of one run, timed as --via says."""
    spec = compose_run(TOPOLOGY, design, WORKLOAD, copies=CPUS, seed=1, warmup_ms=0, duration_ms=duration_ms)
    if via == "cli":
        orch = str(Path(sys.executable).with_name("orch"))
        began = time.perf_counter()
        out = subprocess.run([orch, "run", "-t", TOPOLOGY, "-s", design, "-w", WORKLOAD, "-c", str(CPUS),
                              "--warmup-ms", "0", "--duration-ms", str(duration_ms), "--json"],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)["events"], time.perf_counter() - began
    if via == "worker":
        spec_json = spec.model_dump(mode="json")
        began = time.perf_counter()
        _, rows, error = run_rows(spec_json, "benchmark")
        assert rows is not None, error
        return rows["runs"][0]["events"], time.perf_counter() - began
    began = time.perf_counter()
    result = simulate(spec)
    return result.metrics["events"], time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("designs", nargs="*")
    parser.add_argument("--short-ms", type=float, default=10.0)
    parser.add_argument("--long-ms", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--via", choices=("simulate", "worker", "cli"), default="simulate")
    args = parser.parse_args()
    designs = args.designs or sorted(available())
    timed_run("single", 0.01)  # load the compiled engine (or compile it) before timing anything
    print(f"{WORKLOAD}, {TOPOLOGY}, {CPUS} copies; short {args.short_ms} ms, long {args.long_ms} ms virtual, "
          f"median of {args.repeats}, timed via {args.via}")
    print(f"{'strategy':>12} {'events/s':>11} {'bare heapq':>11} {'ratio':>6} {'fixed s':>8} {'short s':>8} "
          f"{'long s':>7}")
    for design in designs:
        shorts = [timed_run(design, args.short_ms, args.via) for _ in range(args.repeats)]
        longs = [timed_run(design, args.long_ms, args.via) for _ in range(args.repeats)]
        bare = statistics.median(bare_heapq(200_000) for _ in range(args.repeats))
        events_short, wall_short = shorts[0][0], statistics.median(w for _, w in shorts)
        events_long, wall_long = longs[0][0], statistics.median(w for _, w in longs)
        rate = (events_long - events_short) / (wall_long - wall_short)
        fixed = wall_short - events_short / rate
        print(f"{design:>12} {rate:11,.0f} {bare:11,.0f} {rate / bare:6.2f} {fixed:8.3f} {wall_short:8.3f} "
              f"{wall_long:7.3f}")


if __name__ == "__main__":
    main()
