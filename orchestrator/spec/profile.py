"""Calibration profiles: what `orch calibrate` writes and `--profile` reads, as a spec like any other.

A profile holds the best-fitting values of the fitted parameters and an ensemble: every evaluated
parameter set whose error on the curve is consistent with the best one given the measurement
noise. Runs with a profile use the best values; the ensemble's members run as uncertainty
samples, so a prediction carries the band the calibration leaves. Version 1 profiles (before
ensembles) are read too: their ensemble is their one fitted point.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from orchestrator.errors import FieldError, UserError
from orchestrator.spec.base import Spec

PROFILE_VERSION: Final = 2
MAX_MEMBERS = 24  # an ensemble runs once per member: a few dozen at most

Finite = Annotated[float, Field(allow_inf_nan=False)]
Value = Annotated[int | float, Field(allow_inf_nan=False)]  # an int parameter keeps its int


class ParameterFit(Spec):
    name: str
    value: Value
    low: Finite = Field(description="the plausible range searched")
    high: Finite
    identified: bool = Field(description="the curve constrains it: moving it to either end of its range, the "
                                         "others at the optimum, raises the error beyond what noise explains")
    sensitivity: Finite = Field(description="that rise in RMS log error (the smaller of the two ends)")
    threshold: Finite = Field(description="the rise the measurement noise alone explains")
    global_sensitivity: Finite | None = Field(None, description="PAWN index (SALib) of the error over every "
                                                                "evaluation: 0 = no influence, 1 = decisive")
    at_edge: Literal["low", "high"] | None = Field(None, description="fitted within 2% of the range's width "
                                                                     "from an edge")


class Member(Spec):
    values: dict[str, Value]
    rms_log: Finite = Field(ge=0, description="RMS log error on the fitted points")


class Point(Spec):
    copies: PositiveInt
    measured: Finite
    model: Finite
    low: Finite | None = None
    high: Finite | None = None
    held_out: bool = False
    error: Finite | None = None


class ProfileSpec(Spec):
    version: Literal[1, 2] = 1
    topology: str | None = None
    topology_digest: str | None = Field(None, description="shape digest of the topology fitted on")
    workload: str | None = None
    strategy: str | None = None
    fitted: dict[str, Value] = Field(min_length=1, description="best-fitting value of each fitted parameter")
    ranges: dict[str, Annotated[list[Finite], Field(min_length=2, max_length=2)]] = Field(default_factory=dict)
    parameters: list[ParameterFit] = Field(default_factory=list)
    noise: Finite | None = Field(None, ge=0, description="RMS log noise per point the ensemble allows for")
    ensemble: list[Member] = Field(default_factory=list, max_length=MAX_MEMBERS,
                                   description="parameter sets consistent with the curve, best first")
    error: dict[str, Finite | str | None] = Field(default_factory=dict)
    points: list[Point] = Field(default_factory=list)
    evaluations: NonNegativeInt | None = None
    seeds: list[int] = Field(default_factory=list)
    duration_ms: Finite | None = None
    warmup_ms: Finite | None = None
    command: str | None = None

    @model_validator(mode="after")
    def _check(self) -> "ProfileSpec":
        from orchestrator.spec.params import registry

        known = {p.name for p in registry()}
        for name in self.fitted:
            if name not in known:
                raise FieldError(("fitted", name), "not an uncertain parameter (orch params lists them)")
        for i, member in enumerate(self.ensemble):
            if set(member.values) != set(self.fitted):
                raise FieldError(("ensemble", i, "values"), "must set exactly the fitted parameters")
        return self

    def members(self) -> list[dict[str, float]]:
        """The ensemble's parameter sets, best first (a version 1 profile: its fitted values)."""
        return [m.values for m in self.ensemble] or [dict(self.fitted)]

    def overrides(self) -> list[str]:
        return settings(self.fitted)

    def warning(self, path: str, digest: str) -> str | None:
        """One line when the profile was fitted on a machine of another shape than `digest`."""
        if self.topology_digest is None or self.topology_digest == digest:
            return None
        return (f"{path}: fitted on {self.topology or 'another topology'}, a machine of another shape: "
                "its machine-specific values may not carry over")


def settings(values: dict[str, float]) -> list[str]:
    """Parameter values as --set items."""
    return [f"{name}={value}" for name, value in values.items()]


def load_profile(path: str) -> ProfileSpec:
    from orchestrator.spec.loader import read_yaml, validate

    data = read_yaml(path)
    if not isinstance(data, dict) or "fitted" not in data:
        raise UserError(path, "fitted", "not a calibration profile (orch calibrate writes one)")
    return validate(ProfileSpec, data, path)
