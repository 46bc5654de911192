"""Run a sweep: expand it, skip what the dataset already has, run the rest in batches, write
them into few large parts as they finish (or let the tasks write them, near the workers)."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from orchestrator import terminal
from orchestrator.analysis.stats import mean_ci
from orchestrator.errors import one_line
from orchestrator.plan import sweep_id, sweep_runs
from orchestrator.results.buffer import Bounds, PartBuffer
from orchestrator.results.dataset import Dataset, destination, owner
from orchestrator.results.tables import failed_tables
from orchestrator.runners import stopping
from orchestrator.runners.backends import open_executor
from orchestrator.runners.executor import Executor, Stream
from orchestrator.runners.work import (
    TARGET_S,
    Batch,
    Sink,
    Sizer,
    run_batch,
    simulate_run,
)
from orchestrator.spec import SweepSpec
from orchestrator.spec.run import RunSpec


@dataclass
class Outcome:
    total: int
    skipped: int
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)   # (run id, error)
    wall_s: float = 0.0
    interrupted: bool = False
    ids: set[str] = field(default_factory=set)                   # every run of this sweep


@dataclass
class Plan:
    runs: Callable[[], Iterator[RunSpec]]  # every run of the sweep, built anew at each call
    ids: set[str]                          # their run ids
    todo: set[str]                         # the ids of those still to do
    nodes: int                             # the most NUMA nodes of a run

    def todo_runs(self) -> Iterator[RunSpec]:
        """The runs still to do, built one at a time: the driver never holds them all."""
        left = set(self.todo)
        for run in self.runs():
            if run.run_id() in left:
                left.discard(run.run_id())
                yield run


def checked(spec: SweepSpec, source: str, notes: list[str]) -> Plan:
    """Everything that can fail on bad input, before the dataset is touched: every run is built
    and checked once here, and only its id kept."""
    runs = sweep_runs(spec, source, notes)
    ids, nodes = set(), 0
    for run in runs():
        stopping.check()
        ids.add(run.run_id())
        nodes = max(nodes, len(run.topology.nodes))
    return Plan(runs, ids, set(ids), nodes)


def plan(checked: Plan, dataset: Dataset, force: bool, notes: list[str], repair: bool = False) -> Plan:
    """The runs the dataset still lacks, after it is made ready: what an interrupted sweep left
    cleared, unreadable parts moved aside (repair), runs to compute again dropped."""
    ids = checked.ids
    dataset.check_writable()
    removed = dataset.remove_temp_files()
    if removed:
        notes.append(f"removed {removed} temp file(s) an interrupted sweep left")
    if repair:
        moved = dataset.repair()
        notes += [f"moved an unreadable part aside: {path}" for path in moved]
    finished = dataset.finished()
    todo = {run_id for run_id in ids if force or finished.get(run_id) != "ok"}
    # runs computed again leave the dataset first (failed ones, or all with --force): no duplicates
    dropped = dataset.drop({run_id for run_id in todo if run_id in finished})
    if dropped:
        notes.append(f"removed {dropped} run(s) from the dataset to compute them again")
    fixed = dataset.reconcile()
    if fixed:
        notes.append(f"removed or rewrote {fixed} part(s) holding rows of runs an interrupted sweep never "
                     "committed")
    return Plan(checked.runs, ids, todo, checked.nodes)


def results(todo: Iterator[RunSpec], count: int, sid: str, executor: Executor, sink: Sink | None,
            target_s: float, run: Callable) -> Iterator[Batch]:
    """The batches of the `count` runs of todo as they finish. A batch is sized from the run times
    measured so far so that it lasts about target_s (0: one run each, as the actor layout needs):
    a task's fixed cost is then small next to it, and a warm worker runs many runs. A batch whose
    worker kept dying is split, each run alone, to find the culprit; that one is recorded failed."""
    sizer = Sizer(target_s, executor.workers)
    left = count

    def batches() -> Iterator[list[dict]]:  # sized as they are drawn, from what finished so far
        nonlocal left
        while left:
            batch = list(itertools.islice(todo, 1 if target_s == 0 else sizer.size(left)))
            left -= len(batch)
            yield [spec.model_dump(mode="json") for spec in batch]

    work = Stream(batches())
    for done in executor.stream(partial(run_batch, sweep_id=sid, sink=sink, run=run), work):
        if done.ok:
            result = done.value
        elif len(done.item) > 1:
            for spec_json in done.item:
                work.again([spec_json])
            continue
        else:
            spec = RunSpec.model_validate(done.item[0])
            error = done.crash or f"{type(done.error).__name__}: {one_line(str(done.error))}"
            result = Batch([(spec.run_id(), error)], 0.0, failed_tables(spec, error, sid))
        sizer.record(result)
        yield result
        if result.interrupted:
            raise KeyboardInterrupt


def more_replications(rows: list[dict], target: float, cap: int) -> list[RunSpec]:
    """The stopping rule: one more seed for every cell whose throughput CI half-width is still
    above `target` (relative to its mean), until it has `cap` seeds."""
    cells: dict[tuple, list[dict]] = {}
    for row in rows:
        cells.setdefault((row["topology"], row["workload"], row["strategy"], row["copies"]), []).append(row)
    extra = []
    for cell in cells.values():
        if any(r["status"] != "ok" for r in cell):
            continue  # a failing cell gets no more seeds: they would fail too
        estimate = mean_ci([r["steady_throughput_per_s"] for r in cell])
        if len(cell) < cap and not estimate.relative_half_width <= target:
            seed = max(r["seed"] for r in cell) + 1
            extra.append(RunSpec.model_validate({**json.loads(cell[0]["config_json"]), "seed": seed}))
    return extra


def run_sweep(spec: SweepSpec, source: str, *, backend: str = "ray", address: str | None = None,
              workers: int | None = None, layout: str = "task", out: str | None = None, force: bool = False,
              target_ci: float | None = None, max_replications: int = 20, repair: bool = False,
              bounds: Bounds = Bounds(), shared_out: bool = False, batch_s: float | None = None,
              console: Console | None = None, run: Callable | None = None,
              executor: Executor | None = None) -> tuple[Outcome, Dataset, list[str]]:
    """shared_out: every Ray worker reaches the output (as it does an object store), so tasks write
    their parts themselves. batch_s: how long a task should last (None: TARGET_S; 0: one run each).
    run: how one run is computed (default simulate_run; tests hand a failing one to every backend).
    executor: one the caller opened and closes (orch validate runs many sweeps on one); by default
    the sweep opens its own from backend, workers and address when it has runs to do."""
    run = run or simulate_run
    workers = default_workers(backend, workers)
    dataset = Dataset(destination(out, "--out") if out else destination(spec.output, source, "output"), spec.name)
    notes: list[str] = []
    runs = checked(spec, source, notes)  # bad input fails here: no dataset folder made, no lock taken
    with dataset.writing():  # one writer at a time: the same sweep started twice is refused
        return _run(spec, runs, dataset, backend, address, workers, layout, force, target_ci, max_replications,
                    repair, bounds, shared_out, batch_s, console, run, notes, executor)


def default_workers(backend: str, workers: int | None) -> int:
    """What a sweep takes for no --workers: one worker in orch's own process locally, two Ray CPUs."""
    return workers or (1 if backend == "local" else 2)


