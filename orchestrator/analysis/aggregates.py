"""Figures beside the throughput comparison, at a group's largest copy count: lock waits, costs
per strategy, memory; shared by the report's pages and lkml.txt."""

from __future__ import annotations

import math
import statistics

from orchestrator.analysis.compare import Group
from orchestrator.analysis.data import Study
from orchestrator.analysis.stats import FASTER, SLOWER

SHORT = {FASTER: "faster", SLOWER: "slower"}


def pct(x: float) -> str:
    """A ratio as a change: 1.052 -> '+5.2%'."""
    return "-" if x is None or math.isnan(x) else f"{(x - 1) * 100:+.1f}%"


def stddev_pct(values) -> float:
    """The standard deviation over the mean, in percent (0 for one value)."""
    values = list(values)
    mean = statistics.mean(values)
    return statistics.stdev(values) / mean * 100 if len(values) > 1 and mean else 0.0


def max_copies_runs(study: Study, group: Group) -> list[dict]:
    """The group's runs at its largest copy count, every strategy and seed."""
    top = max(group.copies())
    return [r for r in study.runs if r["topology"] == group.topology and r["workload"] == group.workload
            and r["copies"] == top]


def lock_wait_rows(study: Study, group: Group) -> list[tuple[str, float, float]]:
    """Per strategy, its most-waited-on lock class and mode at the largest copy count."""
    runs = {r["run_id"]: r for r in max_copies_runs(study, group)}
    totals: dict[tuple, list[dict]] = {}
    for row in study.locks:
        run = runs.get(row["run_id"])
        if run is not None and row["wait_p50_ns"] is not None:
            totals.setdefault((run["strategy"], row["lock_class"], row["mode"]), []).append(row)
    best: dict[str, tuple] = {}
    for (strategy, cls, mode), rows in totals.items():  # rows of every seed and caller
        waited = sum(r["wait_total_ns"] for r in rows)
        weights = [r["contentions"] or 1 for r in rows]
        if strategy not in best or waited > best[strategy][0]:
            best[strategy] = (waited, f"{strategy}\n{cls} {mode}",  # two lines: the chart keeps its width
                              sum(r["wait_p50_ns"] * w for r, w in zip(rows, weights)) / sum(weights),
                              sum(r["wait_p99_ns"] * w for r, w in zip(rows, weights)) / sum(weights))
    return [(label, p50, p99) for _, label, p50, p99 in (best[s] for s in group.strategies() if s in best)]


def per_strategy(study: Study, group: Group, value) -> dict[str, float]:
    """Mean over seeds of value(run) at the largest copy count, per strategy (None: no value)."""
    values: dict[str, list[float]] = {}
    for r in max_copies_runs(study, group):
        v = value(r)
        if v is not None:
            values.setdefault(r["strategy"], []).append(v)
    return {s: statistics.mean(v) for s, v in values.items()}


def gave_up(run: dict) -> float | None:
    """Share of a run's rmap walks that gave up on a contended lock (reclaim's try-lock)."""
    tried = run["walks"] + run["walks_contended"]
    return run["walks_contended"] / tried if tried else None


def side_table(study: Study, group: Group) -> tuple[list[str], list[list[str]], str]:
    """Costs beside throughput at the largest copy count, per strategy: the head, the rows and a
    caption saying which columns are left out because they do not apply here (a column no run
    has a value for: no rmap walk ran; remote transfers on a machine of one NUMA node)."""
    top = max(group.copies())

    def share(value: float) -> str:
        return f"{value:.0%}"

    def microseconds(value: float) -> str:
        return f"{value / 1e3:,.1f}"

    one_node = all(r["nodes"] == 1 for r in max_copies_runs(study, group))
    columns = [(f"remote line transfers at {top} copies", lambda r: None if one_node else r["remote_share"], share),
               ("rmap walk p99 (us)", lambda r: r["walk_p99_ns"], microseconds),
               ("walks given up (contended)", gave_up, share),
               ("CPU time spinning", lambda r: r["cpu_spin_share"], share),
               ("CPU time asleep on locks", lambda r: r["cpu_sleep_share"], share)]
    head, cells, missing = ["strategy"], [], []
    for name, value, shown in columns:
        values = {s: v for s, v in per_strategy(study, group, value).items() if not math.isnan(v)}
        if values:
            head.append(name)
            cells.append([shown(values[s]) if s in values else "-" for s in group.strategies()])
        else:
            missing.append(name)
    rows = [[s, *(column[i] for column in cells)] for i, s in enumerate(group.strategies())]
    why = []
    if one_node:
        why.append(f"remote line transfers: {group.topology} has one NUMA node, so every transfer is local")
    walks = [n for n in missing if "walk" in n]
    if walks:
        why.append(f"{' and '.join(walks)}: no run of {group.workload} walked the rmap")
    return head, rows, ("Left out: " + "; ".join(why) + ".") if why else ""


def memory_rows(study: Study) -> list[tuple[str, str, int, float]]:
    seen: dict[tuple[str, str], tuple[int, float]] = {}
    for r in study.runs:
        seen.setdefault((r["topology"], r["strategy"]),
                        (r["memory_per_inode_bytes"], r["memory_per_million_inodes_mib"]))
    return [(t, s, b, m) for (t, s), (b, m) in sorted(seen.items())]
