"""--backend local: every run in this process, one after the other."""

from __future__ import annotations

from typing import Iterator

from orchestrator.runners.work import Batch, run_batch
from orchestrator.spec.run import RunSpec


def run_local(specs: list[RunSpec], sweep_id: str) -> Iterator[Batch]:
    # one run per batch: an interrupt loses no finished run; the sweep's buffer makes the parts large
    for spec in specs:
        yield run_batch([spec.model_dump(mode="json")], sweep_id)
