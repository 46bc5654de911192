"""Few, large parts (issue 15): batches of runs, buffered parts, the commit protocol under kill -9
at any write, --force without duplicates, orch compact keeping every row."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml

from orchestrator.results.buffer import Bounds
from orchestrator.results.dataset import WRITER_LOCK
from orchestrator.results.schema import TABLES
from orchestrator.runners import sweep as sweeping
from orchestrator.runners.work import run_batch
from orchestrator.spec import SweepSpec, validate

from faults import Faults, hand_to_workers
from test_sweep import assert_no_duplicate_or_orphan

SPEC = {"name": "parts", "topologies": ["laptop-1n-8"], "workloads": [{"file": "closed-loop"}],
        "strategies": [{"name": "single"}, {"name": "split-cpu"}], "copies": [1, 2, 4], "replications": 2,
        "duration_ms": 0.2}
RUNS = 12
WALL = ("wall_s", "events_per_s")  # wall-clock columns: the only ones that differ between two runs


@pytest.fixture(autouse=True)
def ray_env(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "token")


def spec_file(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**SPEC, **changes}))
    return path


def rows(out: Path) -> dict[str, list[str]]:
    """Every row of every table, as sorted canonical JSON (wall-clock columns left out)."""
    found = {}
    for table in TABLES:
        data = ds.dataset(out / f"table={table}", partitioning="hive").to_table().to_pylist()
        found[table] = sorted(json.dumps({k: v for k, v in r.items() if k not in WALL}, sort_keys=True, default=str)
                              for r in data)
    return found


def digest(out: Path) -> str:
    return hashlib.sha256(json.dumps(rows(out)).encode()).hexdigest()


def parts(out: Path, table: str = "runs") -> list[Path]:
    return sorted((out / f"table={table}").rglob("part-*.parquet"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, list[str]]:
    """The rows of a clean sweep of one run per batch and per part, as orch wrote before batches."""
    out = tmp_path_factory.mktemp("reference") / "out"
    outcome, _, _ = sweeping.run_sweep(validate(SweepSpec, SPEC, "test"), "test", backend="local", out=str(out),
                                       batch_s=0, bounds=Bounds(rows=1))
    assert outcome.done == RUNS and len(parts(out)) == RUNS
    return rows(out)


def test_buffered_parts_hold_many_runs(orch, tmp_path, reference):
    out = tmp_path / "out"
    assert orch("sweep", spec_file(tmp_path), "--backend", "local", "--out", out).code == 0
    assert rows(out) == reference
    assert all(len(parts(out, table)) == 1 for table in TABLES)  # one part per table for the whole sweep


def test_batches_on_ray_give_the_rows_of_one_run_per_task(tmp_path, reference):
    spec = validate(SweepSpec, SPEC, "test")
    for name, batch_s in (("one", 0.0), ("batched", 60.0)):
        outcome, _, _ = sweeping.run_sweep(spec, "test", out=str(tmp_path / name), batch_s=batch_s, workers=2)
        assert outcome.done == RUNS and not outcome.failed
        assert rows(tmp_path / name) == reference


# Kill the sweep with SIGKILL inside its N-th Parquet write (a part's bytes half written): in a
# part of another table, in a runs part after the batch's other parts moved into place, later.
KILLER = """
import os, signal, sys
from orchestrator.results import dataset
from orchestrator.cli import main
real, calls = dataset.pq.write_table, []
def write_table(table, sink, *args, **kwargs):
    calls.append(1)
    if len(calls) == int(os.environ["KILL_AT"]):
        sink.write(b"PAR1 half")
        os.kill(os.getpid(), signal.SIGKILL)
    real(table, sink, *args, **kwargs)
