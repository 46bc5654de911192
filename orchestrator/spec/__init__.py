"""Spec models (pydantic v2) and YAML loading: the first stage of the data path."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.spec.kernel import KernelSpec
from orchestrator.spec.loader import load, read_yaml, validate
from orchestrator.spec.strategy import StrategySpec
from orchestrator.spec.sweep import SweepSpec
from orchestrator.spec.topology import Topology
from orchestrator.spec.workload import WorkloadSpec

if TYPE_CHECKING:
    from typing_extensions import TypeForm

SCHEMAS: dict[str, TypeForm[object]] = {
    "kernel": KernelSpec,
    "topology": Topology,
    "workload": WorkloadSpec,
    "strategy": StrategySpec,
    "sweep": SweepSpec,
}

__all__ = ["SCHEMAS", "StrategySpec", "SweepSpec", "Topology", "WorkloadSpec", "load", "read_yaml", "validate"]
