"""Reference pages generated from the spec models, so that the docs cannot drift from the code:
docs/parameters.md (every model parameter with its default and source) and docs/sweep.md
(every field of a sweep spec). `python -m orchestrator.spec.reference` rewrites both."""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from orchestrator.spec.kernel import KernelSpec
from orchestrator.spec.params import registry
from orchestrator.spec.strategy import StrategySpec
from orchestrator.spec.sweep import SweepSpec, Uncertainty, WorkloadRef
from orchestrator.spec.topology import Costs
from orchestrator.spec.workload import KINDS

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"
LIMITS = ("Types are strict (an int takes no `true` or `\"3\"`, a bool no `1`), numbers finite, and an "
          "upper bound\nshown is a hard limit: a spec beyond it is rejected before any run. A spec file is a "
          "regular file of\nat most 1 MiB of YAML with no duplicate keys and at most 100,000 nodes once "
          "aliases are expanded:\na topology with a full distance matrix therefore fits up to about 310 "
          "NUMA nodes, fewer than the\n1,024 a topology may have (real machines report at most a few dozen).")


def _type(annotation) -> str:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(_type(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is typing.Literal:
        return " / ".join(json.dumps(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is typing.Annotated:
        return _type(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (list, dict):
        args = " to ".join(_type(a) for a in typing.get_args(annotation))
        return f"{typing.get_origin(annotation).__name__} of {args}"
    return "null" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def _default(field) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return "see the presets"  # nested models with a default are expanded by rows()
    return json.dumps(value)


def _limit(field) -> str:
    """The hard upper bound of a field, if it has one (specs above it are rejected)."""
    for constraint in field.metadata:
        for name, word in (("le", "at most"), ("lt", "below"), ("max_length", "at most")):
            bound = getattr(constraint, name, None)
            if bound is not None:
                return f", {word} {bound:,}" + (" entries" if name == "max_length" else "")
    return ""


def rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str, str]]:
    """(dotted name as --set takes it, type, default, description) of every field, nested models
    with a default expanded in place."""
    out = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}.{name}" if prefix else name
        annotation = field.annotation
        nested = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if nested is not None and not field.is_required():
            out += rows(nested, dotted)
            continue
        out.append((dotted, _type(annotation) + _limit(field), _default(field),
                    (field.description or "").replace("|", "/")))
    return out


def _table(entries: list[tuple[str, str, str, str]]) -> list[str]:
    lines = ["| name | type | default | meaning and source |", "|---|---|---|---|"]
    return lines + [f"| `{n}` | {t} | `{d}` | {m} |" for n, t, d, m in entries] + [""]


def _ranged(entries: list[tuple[str, str, str, str]]) -> list[str]:
    """A parameter table with the plausible range of each uncertain parameter (spec/params.py)."""
    ranges = {p.name: f"{p.low:,} - {p.high:,} {p.unit} ({p.source})" for p in registry()}
    lines = ["| name | type | default | plausible range | meaning and source |", "|---|---|---|---|---|"]
    return lines + [f"| `{n}` | {t} | `{d}` | {ranges.get(n, '')} | {m} |" for n, t, d, m in entries] + [""]


def parameters_page() -> str:
    out = ["# Parameters", "",
           "Every parameter of the model, by the dotted name `orch run --set` and a sweep's `set:` take,",
           "with its default and where the default comes from ([sources.md](sources.md), [model.md](model.md)).",
           "Generated from the code (`python -m orchestrator.spec.reference`); a test keeps it current.",
           LIMITS, "",
           "A plausible range (`orch params` lists them) is where a parameter lies on real machines, by",
           "its source; fitting and uncertainty sampling draw from it, and it rejects nothing.", "",
           "## Kernel policy (`kernel.*`)", "", *_ranged(rows(KernelSpec, "kernel")),
           "## Machine costs (`topology.costs_ns.*`)", "",
           "Cache-line latencies are per topology (`latency_ns`, see the presets and sources.md).", "",
           *_ranged(rows(Costs, "topology.costs_ns"))]
    for kind in KINDS:
        name = typing.get_args(kind.model_fields["kind"].annotation)[0]
        entries = [r for r in rows(kind, "workload") if r[0] not in ("workload.kind", "workload.name",
                                                                      "workload.description")]
        out += [f"## Workload `{name}` (`workload.*`)", "", *_ranged(entries)]
    return "\n".join(out)


def sweep_page() -> str:
    return "\n".join([
        "# Sweep specs", "",
        "A sweep is the cross product of its topologies, strategies, workloads, copy counts and seeds;",
        "`orch sweep SPEC` runs every point once and keeps what is done (rerunning resumes).",
        "SPEC is a file, or a shipped study by name: `orch sweep quick` runs `reports/quick/sweep.yaml`,",
        "`orch sweep i_mmap-split` the study the report in `reports/i_mmap-split/` came from",
        "(`orch sweep -h` lists them); their specs are examples.",
        "Generated from the code (`python -m orchestrator.spec.reference`); a test keeps it current.",
        LIMITS, "",
        "File references (topologies, workload files, profile) are relative to the spec's folder;",
        "a name without a slash or .yaml that is no file there is a preset. On the command line,",
        "`--set key=value` appends to `set:` and `--axis 'key=[v1, v2]'` adds to `axes:`.",
        "Where one topology and workload name covers several configurations (an axis, or two sweeps",
        "into one dataset with other settings), reports add the differing fields to the workload label.",
        "`orch sweep --json` prints the counts, failures and cells as one JSON object, and a warning",
        "names runs too short for the precision printed: `orch docs analysis` has both.",
        "",
        "## Fields", "", *_table(rows(SweepSpec, "")),
        "## A strategy entry (`strategies: [...]`)", "", *_table(rows(StrategySpec, "")),
        "## A workload entry (`workloads: [...]`)", "", *_table(rows(WorkloadRef, "")),
        "## The uncertainty block (`uncertainty:`)", "", "`orch docs calibration` says what the designs and their "
        "sensitivity analyses (SALib) report.", "", *_table(rows(Uncertainty, ""))])


PAGES = {"parameters.md": parameters_page, "sweep.md": sweep_page}

if __name__ == "__main__":
    for page, make in PAGES.items():
        (DOCS / page).write_text(make() + "\n")
        print(f"wrote docs/{page}")
