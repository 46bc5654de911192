"""Read a sweep dataset for analysis, local or in an object store (through results.Dataset),
refusing anything that is not one (exit 2, one line)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from pydantic import ValidationError

from orchestrator.errors import UserError
from orchestrator.results import provenance
from orchestrator.results.dataset import Dataset
from orchestrator.spec.run import ADDED_WITH_DEFAULT, MODEL_VERSION
from orchestrator.terminal import plural


@dataclass
class Study:
    runs: list[dict]                 # ok runs
    failed: int
    locks: list[dict]
    sweeps: list[str]
    stale: int = 0                   # runs of an older model version, left out
    measured: int = 0                # rows of orch measure: not compared between designs, shown beside the model
    order: list[str] = field(default_factory=list)  # strategies in the order the sweep lists them
    designs: dict[str, str] = field(default_factory=dict)  # sweep name -> its uncertainty.method
    provenance: dict[str, str] = field(default_factory=dict)  # what wrote the runs (file metadata)
    sampled_runs: list[dict] = field(default_factory=list)  # ok runs of uncertainty samples (analysis/uncertainty.py)
    measured_runs: list[dict] = field(default_factory=list)  # ok rows of orch measure (analysis/measured.py)
    measured_locks: list[dict] = field(default_factory=list)  # their locks rows (orch measure --perf)


def load_study(path: str, sweep: str | None = None) -> Study:
    """A dataset's runs for the report: a local path or a URI pyarrow.fs understands (s3://...)."""
    dataset = Dataset(path)
    runs = dataset.read("runs").to_pylist()
    if sweep is not None:
        runs = [r for r in runs if r.get("sweep") == sweep]
    sweeps = sorted({r.get("sweep") or "" for r in runs if r["source"] != "measured"})
    # a run two sweeps share (same configuration, same result) counts once: an ok copy if any,
    # else the first sweep's, whatever order the files are read in
    unique: dict[str, dict] = {}
    for r in sorted(runs, key=lambda r: (r["status"] != "ok", r.get("sweep") or "")):
        unique.setdefault(_identity(r), r)
    runs = list(unique.values())
    measured = [r for r in runs if r["source"] == "measured"]
    runs = [r for r in runs if r["source"] != "measured"]  # null: written before orch measure, a model run
    sampled = [r for r in runs if r.get("sample") is not None and r["model_version"] == MODEL_VERSION]
    runs = [r for r in runs if r.get("sample") is None]  # pooling samples with seeds would mix two spreads
    stale = sum(1 for r in runs if r["model_version"] != MODEL_VERSION)
    newer = sorted({v for r in runs if _newer(v := r["model_version"])})
    runs = [r for r in runs if r["model_version"] == MODEL_VERSION]  # older models answer differently
    if not runs and newer:
        raise UserError(path, "table=runs", f"written by a newer orch (model version {newer[-1]}; this orch has "
                                            f"{MODEL_VERSION}): upgrade orch to report it")
    if not runs:
        raise UserError(path, "table=runs", "empty: no runs" + (f" in sweep {sweep!r}" if sweep else "")
                        + (f" besides {len(sampled)} uncertainty samples (rerun the sweep: it adds the nominal runs)"
                           if sampled else "")
                        + (f" of model version {MODEL_VERSION} ({stale} of older ones)" if stale else "")
                        + (f" ({len(measured)} measured rows: the report compares simulated runs only)"
                           if measured else "")
                        )
    ok = [r for r in runs if r["status"] == "ok"]
    failed = len(runs) - len(ok) + sum(1 for r in sampled if r["status"] != "ok")
    sampled = [r for r in sampled if r["status"] == "ok"]
    labelled = separate_configurations(ok + sampled, path)  # in one pass: a sample's band joins its nominal cell
    ok, sampled = labelled[:len(ok)], labelled[len(ok):]
    _backfill_steady(dataset, labelled)
    kept = {(r["run_id"], r.get("sweep")) for r in ok}
    measured_ok = [r for r in measured if r["status"] == "ok"]
    recorded = {(r["run_id"], r.get("sweep")) for r in measured_ok}
    locks, measured_locks = [], []
    for row in dataset.read("locks").to_pylist():
        key = (row["run_id"], row.get("sweep"))
        if key in kept:
            locks.append(row)
        elif key in recorded:
            measured_locks.append(row)
    order, stamps, designs = _runs_metadata(dataset)
    return Study(ok, failed, locks, sweeps, stale,
                 len(measured), order, designs, summarize_provenance(stamps), sampled, measured_ok,
                 measured_locks)


