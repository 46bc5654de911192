"""Cells of a study (topology x workload x copies x strategy), compared with a baseline."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from orchestrator.analysis.stats import (
    USL,
    Estimate,
    fit_usl,
    mean_ci,
    paired_ratio,
    verdict,
)


@dataclass
class Cell:
    topology: str
    workload: str
    copies: int
    strategy: str
    by_seed: dict[int, float]
    throughput: Estimate
    ratio: Estimate | None = None      # to the baseline, paired by seed
    verdict: str = ""


@dataclass
class Group:
    """One topology and workload: every strategy at every copy count, and USL fits."""

    topology: str
    workload: str
    cells: list[Cell] = field(default_factory=list)
    usl: dict[str, USL | None] = field(default_factory=dict)

    def strategies(self) -> list[str]:
        return list(dict.fromkeys(c.strategy for c in self.cells))  # cells are sorted in strategy order

    def copies(self) -> list[int]:
        return sorted({c.copies for c in self.cells})

    def cell(self, strategy: str, copies: int) -> Cell | None:
        return next((c for c in self.cells if c.strategy == strategy and c.copies == copies), None)


def strategy_order(runs: list[dict], baseline: str, preferred: Sequence[str] = ()) -> list[str]:
    """The baseline, then the sweep's own order, then anything else by name."""
    names = set(r["strategy"] for r in runs)
    listed = [n for n in preferred if n in names] + sorted(names - set(preferred))
    return [baseline] + [n for n in listed if n != baseline] if baseline in names else listed


def compare(runs: list[dict], baseline: str, metric: str = "steady_throughput_per_s",
            preferred: Sequence[str] = ()) -> list[Group]:
    order = strategy_order(runs, baseline, preferred)
    values: dict[tuple, dict[int, float]] = {}
    for r in runs:
        value = r[metric]
        if value is not None and not math.isnan(value):
            values.setdefault((r["topology"], r["workload"], r["copies"], r["strategy"]), {})[r["seed"]] = value
    groups: dict[tuple, Group] = {}
    for (topo, work, copies, strategy), by_seed in values.items():
        group = groups.setdefault((topo, work), Group(topo, work))
        group.cells.append(Cell(topo, work, copies, strategy, by_seed, mean_ci(list(by_seed.values()))))
    for group in groups.values():
        group.cells.sort(key=lambda c: (c.copies, order.index(c.strategy)))
        for cell in group.cells:
            base = group.cell(baseline, cell.copies)
            if base is not None and cell.strategy != baseline:
                cell.ratio = paired_ratio(base.by_seed, cell.by_seed)
                cell.verdict = verdict(cell.ratio)
        for strategy in group.strategies():
            points = [(c.copies, c.throughput.mean) for c in group.cells if c.strategy == strategy]
            try:
                group.usl[strategy] = fit_usl(*zip(*points)) if len({p[0] for p in points}) >= 3 else None
            except (ValueError, RuntimeError):
                group.usl[strategy] = None
    return sorted(groups.values(), key=lambda g: (g.topology, g.workload))


def sweep_summary(rows: list[dict], ids: set[str], order: list[str]) -> list[tuple]:
    """What `orch sweep` prints when it ends: (topology, workload, copies, strategy, mean throughput,
    paired ratio to order[0]) of the sweep's nominal runs (ids), as orch report computes them;
    uncertainty samples only in the report."""
    from orchestrator.analysis.data import separate_configurations

    mine = [r for r in rows if r["run_id"] in ids and r["status"] == "ok" and r.get("sample") is None]
    mine = separate_configurations(mine, "this sweep")
    return [(c.topology, c.workload, c.copies, c.strategy, c.throughput.mean, c.ratio.mean if c.ratio else None)
            for group in compare(mine, order[0], "steady_throughput_per_s", order) for c in group.cells]
