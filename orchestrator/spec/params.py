"""The parameter registry: every model parameter that declares a plausible range (spec/base.py,
`plausible`), by the dotted name `--set` takes. `orch params` lists it; fitting and uncertainty
sampling draw from it."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel

from orchestrator.spec.kernel import KernelSpec
from orchestrator.spec.topology import Costs
from orchestrator.spec.workload import KINDS

MODELS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("kernel", KernelSpec), ("topology.costs_ns", Costs), *(("workload", kind) for kind in KINDS))


@dataclass(frozen=True)
class Param:
    name: str             # dotted, as --set and a sweep's set: take it
    default: float
    low: float
    high: float
    unit: str
    source: str
    description: str
    workloads: tuple[str, ...] = ()  # the workload kinds that have it (workload.* only)


def declared(field) -> dict | None:
    extra = field.json_schema_extra
    return extra if isinstance(extra, dict) and "plausible" in extra else None


@cache
def registry() -> tuple[Param, ...]:
    """Built once: the spec models do not change while orch runs (a sweep's expansion asks per run)."""
    found: dict[str, Param] = {}
    for prefix, model in MODELS:
        kind = typing.get_args(model.model_fields["kind"].annotation) if "kind" in model.model_fields else ()
        for name, field in model.model_fields.items():
            extra = declared(field)
            if extra is None:
                continue
            dotted = f"{prefix}.{name}"
            if dotted in found:  # a field workloads share: one entry, every kind named
                found[dotted] = Param(**{**found[dotted].__dict__, "workloads": found[dotted].workloads + kind})
                continue
            low, high = extra["plausible"]
            found[dotted] = Param(dotted, field.get_default(), low, high, extra["unit"], extra["source"],
                                  field.description or "", kind)
    return tuple(found.values())


def value_at(param: Param, unit: float, low: float | None = None, high: float | None = None) -> float:
    """The value `unit` (0 - 1) of the way across [low, high] (default: its plausible range), an
    int for an int parameter."""
    if low is None or high is None:
        low, high = param.low, param.high
    value = low + min(max(float(unit), 0.0), 1.0) * (high - low)
    return value if isinstance(param.default, float) else int(round(value))
