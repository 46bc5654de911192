"""Model beside measurement: a curve `orch measure` took on a real machine, next to the model's
curve for the same machine shape and workload under the baseline (mainline) design.

A measured row matches simulated runs when its host's detected topology has the same shape
(spec.topology.shape_digest: names and prose left out) and the runs' workload has its kind.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass

from orchestrator.analysis.stats import Estimate, mean_ci
from orchestrator.spec.topology import shape_digest


@dataclass
class Point:
    copies: int
    measured: list[float]                   # throughput per wall second, one per repeat
    model: Estimate                         # over seeds, 95% CI
    band: tuple[float, float] | None        # the model's mean across uncertainty samples: (lowest, highest)

    @property
    def error(self) -> float:
        """Model over measured, minus one."""
        return self.model.mean / statistics.fmean(self.measured) - 1


@dataclass
class Beside:
    host: str
    kernel: str
    cpu_model: str
    topology: str            # the simulated topology's name
    workload: str            # the simulated workload's label
    strategy: str
    points: list[Point]

    @property
    def title(self) -> str:
        return f"{self.workload} on {self.host} (kernel {self.kernel}) beside {self.topology}"

    @property
    def rms_log_error(self) -> float:
        """The error `orch calibrate` minimizes: root mean square of log(model / measured)."""
        return math.sqrt(statistics.fmean(math.log1p(p.error) ** 2 for p in self.points))


def _model_key(run: dict) -> tuple[str, str]:
    """(shape digest, workload name) of a simulated run: a measured curve of execl matches the
    plain execl workload, not execl+reclaim, which has the same kind."""
    config = json.loads(run["config_json"])
    return shape_digest(config["topology"]), config["workload"].get("name") or config["workload"]["kind"]


def pair(measured: list[dict], runs: list[dict], sampled: list[dict], baseline: str) -> tuple[list[Beside], int]:
    """Every measured curve with its simulated twin (under `baseline`), and how many measured rows
    found none."""
    from orchestrator.analysis.uncertainty import throughput_bands

    model: dict[tuple, dict[int, list[float]]] = {}   # (digest, workload, topology, label) -> copies -> seeds
    for r in runs:
        if r["strategy"] == baseline:
            key = (*_model_key(r), r["topology"], r["workload"])
            model.setdefault(key, {}).setdefault(r["copies"], []).append(r["steady_throughput_per_s"])
    bands = throughput_bands(sampled)
    curves: dict[tuple, list[dict]] = {}
    for r in measured:
        curves.setdefault((r["host"], r["kernel_release"], r["cpu_model"], r["topology_digest"], r["workload"]),
                          []).append(r)
    found, unmatched = [], 0
    for (host, kernel, cpu, digest, workload), rows in sorted(curves.items()):
        by_copies: dict[int, list[float]] = {}
        for row in rows:
            by_copies.setdefault(row["copies"], []).append(row["throughput_per_s"])
        shown = False
        for key in sorted(k for k in model if k[:2] == (digest, workload)):
            points = [Point(n, by_copies[n], mean_ci(model[key][n]), bands.get((key[2], key[3], n, baseline)))
                      for n in sorted(by_copies) if n in model[key]]
            if points:
                found.append(Beside(host, kernel, cpu, key[2], key[3], baseline, points))
                shown = True
        unmatched += 0 if shown else len(rows)
    return found, unmatched
