"""Run the rows of validation tables: each row is a sweep (its sides x seeds x uncertainty samples)
run by runners/sweep.py through one executor into one dataset, a partition per row, so that an
interrupted validation resumes where it stopped and a second one recomputes nothing.

The two sides of a change row are the sweep's two strategies, or its `kernel.release` axis: the
same seeds and the same samples run on both (common random numbers), so the ratio is the model's
and not the noise's. The samples are plan.uncertainty_samples' Latin hypercube over every uncertain
parameter's plausible range, or a profile's ensemble where the profile applies.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from statistics import fmean

from rich.console import Console

from orchestrator.plan import load_part, sweep_runs
from orchestrator.results.dataset import Dataset
from orchestrator.runners.backends import open_executor
from orchestrator.runners.sweep import default_workers, run_sweep
from orchestrator.spec import SweepSpec, Topology, validate
from orchestrator.spec.profile import ProfileSpec, load_profile
from orchestrator.spec.run import MODEL_VERSION
from orchestrator.spec.topology import shape_digest
from orchestrator.validation.score import Scored, score, summary, value
from orchestrator.validation.table import Row, Table, release_setting, row_source

UNCERTAINTY_SEED = 0  # the Latin hypercube's seed: every row, every side, every run draws the same points


@dataclass
class Options:
    samples: int | None = None          # None: each table's own
    profile: str | None = None
    backend: str = "ray"
    workers: int | None = None
    address: str | None = None
    out: str | None = None              # None: a temporary dataset, gone afterwards


@dataclass
class RowOutcome:
    table: Table
    row: Row
    values: dict[int | None, float] | None  # the row's statistic by sample; None when a run failed
    errors: list[str] = field(default_factory=list)
    computed: int = 0
    reused: int = 0


@dataclass
class Validation:
    tables: list[Table]
    options: Options
    outcomes: list[RowOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    interrupted: bool = False

    def scored(self) -> list[Scored]:
        return [score(o.row, o.values) for o in self.outcomes]

    def results(self) -> dict:
        """What the model card is written from (and --json prints the rows and summary of)."""
        scored = self.scored()
        return {"model_version": MODEL_VERSION,
                "tables": [{"ref": t.ref, "run": {**t.run.model_dump(), "samples": samples_of(t, self.options)}}
                           for t in self.tables],
                "profile": self.options.profile, "backend": self.options.backend, "workers": workers(self.options),
                "cpus": os.cpu_count(), "wall_s": round(self.wall_s, 1),
                "runs": {"computed": sum(o.computed for o in self.outcomes),
                         "reused": sum(o.reused for o in self.outcomes)},
                "notes": self.notes,
                "rows": [s.as_json() for s in scored], "summary": summary(scored)}


def workers(options: Options) -> int:
    return default_workers(options.backend, options.workers)


def samples_of(table: Table, options: Options) -> int:
    return table.run.samples if options.samples is None else options.samples


def row_sweep(table: Table, row: Row, samples: int, profile: str | None) -> SweepSpec:
    """The row as a sweep: its sides as two strategies or a kernel.release axis, one copy count,
    the table's seeds, and the uncertainty samples."""
    releases = row.releases
    data = {"name": row.id, "topologies": [table.locate(row.machine)],
            "strategies": [{"name": name} for name in row.strategies],
            "workloads": [{"file": table.locate(row.workload), "overrides": row.overrides}],
            "copies": [row.copies], "seeds": table.run.seeds,
            "duration_ms": row.duration_ms or table.run.duration_ms,
            "warmup_ms": table.run.warmup_ms if row.warmup_ms is None else row.warmup_ms,
            "placement": row.placement,
            "set": [*row.set, *([release_setting(releases[0])] if len(releases) == 1 else [])],
            "axes": {"kernel.release": releases} if len(releases) == 2 else {},
            "uncertainty": {"samples": samples, "seed": UNCERTAINTY_SEED} if samples else None,
            "profile": profile}
    return validate(SweepSpec, data, row_source(table.ref, row.id))


def profile_fits(profile: ProfileSpec, table: Table, row: Row) -> bool:
    """A profile applies to a row whose machine has the shape it was fitted on (or that says none)."""
    topology = validate(Topology, load_part("topology", table.locate(row.machine)), row.machine)
    return profile.topology_digest in (None, shape_digest(topology.model_dump(mode="json")))


def row_values(row: Row, spec: SweepSpec, source: str, dataset: Dataset, ids: set[str]
               ) -> tuple[dict[int | None, float] | None, list[str]]:
    """The row's statistic by sample from its runs in the dataset, or the errors of those that failed."""
    where = {}  # run id -> (side, sample)
    for run in sweep_runs(spec, source)():
        where[run.run_id()] = (row.sides.index((run.kernel.release, run.strategy.name)), run.sample)
    by_sample: dict[int | None, list[list[float]]] = {}
    errors = []
    for found in dataset.runs(["run_id", "status", "error", "steady_throughput_per_s"]).to_pylist():
        if found["run_id"] not in ids:
            continue
        if found["status"] != "ok":
            errors.append(found["error"] or "failed")
            continue
        side, sample = where[found["run_id"]]
        by_sample.setdefault(sample, [[] for _ in row.sides])[side].append(found["steady_throughput_per_s"])
    for sample, sides in by_sample.items():
        if not all(sides) or (row.metric == "change" and not fmean(sides[0]) > 0):
            errors.append(f"sample {sample}: a side has no runs, or side A ran no iteration")
    if errors:
        return None, errors
    return {sample: value(row, sides) for sample, sides in by_sample.items()}, []


def validate_rows(tables: list[Table], rows: list[tuple[Table, Row]], options: Options, console: Console
                  ) -> Validation:
    """Run `rows` (of `tables`) and compare each with its measurement."""
    result = Validation(tables, options)
    profile = load_profile(options.profile) if options.profile is not None else None
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="orch-validate-") as scratch, \
            open_executor(options.backend, workers(options), options.address) as executor:
        for number, (table, row) in enumerate(rows, 1):
            source = row_source(table.ref, row.id)
            applies = profile is not None and profile_fits(profile, table, row)
            if profile is not None and not applies:
                result.notes.append(f"{row.id}: {options.profile} was fitted on a machine of another shape than "
                                    f"{row.machine}: the row runs with the defaults")
            spec = row_sweep(table, row, samples_of(table, options), options.profile if applies else None)
            console.print(f"[{number}/{len(rows)}] {row.id}: {describe(row)}", highlight=False)
            outcome, dataset, _ = run_sweep(spec, source, backend=options.backend, address=options.address,
                                            workers=options.workers, out=options.out or scratch,
                                            console=console, executor=executor)
            if outcome.interrupted:
                result.interrupted = True
                break
            values, errors = row_values(row, spec, source, dataset, outcome.ids)
            result.outcomes.append(RowOutcome(table, row, values, errors, outcome.done, outcome.skipped))
    result.wall_s = time.perf_counter() - began
    return result


def describe(row: Row) -> str:
    sides = " vs ".join(f"{release} {strategy}" for release, strategy in row.sides)
    extra = f" {json.dumps(row.overrides)}" if row.overrides else ""
    return f"{row.workload}{extra} x {row.copies} on {row.machine}, {sides}"