def _backfill_steady(dataset: Dataset, runs: list[dict]) -> None:
    """Runs written before the runs table had steady_throughput_per_s get it from their
    timeseries, by the same estimator (sim/steady.py): else they would drop out unseen.
    Fills in the dicts given: load_study's own copies."""
    from orchestrator.sim.steady import steady_throughput

    missing = {(r["run_id"], r.get("sweep")): r for r in runs if r.get("steady_throughput_per_s") is None}
    if not missing:
        return
    windows: dict[tuple, list[dict]] = {}
    columns = ["run_id", "sweep", "window", "width_ns", "warmup", "iterations", "throughput_per_s"]
    for w in dataset.read("timeseries", columns).to_pylist():
        if (w["run_id"], w["sweep"]) in missing:
            windows.setdefault((w["run_id"], w["sweep"]), []).append(w)
    for key, run in missing.items():
        if key in windows:
            run["steady_throughput_per_s"] = steady_throughput(windows[key])


# what a comparison varies on purpose: not part of a run's configuration
AXES = ("seed", "copies", "strategy", "sample")
# text about a topology or workload: editing it changes a run's id, not what the run computes
PROSE = ("topology.description", "topology.sources", "workload.description")


def _newer(version) -> bool:
    """A model version after this orch's (versions are whole numbers written as text)."""
    try:
        return int(version) > int(MODEL_VERSION)
    except (TypeError, ValueError):
        return False


def _identity(run: dict) -> str:
    """What a run computed: its model version and configuration, prose left out (measured rows:
    their own id). Two sweeps, or two versions of a preset's description, give the same run."""
    if not run.get("config_json") or run.get("source") == "measured":
        return run["run_id"]
    kept = {k: v for k, v in flat_config(run["config_json"]).items() if k not in PROSE}
    return f"{run.get('model_version')}\n{json.dumps(kept, sort_keys=True)}"


def separate_configurations(runs: list[dict], source: str) -> list[dict]:
    """Runs that share names but not configuration (say two sweeps with other kernel.* settings,
    or an --axis) must not be averaged together. Where one topology and workload name stands
    for several configurations, each run's workload label gets the differing fields, e.g.
    "spawn [kernel.spin_mean_ns=100000]". Under one label a strategy name must then mean one
    strategy configuration (it can differ only by an explicit label): else a one-line error.
    Returns the runs relabelled, as new dicts: the runs given stay as they are."""
    flats = [flat_config(r.get("config_json") or "{}") for r in runs]
    labels = _workload_labels(runs, flats)
    _check_strategies(runs, flats, labels, source)
    return [{**r, "workload": label} for r, label in zip(runs, labels)]


def _workload_labels(runs: list[dict], flats: list[Mapping]) -> list[str]:
    """Each run's workload label: its name, and the fields that tell its configuration apart
    from others under the same topology and workload name."""
    labels = [r["workload"] for r in runs]
    by_name: dict[tuple, list[int]] = {}
    for i, r in enumerate(runs):
        by_name.setdefault((r["topology"], r["workload"]), []).append(i)
    for group in by_name.values():
        drawn = _drawn([runs[i] for i in group], [flats[i] for i in group])
        contexts = [{k: v for k, v in flats[i].items()
                     if k.split(".")[0] not in AXES and k not in drawn and k not in PROSE} for i in group]
        differing = _differing(contexts)
        if differing:
            for i, context in zip(group, contexts):
                labels[i] += " [" + ", ".join(f"{k}={_short(context.get(k))}" for k in differing) + "]"
    return labels