def _run(spec, runs, dataset, backend, address, workers, layout, force, target_ci, max_replications, repair,
         bounds, shared_out, batch_s, console, run, notes, executor) -> tuple[Outcome, Dataset, list[str]]:
    planned = plan(runs, dataset, force, notes, repair)
    console = console or terminal.console(stderr=True)
    for note in notes:
        console.print(f"orch: note: {note}", highlight=False)
    outcome = Outcome(total=len(planned.ids), skipped=len(planned.ids) - len(planned.todo), ids=planned.ids)
    todo, count = planned.todo_runs(), len(planned.todo)
    sid = sweep_id(spec)
    meta = spec.model_dump(mode="json")
    began = time.perf_counter()
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(), TextColumn("eta"),
               TimeRemainingColumn()]
    buffer = PartBuffer(dataset, meta, bounds)
    near = backend == "ray" and layout == "task" and (shared_out or dataset.object_store)
    assert dataset.sweep is not None  # a sweep's own part of the dataset
    sink = Sink(dataset.uri, dataset.sweep, meta, owner()) if near else None
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task(spec.name, total=count, failed=0)
        target_s = 0 if layout == "actors" else TARGET_S if batch_s is None else batch_s
        owned = executor is None
        try:
            while True:
                if count:
                    executor = executor or open_executor(backend, workers, address, layout, planned.nodes)
                    for batch in results(todo, count, sid, executor, sink, target_s, run):
                        outcome.failed += [(run_id, error) for run_id, error in batch.acks if error is not None]
                        buffer.add(len(batch.acks), batch.tables)
                        progress.update(bar, advance=len(batch.acks), failed=len(outcome.failed))
                        stopping.check()
                    buffer.flush()  # the stopping rule below reads what is written
                # the stopping rule looks at every run of the sweep, those of earlier sweeps too
                extra = [] if target_ci is None else more_replications(
                    dataset.runs().to_pylist(), target_ci, max_replications)
                if not extra:
                    break
                todo, count = iter(extra), len(extra)
                outcome.ids.update(run.run_id() for run in extra)
                outcome.total += count
                progress.update(bar, total=outcome.total - outcome.skipped)
        except KeyboardInterrupt:
            outcome.interrupted = True
            buffer.flush()  # the finished runs are kept
        finally:
            if owned and executor is not None:
                executor.close()
            outcome.done = buffer.written
    outcome.wall_s = time.perf_counter() - began
    return outcome, dataset, notes