dataset.pq.write_table = write_table
main(sys.argv[1:])
"""


@pytest.mark.parametrize("kill_at", [1, 3, 4, 6, 8])
def test_kill_9_at_any_write_then_resume(tmp_path, reference, kill_at):
    out = tmp_path / "out"
    args = ["sweep", str(spec_file(tmp_path)), "--backend", "local", "--out", str(out),
            "--part-rows", "400"]  # parts of about 3 runs or more: at least 2 parts, 8 writes
    killed = subprocess.run([sys.executable, "-c", KILLER, *args], capture_output=True, text=True,
                            env={**os.environ, "KILL_AT": str(kill_at)})
    assert killed.returncode == -9, killed.stderr
    assert_no_duplicate_or_orphan_after_the_rule(out)
    resumed = subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert rows(out) == reference  # every run once, with all its rows, and nothing else
    assert_no_duplicate_or_orphan(out)
    assert not [p for p in out.rglob("*") if p.name.startswith(".") and p.name != WRITER_LOCK]


def assert_no_duplicate_or_orphan_after_the_rule(out: Path) -> None:
    """What a reader that joins on runs sees of a killed sweep: no run twice, and each run in
    runs has all its rows (those of the reference)."""
    if not parts(out):
        return
    ids = {json.loads(r)["run_id"] for r in rows(out)["runs"]}
    assert len(ids) == len(rows(out)["runs"])
    for table in ("locks", "timeseries", "histograms"):
        joined = [r for r in rows(out)[table] if json.loads(r)["run_id"] in ids]
        assert len(joined) == len(set(joined))


def test_interrupt_flushes_the_buffer(tmp_path, monkeypatch):
    """Ctrl-C after some batches: the buffered runs (no part written yet) are written, then kept."""
    real = sweeping.results

    def then_interrupt(todo, *args):
        for count, batch in enumerate(real(todo, *args)):
            if count == 5:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(sweeping, "results", then_interrupt)
    spec = validate(SweepSpec, SPEC, "test")
    outcome, dataset, _ = sweeping.run_sweep(spec, "test", backend="local", out=str(tmp_path / "out"), batch_s=0)
    assert outcome.interrupted and outcome.done == 5
    assert len(dataset.finished()) == 5 and len(parts(tmp_path / "out")) == 1


def test_force_and_failed_runs_leave_no_duplicates(orch, tmp_path, reference, monkeypatch):
    out = tmp_path / "out"
    spec = spec_file(tmp_path)
    with monkeypatch.context() as patched:
        hand_to_workers(patched, sweeping, "simulate_run", Faults(fail=[json.loads(reference["runs"][0])["run_id"]]))
        assert orch("sweep", spec, "--backend", "local", "--out", out).code == 1
    result = orch("sweep", spec, "--backend", "local", "--out", out)  # the failed run again
    assert result.code == 0 and "1 run(s) done now, 11 already" in result.out
    assert rows(out) == reference
    result = orch("sweep", spec, "--backend", "local", "--out", out, "--force", "--part-rows", "500")
    assert result.code == 0 and f"{RUNS} run(s) done now" in result.out
    assert rows(out) == reference


def test_a_batch_is_run_in_one_call():
    spec = validate(SweepSpec, SPEC, "test")
    from orchestrator.plan import expand_sweep

    specs = [r.model_dump(mode="json") for r in expand_sweep(spec, "test")[:3]]
    batch = run_batch(specs, "s")
    assert [run_id for run_id, _ in batch.acks] == batch.tables["runs"].column("run_id").to_pylist()
    assert batch.tables["runs"].num_rows == 3 and batch.seconds > 0


def test_compact_keeps_every_row(orch, tmp_path, reference):
    out = tmp_path / "out"
    spec = spec_file(tmp_path)
    assert orch("sweep", spec, "--backend", "local", "--out", out, "--part-rows", "1").code == 0
    assert orch("sweep", spec_file(tmp_path, name="other"), "--backend", "local", "--out", out,
                "--part-rows", "1").code == 0
    before, count = digest(out), len(parts(out))
    assert count > 2  # a part per batch of runs
    result = orch("compact", out)
    assert result.code == 0, result.err
    assert f"{4 * count} part(s) -> 8" in result.out
    assert digest(out) == before and len(parts(out)) == 2
    assert orch("compact", tmp_path / "nowhere").code == 2
    assert "0 run(s) done now, 12 already" in orch("sweep", spec, "--backend", "local", "--out", out).out


def test_an_interrupted_compact_is_undone_by_reconcile(orch, tmp_path, reference):
    """Killed after the merged batch is committed, before the old ones went: a run is in two
    batches; the next sweep keeps the merged one."""
    from orchestrator.results import compact
    from orchestrator.results.dataset import Dataset

    out = tmp_path / "out"
    spec = spec_file(tmp_path)
    assert orch("sweep", spec, "--backend", "local", "--out", out, "--part-rows", "1").code == 0
    data = Dataset(str(out), "parts")
    data.remove_batch = lambda name: None  # compact dies before it removes anything
    compact._commit_merged(data, sorted(data.run_ids()))  # the object-store path
    assert len(rows(out)["runs"]) == 2 * RUNS
    assert "0 run(s) done now, 12 already" in orch("sweep", spec, "--backend", "local", "--out", out).out
    assert rows(out) == reference and len(parts(out)) == 1