def _check_strategies(runs: list[dict], flats: list[Mapping], labels: list[str], source: str) -> None:
    """One strategy configuration per strategy name in each cell (topology, workload label)."""
    by_cell: dict[tuple, list[dict]] = {}
    for r, flat, label in zip(runs, flats, labels):
        strategy = {k: v for k, v in flat.items() if k.split(".")[0] == "strategy"}
        by_cell.setdefault((r["topology"], label, r["strategy"]), []).append(strategy)
    for (topology, workload, strategy), configurations in by_cell.items():
        differing = _differing(configurations)
        if differing:
            raise UserError(source, "table=runs", f"strategy {strategy!r} of {topology} / {workload} names "
                                                  f"two configurations, differing in {differing[0]}")


def _drawn(runs: list[dict], flats: list[Mapping]) -> set[str]:
    """The parameters uncertainty samples drew: each has one value per sample, shared by every
    cell, and so varies between samples on purpose. An uncertain parameter that varies within a
    sample (an axis over it, two sweeps' set:) is a difference of configuration instead."""
    names = {k for r in runs for k in json.loads(r.get("parameters_json") or "{}")}
    values: dict[tuple, set[str]] = {}
    for r, flat in zip(runs, flats):
        for name in names:
            values.setdefault((name, r.get("sample")), set()).add(json.dumps(flat.get(name)))
    return {name for name in names if all(len(v) == 1 for (n, _), v in values.items() if n == name)}


@lru_cache(maxsize=16_384)
def flat_config(config_json: str) -> Mapping:
    """A run's configuration as dotted keys, with the default of every field added since the row
    was written (it ran with it). Parsed once per configuration: identity and labels both need
    it. Read-only, as the cache hands the same mapping to every caller."""
    config = _flatten(json.loads(config_json))
    for path, default in ADDED_WITH_DEFAULT:
        config.setdefault(".".join(path), default)
    return MappingProxyType(config)


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _differing(configs: list[dict]) -> list[str]:
    keys = sorted({k for c in configs for k in c})
    return [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]


def _short(value) -> str:
    """A value for a label: its JSON, or a digest of it when that is long (a whole cpulist)."""
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 40 else "#" + hashlib.sha256(text.encode()).hexdigest()[:8]


def _runs_metadata(dataset: Dataset) -> tuple[list[str], list[dict | None], dict[str, str]]:
    """From the runs parts' file metadata: strategy labels in the order the sweep specs list
    them (the spec listing the most first: a study's main sweep, before its smaller follow-ups),
    each part's provenance (None where an older orch wrote none), and each sweep's uncertainty
    design (the analysis of a Morris or Sobol design needs to know it)."""
    from orchestrator.spec import SweepSpec

    designs: dict[str, str] = {}
    orders: dict[bytes, list[str]] = {}  # one per distinct spec: a dataset has thousands of parts
    stamps: list[dict | None] = []
    for meta in dataset.file_metadata("runs"):
        raw = meta.get(b"orch.sweep_spec")
        if raw is not None and raw not in orders:
            try:
                spec = SweepSpec.model_validate(json.loads(raw))
                orders[raw] = list(dict.fromkeys(s.display for s in spec.strategies))
                if spec.uncertainty is not None:
                    designs[spec.name] = spec.uncertainty.method
            except ValidationError:  # a spec today's limits reject: the report orders by name
                orders[raw] = []
        stamp = meta.get(provenance.KEY.encode())
        stamps.append(json.loads(stamp) if stamp else None)
    order = [name for listed in sorted(orders.values(), key=len, reverse=True) for name in listed]
    return list(dict.fromkeys(order)), stamps, designs


def summarize_provenance(stamps: list[dict | None]) -> dict[str, str]:
    """One line per fact: which orch and commit, which hosts, and when the runs parts were written."""
    known = [s for s in stamps if s]
    if not known:
        return {}
    builds = sorted({f"{s['orch_version']} (commit {s['git_commit']}, model version {s['model_version']})"
                     for s in known})
    written = sorted(s["written_at"] for s in known)
    summary = {"written by": "; ".join(builds), "hosts": ", ".join(sorted({s["host"] for s in known})),
               "written": f"{written[0]} to {written[-1]} ({plural(len(known), 'part')})"}
    if len(known) < len(stamps):
        summary["without provenance"] = f"{plural(len(stamps) - len(known), 'part')} (written by an older orch)"
    return summary
