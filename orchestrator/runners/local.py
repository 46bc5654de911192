"""--backend local: every run in this process, one after the other."""

from __future__ import annotations

from typing import Iterator

from orchestrator.runners.work import run_one
from orchestrator.spec.run import RunSpec


def run_local(specs: list[RunSpec], sweep_id: str) -> Iterator[tuple]:
    for spec in specs:
        yield run_one(spec.model_dump(mode="json"), sweep_id)
