"""A validation table: published measurements as data, one row each, read and checked row by row.

A row names a public source, the machine (a topology), the kernel release, the workload, the lock
design and the copies the measurement was taken with, the measured value and its metric: a
`throughput` in the benchmark's own unit, or a `change` in percent between two kernel releases or
two designs (an A/B). `role` says whether calibration may use the row (`fit`) or the model may only
predict it (`check`). The shipped table is orchestrator/validation/published.yaml; a user's table
has the same format (docs/validation.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, NonNegativeInt, PositiveInt, ValidationError, model_validator

from orchestrator.errors import FieldError, UserError
from orchestrator.plan import load_part, run_from
from orchestrator.presets import beside
from orchestrator.spec.base import MAX_CPUS, MAX_REPLICATIONS, MAX_SAMPLES, DurationMs, Seed, Spec, WarmupMs
from orchestrator.spec.kernel import KernelSpec
from orchestrator.spec.loader import parse_yaml, read_spec_text, validate
from orchestrator.spec.run import apply_overrides
from orchestrator.spec.workload import WorkloadSpec

SHIPPED = Path(__file__).resolve().parent / "published.yaml"
SHIPPED_NAME = "published"  # what names the shipped table on the command line and in a results file


def _release(value: Any) -> Any:
    """A kernel release as KernelSpec takes it (text like "6.11"), with its message when not."""
    try:
        KernelSpec.model_validate({"release": value})
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    return value


def _listed(check):
    """One value or a list of them, read as a list; a single value is checked here so that its
    error names the field itself."""
    return BeforeValidator(lambda value: value if isinstance(value, list) else [check(value)])


Release = Annotated[str, BeforeValidator(_release)]
Name = Annotated[str, Field(min_length=1)]


class RunSettings(Spec):
    """How every row runs unless it says otherwise: short runs, so that the shipped table validates
    in tens of minutes on two cores."""

    duration_ms: DurationMs = Field(20.0, description="virtual time measured per run")
    warmup_ms: WarmupMs = Field(5.0, description="virtual time run before measuring")
    seeds: list[Seed] = Field([1, 2], min_length=1, max_length=MAX_REPLICATIONS,
                              description="seeds of every side of every row (common random numbers)")
    samples: NonNegativeInt = Field(8, le=MAX_SAMPLES, description="Latin-hypercube points over the uncertain "
                                    "parameters' plausible ranges (orch validate --samples replaces it)")


class Row(Spec):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="unique in its table")
    source: Name = Field(description="where the measurement is published: a URL or a lore Message-ID")
    quote: Name = Field(description="where in the source the figure stands, and its words")
    machine: Name = Field(description="topology preset or YAML (relative to the table's folder)")
    kernel: Annotated[list[Release], _listed(_release)] = Field(description="kernel release, or two for a "
                                                                        "release A/B")
    workload: Name = Field(description="workload preset or YAML (relative to the table's folder)")
    overrides: dict[str, Any] = Field(default_factory=dict, description="workload fields to replace")
    strategy: Annotated[list[Name], _listed(lambda name: name)] = Field(
        ["single"], description="lock design, or two for a design A/B")
    copies: PositiveInt = Field(le=MAX_CPUS)
    placement: Literal["migrate", "spread", "compact"] = "migrate"
    set: list[str] = Field(default_factory=list, description="dotted.key=value settings for both sides")
    metric: Literal["throughput", "change"]
    unit: Name = Field("iterations/s", description="the benchmark's unit of a throughput row")
    divisor: float = Field(1.0, gt=0, description="the model's iterations per second divided by this give the "
                                                  "unit (4.3 for UnixBench's execl index)")
    measured: float = Field(description="the published value: in `unit`, or the change in percent")
    bound: Literal["lower", "upper"] | None = Field(None, description="the figure is a bound (\"over 400%\": "
                                                                      "lower)")
    role: Literal["fit", "check"] = Field(description="fit: calibration may use it; check: only predicted")
    duration_ms: DurationMs | None = None
    warmup_ms: WarmupMs | None = None
    notes: str | None = None
    missed_because: str | None = Field(None, description="why the model misses the row: a missing mechanism "
                                                         "or an unknown parameter, filled by a person")

    @property
    def releases(self) -> list[str]:
        return self.kernel

    @property
    def strategies(self) -> list[str]:
        return self.strategy

    @property
    def sides(self) -> list[tuple[str, str]]:
        """(release, strategy) of each side: one, or the A and the B of a change row."""
        if len(self.releases) == 2:
            return [(release, self.strategies[0]) for release in self.releases]
        return [(self.releases[0], strategy) for strategy in self.strategies]

    @model_validator(mode="after")
    def _sides(self) -> "Row":
        for field, values in (("kernel", self.releases), ("strategy", self.strategies)):
            if not 1 <= len(values) <= 2 or len(set(values)) != len(values):
                raise FieldError(field, "one value, or two different ones for an A/B")
        pairs = (len(self.releases) == 2) + (len(self.strategies) == 2)
        if self.metric == "change" and pairs != 1:
            raise FieldError("metric", "a change row needs two kernel releases or two strategies (one A/B)")
        if self.metric == "throughput" and pairs:
            raise FieldError("metric", "a throughput row has one kernel release and one strategy")
        return self


class TableSpec(Spec):
    version: Literal[1] = 1
    run: RunSettings = Field(default_factory=RunSettings)
    rows: list[Any] = Field(min_length=1, description="the measurements; each checked as a Row")


@dataclass(frozen=True)
class Table:
    ref: str            # as given: a path, or SHIPPED_NAME
    folder: str         # where its rows' relative files are
    run: RunSettings
    rows: list[Row]

    def locate(self, ref: str) -> str:
        """A row's machine or workload reference, taken from the table's folder."""
        return beside(self.folder, ref)


def load_table(ref: str) -> Table:
    """Read a table (a path, or "published") and check every row down to the runs of its sides.
    Errors name the table, the row and the field."""
    path = SHIPPED if ref == SHIPPED_NAME else Path(ref)
    spec = validate(TableSpec, parse_yaml(read_spec_text(path), ref), ref)
    folder = "" if ref == SHIPPED_NAME else str(path.parent)
    rows: list[Row] = []
    for index, data in enumerate(spec.rows):
        named = isinstance(data, dict) and isinstance(data.get("id"), str)
        source = row_source(ref, data["id"] if named else f"#{index + 1}")
        row = validate(Row, data, source)
        if any(other.id == row.id for other in rows):
            raise UserError(source, "id", "another row has this id")
        rows.append(row)
    table = Table(ref, folder, spec.run, rows)
    for row in rows:
        check_row(table, row, row_source(ref, row.id))
    return table


def release_setting(release: str) -> str:
    return f"kernel.release={json.dumps(release)}"  # quoted: 6.10 as a number would read as 6.1


def check_row(table: Table, row: Row, source: str) -> None:
    """Every side of the row builds a run: its machine, workload (with the overrides), strategies,
    copies, releases and settings are all valid."""
    def part(field: str, kind: str, ref: str) -> dict[str, Any]:
        try:
            return load_part(kind, ref)
        except UserError as exc:
            raise UserError(source, field, str(exc)) from None

    topology = part("machine", "topology", table.locate(row.machine))
    workload = apply_overrides(part("workload", "workload", table.locate(row.workload)),
                               [f"{key}={json.dumps(value)}" for key, value in row.overrides.items()])
    validate(WorkloadSpec, workload, f"{source}: overrides")
    for release, strategy in row.sides:
        parts = {"topology": topology, "workload": workload, "strategy": part("strategy", "strategy", strategy)}
        try:
            run_from(parts, [*row.set, release_setting(release)], source, copies=row.copies,
                     duration_ms=row.duration_ms or table.run.duration_ms)
        except UserError as exc:
            if exc.source != "--set":  # a run field: already named after the row
                raise
            raise UserError(source, "set", f"{exc.field}: {exc.message}") from None


def row_source(table: str, row: str) -> str:
    return f"{table}: row {row}"
