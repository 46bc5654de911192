"""lkml.txt: plain text under 80 columns for a cover letter, in the style of LKP comparisons."""

from __future__ import annotations

import math
import statistics
import textwrap

from orchestrator.analysis import precision
from orchestrator.analysis.aggregates import SHORT, max_copies_runs, pct, stddev_pct
from orchestrator.analysis.compare import Group
from orchestrator.analysis.data import Study
from orchestrator.analysis.uncertainty import Verdict
from orchestrator.terminal import plural


def run_costs(study: Study) -> dict[str, dict[str, float]]:
    """Per run, the lock and cache-line figures lkml.txt puts beside throughput, as LKP compare
    tables put lock_stat and perf c2c rows beside the benchmark's score: per second of the measured
    window (designs run alike long, but rates read without knowing how long), summed over every lock
    class (the designs have different ones)."""
    totals: dict[str, list[int]] = {}
    for row in study.locks:
        total = totals.setdefault(row["run_id"], [0, 0])
        total[0] += row["contentions"]
        total[1] += row["wait_total_ns"]
    costs = {}
    for r in study.runs:
        seconds = r["duration_ms"] / 1e3
        contentions, waited = totals.get(r["run_id"], [0, 0])
        costs[r["run_id"]] = {
            "lock_stat.contentions/s": contentions / seconds,
            "lock_stat.cpus_waiting": waited / 1e9 / seconds,  # contended wait per second: CPUs waiting
            "lock_stat.wait_avg_us": waited / contentions / 1e3 if contentions else math.nan,
            "c2c.transfers/s": (r["transfers_local"] + r["transfers_remote"]) / seconds,
            "c2c.remote%": r["remote_share"] * 100 if r["nodes"] > 1 else math.nan}  # one node: all local
    return costs


def compact(x: float) -> str:
    """A number in at most 10 characters, as LKP's tables print them: 71.0, 8,432, 1.627e+06."""
    return f"{x:.4g}" if abs(x) >= 1e5 else f"{x:,.0f}" if abs(x) >= 1e3 else f"{x:.3g}"


def cost_rows(study: Study, costs: dict[str, dict[str, float]], group: Group, baseline: str,
               strategy: str) -> list[str]:
    """LKP-style rows at the largest copy count: base ±%stddev, %change, new ±%stddev, metric."""
    runs = max_copies_runs(study, group)
    rows = []
    for metric in next(iter(costs.values()), {}):
        values = {s: [v for r in runs if r["strategy"] == s and not math.isnan(v := costs[r["run_id"]][metric])]
                  for s in (baseline, strategy)}
        base, new = values[baseline], values[strategy]
        if not base or not new:
            continue
        b, n = statistics.fmean(base), statistics.fmean(new)
        change = f"{(n / b - 1) * 100:+.1f}%" if b else "n/a"
        rows.append(f"{compact(b):>10} ±{stddev_pct(base):>3.0f}% {change:>8} {'':<13}"
                    f"{compact(n):>10} ±{stddev_pct(new):>3.0f}%  {metric}")
    return rows


def lkml(study: Study, groups: list[Group], baseline: str, across: dict[tuple, Verdict]) -> str:
    """Blocks in the style of LKP comparisons pasted into cover letters: base, %change, new."""
    names = ", ".join(study.sweeps)
    which = f", sweeps {names}" if len(names) <= 40 else f" of {len(study.sweeps)} sweeps (report.md names them)"
    out = [f"orch: {len(study.runs)} runs{which}; throughput in iterations/s;",
           f"%change is the geometric mean of per-seed ratios to {baseline} with its 95% CI;",
           "verdict: faster/slower when the CI excludes 0%, else n.s. (not significant)."]
    if across:
        out.append("across samples: the ratio's range over the uncertainty samples (report.md).")
    out += textwrap.wrap("Below each block, at the largest copy count, as LKP puts lock_stat and perf c2c rows"
                         " beside a score: contended acquisitions per second and CPUs waiting (contended wait"
                         " per second), both over every lock class; the mean contended wait; cache-line"
                         " transfers per second and the share between nodes (machines of one node: none).", 79)
    short = precision.runs_warning(study.runs)
    if short:
        out += textwrap.wrap(f"warning: {short}.", 79)
    out.append("")
    costs = run_costs(study)
    for group in groups:
        node_runs = [r for r in study.runs if r["topology"] == group.topology][:1]
        shape = (f" ({plural(node_runs[0]['nodes'], 'node')}, {plural(node_runs[0]['cpus'], 'CPU')})"
                 if node_runs else "")
        out.append(f"{group.workload} on {group.topology}{shape}")
        for strategy in group.strategies():
            if strategy == baseline:
                continue
            out += [f"  {baseline:>16}                              {strategy}",
                    "    mean    %stddev   %change [95% CI]            mean    %stddev  copies",
                    ]
            for copies in group.copies():
                base, new = group.cell(baseline, copies), group.cell(strategy, copies)
                if base is None or new is None or new.ratio is None:
                    continue
                r = new.ratio
                ci = "[n/a]" if math.isnan(r.low) else f"[{(r.low - 1) * 100:+.0f},{(r.high - 1) * 100:+.0f}]"
                line = (f"{base.throughput.mean:>10,.0f} ±{stddev_pct(base.by_seed.values()):>3.0f}%"
                        f" {pct(r.mean):>8} {ci:<13}"
                        f"{new.throughput.mean:>10,.0f} ±{stddev_pct(new.by_seed.values()):>3.0f}%"
                        f" {copies:>5}  {SHORT.get(new.verdict, 'n.s.')}")
                out.append(line)
                v = across.get((group.topology, group.workload, copies, strategy))
                if v is not None:
                    out.append(f"      across {v.samples} samples: x{v.low:.2f} to x{v.high:.2f}, {v.verdict}")
            costs_here = cost_rows(study, costs, group, baseline, strategy)
            if costs_here:
                out += [f"  at {max(group.copies())} copies, mean and %stddev over seeds:", *costs_here]
            out.append("")
    return "\n".join(line.rstrip()[:80] for line in out) + "\n"
