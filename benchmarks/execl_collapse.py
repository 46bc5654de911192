"""single x execl on a 2-socket, 2 x 32-core, 2-thread box imported from numactl text: the curve
past the peak with the model's defaults, and at the two ends of the plausible ranges.

Prints, per copy count (3 seeds, 20 ms measured after 5 ms warm-up): throughput (mean and 95%
half-width), the share of i_mmap_rwsem grants that went to waiters that had slept (sleeps /
acquisitions), and the shares of CPU time spinning and sleeping; then the peak and 128 copies as
a share of it. Run: .venv/bin/python benchmarks/execl_collapse.py [defaults|collapse|hold]
"""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

from orchestrator.presets import resolve
from orchestrator.simulate import simulate
from orchestrator.spec import read_yaml, validate
from orchestrator.spec.numactl import parse_numactl
from orchestrator.spec.run import RunSpec

# `numactl --hardware` of a 2-socket, 2 x 32-core, 2-thread Xeon (as Linux numbers its CPUs)
NUMACTL = Path(__file__).with_name("data") / "xeon-2s-128.numactl"
# (kernel settings, topology costs, latency scale): inside the ranges of docs/model.md
SETTINGS = {
    "defaults": ({}, {}, 1.0),
    "collapse": ({"spin_mean_ns": 4_000_000, "spin_shape": 3, "handoff_line_transfers": 3},
                 {"wakeup": 9_000}, 1.3),
    "hold": ({"spin_mean_ns": 100_000, "handoff_ns": 8_000_000}, {"wakeup": 4_000}, 0.7),
}
COPIES = (1, 2, 4, 8, 16, 32, 64, 128)
SEEDS = (1, 2, 3)
T_975_2DF = 4.303


def topology(costs: dict, scale: float) -> dict:
    topo = parse_numactl(NUMACTL.read_text(), str(NUMACTL), "xeon-2s-128", threads_per_core=2).model_dump(mode="json")
    lat = topo["latency_ns"]
    lat["smt"], lat["node"] = round(lat["smt"] * scale), round(lat["node"] * scale)
    lat["remote"] = {d: round(v * scale) for d, v in lat["remote"].items()}
    topo["costs_ns"].update(costs)
    return topo


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "defaults"
    kernel, costs, scale = SETTINGS[name]
    topo = topology(costs, scale)
    workload = read_yaml(resolve("workloads", "execl"))
    print(f"single x execl, xeon-2s-128 (numactl, --threads-per-core 2), setting {name}: "
          f"kernel {kernel}, costs {costs}, latencies x{scale}")
    print(f"{'copies':>6} {'execs/s':>9} {'+-':>7} {'sleeper grants':>15} {'spin':>6} {'sleep':>6}")
    means = {}
    for copies in COPIES:
        rows = []
        for seed in SEEDS:
            spec = validate(RunSpec, {"topology": topo, "strategy": {"name": "single"}, "workload": workload,
                                      "kernel": kernel, "copies": copies, "seed": seed,
                                      "duration_ms": 20, "warmup_ms": 5}, "benchmark")
            result = simulate(spec)
            rwsem = [r for r in result.locks if r["lock_class"] == "i_mmap_rwsem"]
            grants = sum(r["acquisitions"] for r in rwsem)
            rows.append((result.metrics["throughput_per_s"], sum(r["sleeps"] for r in rwsem) / grants,
                         result.metrics["cpu_spin_share"], result.metrics["cpu_sleep_share"]))
        x = [r[0] for r in rows]
        means[copies] = statistics.mean(x)
        half = T_975_2DF * statistics.stdev(x) / math.sqrt(len(x))
        print(f"{copies:>6} {means[copies]:>9,.0f} {half:>7,.0f} {statistics.mean(r[1] for r in rows):>15.1%} "
              f"{statistics.mean(r[2] for r in rows):>6.1%} {statistics.mean(r[3] for r in rows):>6.1%}",
              flush=True)
    peak = max(means, key=means.get)
    print(f"peak {means[peak]:,.0f} execs/s at {peak} copies; 128 copies = {means[128] / means[peak]:.2f} of "
          f"the peak; 1 -> 128 copies x{means[128] / means[1]:.1f}")


if __name__ == "__main__":
    main()
