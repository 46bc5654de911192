"""--backend local: every run in this process, one after the other, in batches as on Ray (so a
batch's tables are made at once); Ctrl-C ends a batch early and keeps its finished runs."""

from __future__ import annotations

import itertools
from typing import Iterator

from orchestrator.runners.work import Batch, Sizer, run_batch
from orchestrator.spec.run import RunSpec


def run_local(specs: Iterator[RunSpec], count: int, sweep_id: str, target_s: float) -> Iterator[Batch]:
    sizer = Sizer(target_s, 1)
    while count:
        batch = list(itertools.islice(specs, sizer.size(count)))
        count -= len(batch)
        result = run_batch([spec.model_dump(mode="json") for spec in batch], sweep_id, keep_on_interrupt=True)
        sizer.record(result)
        yield result
        if result.interrupted:
            raise KeyboardInterrupt
