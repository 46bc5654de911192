"""execl at full scale: engine speed per strategy, and the throughput the model predicts.

Part 1: execl on hygon-12n-384 at 384 copies, 50 ms of virtual time (5 warm-up + 45 measured)
per strategy, one core: wall seconds, events per wall second, lock acquisitions per wall second
(goal: under 30 s each). Part 2: execl throughput of single, split-node and inverted at full
copies on the seed's Hygon, the 2-node/128-core box and a non-NUMA box, as ratios to single
(the seed claims "over 400%" for split-node on the Hygon).
Run: .venv/bin/python benchmarks/execl_scale.py [--before CHECKOUT]
With --before, part 1 also runs each strategy in another checkout of orch (its own .venv, e.g. a
git worktree of the commit before the compiled engine), right after this one, and prints the
speed-up; both produce the same execs/s, since the model is the same.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from orchestrator.plan import compose_run
from orchestrator.simulate import simulate

DESIGNS = ["single", "split-tree", "split-node", "split-cpu", "inverted", "writer-hold"]


def run(topology: str, design: str, warmup_ms: float, duration_ms: float):
    spec = compose_run(topology, design, "execl", copies=None, seed=1, warmup_ms=warmup_ms,
                       duration_ms=duration_ms)
    return spec, simulate(spec).metrics


BEFORE = """
import json, sys
from orchestrator.plan import compose_run
try:
    from orchestrator.simulate import simulate
except ImportError:  # before the engine room was sealed
    from orchestrator.sim.run import simulate
spec = compose_run("hygon-12n-384", sys.argv[1], "execl", copies=None, seed=1, warmup_ms=5, duration_ms=45)
print(json.dumps(simulate(spec).metrics))
"""


def run_before(checkout: Path, design: str) -> dict:
    out = subprocess.run([str(checkout / ".venv" / "bin" / "python"), "-c", BEFORE, design], cwd=checkout,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    before = Path(sys.argv[sys.argv.index("--before") + 1]) if "--before" in sys.argv else None
    run("genoa-1n-128", "single", 0.1, 0.1)  # load the compiled engine before timing
    print("Part 1: execl, hygon-12n-384, 384 copies, 50 ms virtual")
    print(f"{'strategy':>12} {'wall s':>7} {'events/s':>10} {'acq/wall s':>11} {'execs/s':>9}"
          + (f" {'before: wall s':>14} {'events/s':>10} {'speed-up':>8}" if before else ""))
    for design in DESIGNS:
        _, m = run("hygon-12n-384", design, 5, 45)
        line = (f"{design:>12} {m['wall_s']:7.2f} {m['events_per_s']:10,.0f} "
                f"{m['lock_acquisitions'] / m['wall_s']:11,.0f} {m['throughput_per_s']:9,.0f}")
        if before:
            old = run_before(before, design)
            assert old["throughput_per_s"] == m["throughput_per_s"], "the two checkouts disagree"
            line += f" {old['wall_s']:14.2f} {old['events_per_s']:10,.0f} {old['wall_s'] / m['wall_s']:7.1f}x"
        print(line, flush=True)
    print()
    print("Part 2: execl throughput at full copies (execs/s; ratio to single), 5 + 20 ms virtual")
    for topology in ("hygon-12n-384", "milan-2n-256", "genoa-1n-128"):
        base = None
        for design in ("single", "split-node", "inverted"):
            spec, m = run(topology, design, 5, 20)
            base = base or m["throughput_per_s"]
            print(f"{topology:>14} {spec.copies:>4} copies {design:>11}: {m['throughput_per_s']:>9,.0f}"
                  f"  x{m['throughput_per_s'] / base:5.2f}  lock wait {m['wait_mean_ns'] / 1e3:8.1f} us"
                  f"  remote {m['remote_share']:.0%}")


if __name__ == "__main__":
    main()
