"""Model beside measurement: a curve `orch measure` took on a real machine, next to the model's
curve for the same machine shape and workload under the baseline (mainline) design.

A measured row matches simulated runs when its host's detected topology has the same shape
(spec.topology.shape_digest: names and prose left out) and the runs' workload has its kind.
Measured with --perf, a curve also has CPU time shares and contended call sites, which stand
beside the model's: shares per copy count, call sites matched on (kind, mode, caller).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestrator.analysis.stats import Estimate, mean_ci
from orchestrator.spec.topology import shape_digest

SHARES = ("work", "spin", "sleep", "idle")  # runs' cpu_*_share columns, in stacking order
SLEEPING = ("rwsem", "mutex", "percpu-rwsem")  # perf's contended counts their waiters that slept


@dataclass
class Point:
    copies: int
    measured: list[float]                   # throughput per wall second, one per repeat
    model: Estimate                         # over seeds, 95% CI
    band: tuple[float, float] | None        # the model's mean across uncertainty samples: (lowest, highest)
    measured_shares: dict[str, float] | None = None  # mean over repeats recorded with --perf
    model_shares: dict[str, float] | None = None     # mean over seeds

    @property
    def error(self) -> float:
        """Model over measured, minus one."""
        return self.model.mean / statistics.fmean(self.measured) - 1


@dataclass
class Site:
    """A contended call site: rates per second (measured: per wall second of the repeat; model:
    per virtual second), mean over repeats or seeds; None where that side has no row."""
    kind: str
    mode: str
    caller: str | None
    model_per_s: float | None
    measured_per_s: float | None
    model_wait_ms_per_s: float | None
    measured_wait_ms_per_s: float | None


@dataclass
class Beside:
    host: str
    kernel: str
    cpu_model: str
    topology: str            # the simulated topology's name
    workload: str            # the simulated workload's label
    strategy: str
    points: list[Point]
    sites: list[Site] = field(default_factory=list)   # at the largest copy count both sides have

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


def pair(measured: list[dict], runs: list[dict], sampled: list[dict], baseline: str,
         locks: Sequence[dict] = (), measured_locks: Sequence[dict] = ()) -> tuple[list[Beside], int]:
    """Every measured curve with its simulated twin (under `baseline`), and how many measured rows
    found none. `locks` are the model runs' locks rows, `measured_locks` the measured runs'."""
    from orchestrator.analysis.uncertainty import throughput_bands

    model: dict[tuple, dict[int, list[dict]]] = {}   # (digest, workload, topology, label) -> copies -> seeds' runs
    for r in runs:
        if r["strategy"] == baseline:
            key = (*_model_key(r), r["topology"], r["workload"])
            model.setdefault(key, {}).setdefault(r["copies"], []).append(r)
    bands = throughput_bands(sampled)
    lock_rows = _by_run([*locks, *measured_locks])
    curves: dict[tuple, list[dict]] = {}
    for r in measured:
        curves.setdefault((r["host"], r["kernel_release"], r["cpu_model"], r["topology_digest"], r["workload"]),
                          []).append(r)
    found, unmatched = [], 0
    for (host, kernel, cpu, digest, workload), rows in sorted(curves.items()):
        by_copies: dict[int, list[dict]] = {}
        for row in rows:
            by_copies.setdefault(row["copies"], []).append(row)
        shown = False
        for key in sorted(k for k in model if k[:2] == (digest, workload)):
            both = [n for n in sorted(by_copies) if n in model[key]]
            points = [Point(n, [r["throughput_per_s"] for r in by_copies[n]],
                            mean_ci([r["steady_throughput_per_s"] for r in model[key][n]]),
                            bands.get((key[2], key[3], n, baseline)), shares_of(by_copies[n]), shares_of(model[key][n]))
                      for n in both]
            if points:
                sites = call_sites(model[key][both[-1]], by_copies[both[-1]], lock_rows)
                found.append(Beside(host, kernel, cpu, key[2], key[3], baseline, points, sites))
                shown = True
        unmatched += 0 if shown else len(rows)
    return found, unmatched


def _by_run(locks: Sequence[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for row in locks:
        found.setdefault(row["run_id"], []).append(row)
    return found


def with_shares(runs: list[dict]) -> list[dict]:
    """The runs with CPU time shares (measured: those recorded with --perf)."""
    return [r for r in runs if r.get("cpu_work_share") is not None]


def shares_of(runs: list[dict]) -> dict[str, float] | None:
    """Mean CPU time shares of the runs that have them (measured: those recorded with --perf)."""
    having = with_shares(runs)
    if not having:
        return None
    return {name: statistics.fmean(r[f"cpu_{name}_share"] or 0.0 for r in having) for name in SHARES}


def call_sites(model_runs: list[dict], measured_runs: list[dict], locks: dict[str, list[dict]]) -> list[Site]:
    """Contended call sites of both sides, matched on (kind, mode, caller), busiest first. A
    model row of a sleeping lock (rwsem, mutex) counts its sleeps: perf's tracepoints fire only
    for waiters that gave up spinning and queued to sleep."""
    model = _rates(model_runs, locks, sleeping=True)
    measured = _rates(with_shares(measured_runs), locks, sleeping=False)
    sites = []
    for key in set(model) | set(measured):
        (kind, mode, caller), ours, perfs = key, model.get(key), measured.get(key)
        sites.append(Site(kind, mode, caller, ours[0] if ours else None, perfs[0] if perfs else None,
                          ours[1] if ours else None, perfs[1] if perfs else None))
    return sorted(sites, key=lambda s: (-max(s.model_per_s or 0.0, s.measured_per_s or 0.0), s.kind, s.mode,
                                        s.caller or ""))


def _rates(runs: list[dict], locks: dict[str, list[dict]], sleeping: bool) -> dict[tuple, tuple[float, float]]:
    """(kind, mode, caller) -> (contended per second, ms waited per second), mean over the runs."""
    sums: dict[tuple, list[float]] = {}
    for run in runs:
        for row in locks.get(run.get("run_id") or "", []):
            seconds = run["duration_ms"] / 1e3
            asleep = sleeping and row["kind"] in SLEEPING
            count = (row["sleeps"] if asleep else row["contentions"]) or 0
            wait = (row["sleep_ns"] if asleep else row["wait_total_ns"]) or 0
            if count:
                total = sums.setdefault((row["kind"], row["mode"], row["caller"]), [0.0, 0.0])
                total[0] += count / seconds
                total[1] += wait / 1e6 / seconds
    return {key: (c / len(runs), w / len(runs)) for key, (c, w) in sums.items()}


SHARE_POINTS = 0.05  # a share gap differences() names


def differences(b: Beside, share_points: float = SHARE_POINTS, sites: int = 5) -> list[str]:
    """What differs between model and measurement, one line each: shares further apart than
    `share_points`, and the busiest call sites only one side has."""
    lines = []
    for p in b.points:
        if p.measured_shares is None or p.model_shares is None:
            continue
        for name in SHARES:
            gap = p.model_shares[name] - p.measured_shares[name]
            if abs(gap) >= share_points:
                lines.append(f"{p.copies} copies: {name} share {p.model_shares[name]:.0%} in the model, "
                             f"{p.measured_shares[name]:.0%} measured ({gap * 100:+.0f} points)")
    only_model = [s for s in b.sites if s.measured_per_s is None]
    only_measured = [s for s in b.sites if s.model_per_s is None]
    # a lock the model simplifies (tasklist_lock, an rwlock, is modelled as a spinlock): same caller and mode
    twins = {(s.mode, s.caller): s for s in only_measured}
    renamed = [(s, twins[s.mode, s.caller]) for s in only_model if (s.mode, s.caller) in twins]
    paired = {id(x) for pair in renamed for x in pair}
    lines += [f"{ours.caller} ({ours.mode}): a {ours.kind} in the model, {theirs.kind} measured; "
              f"{ours.model_per_s:,.0f} contended/s in the model, {theirs.measured_per_s:,.0f} measured"
              for ours, theirs in renamed[:sites]]
    lines += [f"{_site(s)}: {s.model_per_s:,.0f} contended/s in the model, none measured"
              for s in only_model if id(s) not in paired][:sites]
    lines += [f"{_site(s)}: {s.measured_per_s:,.0f} contended/s measured, not modelled"
              for s in only_measured if id(s) not in paired][:sites]
    return lines


def _site(s: Site) -> str:
    return f"{s.caller or '(caller not said)'} ({s.kind} {s.mode})"
