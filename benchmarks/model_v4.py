"""The figures of model version 4, with every default as shipped (nothing tuned to a curve).

1. single x execl on a 2-socket, 2 x 32-core, 2-thread Xeon imported from numactl text
   (benchmarks/data/xeon-2s-128.numactl, --threads-per-core 2) at 1 - 128 copies: throughput,
   the peak, 128 copies as a share of it; where CPU time goes at 64 and 128 copies; the five
   call sites that waited longest at 128 (as perf lock contention would rank them).
2. The seed's 12-node Hygon at 384 copies: split-tree and split-node over single (execl).
3. A release A/B the model makes: execl and sysexec on a 2-socket, 224-thread box before and
   after 6.11's unlink batching (3577dbb19241), kernel.release 6.10 against 6.11.
Each point: 3 seeds, 20 ms measured after 5 ms. Run: .venv/bin/python benchmarks/model_v4.py [1|2|3]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from orchestrator.plan import load_parts, run_from
from orchestrator.simulate import simulate
from orchestrator.spec.numactl import parse_numactl

HERE = Path(__file__).resolve().parent
SEEDS = (1, 2, 3)


def xeon() -> dict:
    text = (HERE / "data" / "xeon-2s-128.numactl").read_text()
    return parse_numactl(text, "xeon-2s-128.numactl", "xeon-2s-128", threads_per_core=2).model_dump(mode="json")


def sapphire_rapids() -> dict:
    """2 sockets x 56 cores x 2 threads (the LKP robot's Xeon Platinum 8480CTDX), Linux numbering."""
    cores = 56
    text = "\n".join([
        "available: 2 nodes (0-1)",
        "node 0 cpus: " + " ".join(map(str, [*range(0, cores), *range(2 * cores, 3 * cores)])),
        "node 1 cpus: " + " ".join(map(str, [*range(cores, 2 * cores), *range(3 * cores, 4 * cores)])),
        "node distances:", "node   0   1", "  0:  10  21", "  1:  21  10", ""])
    return parse_numactl(text, "spr-2s-224", "spr-2s-224", threads_per_core=2).model_dump(mode="json")


def runs(topology, workload: str, strategy: str, copies: int, overrides=()):
    parts = load_parts("laptop-1n-8", strategy, workload)
    parts["topology"] = topology
    return [simulate(run_from(parts, list(overrides), copies=copies, seed=seed, duration_ms=20, warmup_ms=5))
            for seed in SEEDS]


def mean(results, metric="steady_throughput_per_s") -> float:
    return statistics.mean(r.metrics[metric] for r in results)


def curve() -> None:
    topology = xeon()
    print("1. single x execl, imported 2-socket 128-CPU Xeon, defaults (execs/s, mean of 3 seeds)")
    points = {}
    for copies in (1, 2, 4, 8, 16, 32, 64, 96, 128):
        results = runs(topology, "execl", "single", copies)
        points[copies] = mean(results)
        shares = " / ".join(f"{mean(results, f'cpu_{k}_share'):.0%}" for k in ("work", "spin", "sleep", "idle"))
        print(f"  {copies:>4} copies  {points[copies]:>9,.0f}   CPU work / spin / sleep / idle {shares}")
        if copies == 128:
            top = {}
            for r in results:
                for row in r.locks:
                    key = (row["lock_class"], row["mode"], row["caller"])
                    top[key] = top.get(key, 0) + row["wait_total_ns"] / len(results)
            ranked = sorted(top.items(), key=lambda kv: -kv[1])[:5]
    peak = max(points, key=points.get)
    print(f"  peak {points[peak]:,.0f} at {peak} copies; 128 copies {points[128] / points[peak]:.0%} of it")
    print("  longest waits at 128 copies (class, mode, caller: ms waited per seed in 20 ms):")
    for (cls, mode, caller), ns in ranked:
        print(f"    {cls} {mode} {caller or '-'}: {ns / 1e6:,.1f} ms")


def hygon() -> None:
    from orchestrator.presets import resolve
    from orchestrator.spec.loader import read_yaml

    topology = read_yaml(resolve("topologies", "hygon-12n-384"))
    base = mean(runs(topology, "execl", "single", 384))
    print(f"2. execl on hygon-12n-384 at 384 copies: single {base:,.0f} execs/s")
    for strategy in ("split-tree", "split-node"):
        print(f"   {strategy}: x{mean(runs(topology, 'execl', strategy, 384)) / base:.2f}")


def release_ab() -> None:
    topology = sapphire_rapids()
    print("3. unlink batching (6.11) on a 2-socket 224-thread box, single, 224 copies")
    for workload in ("execl", "sysexec"):
        before = mean(runs(topology, workload, "single", 224, ["kernel.release='6.10'"]))
        after = mean(runs(topology, workload, "single", 224, ["kernel.release='6.11'"]))
        print(f"   {workload}: 6.10 {before:,.0f} -> 6.11 {after:,.0f} ({after / before - 1:+.1%})")


if __name__ == "__main__":
    chosen = sys.argv[1:] or ["1", "2", "3"]
    for part, function in (("1", curve), ("2", hygon), ("3", release_ab)):
        if part in chosen:
            function()
