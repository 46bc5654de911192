"""orch compact is crash-safe for every reader (issue 25, item 1): killed at each of its steps
(kill -9, no clean-up code runs) or on a full disk, pyarrow, DuckDB and Polars count every row
once, and the next orch command finishes or undoes the compact with no row lost or doubled."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest
import yaml

from orchestrator.results import dataset as dataset_module
from orchestrator.results import swap
from orchestrator.results.compact import compact
from orchestrator.results.dataset import Dataset
from orchestrator.results.schema import TABLES

SPEC = {"name": "safe", "topologies": ["laptop-1n-8"], "workloads": [{"file": "closed-loop"}],
        "strategies": [{"name": "single"}, {"name": "split-cpu"}], "copies": [1, 2, 4], "replications": 2,
        "duration_ms": 0.2}
WALL = ("wall_s", "events_per_s")
KILLED = 99

# Runs orch compact in a fresh process that dies (os._exit: no finally, no atexit) at its Nth
# filesystem change; prints "done" if compact finished first. argv: dataset, N, exchange (1/0).
KILLER = """
import os, shutil, sys
from orchestrator.results import compact, swap

root, stop, exchange = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
count = 0

def step(function):
    def wrapped(*args, **kwargs):
        global count
        count += 1
        if count == stop:
            os._exit(99)
        return function(*args, **kwargs)
    return wrapped

for module, name in [(os, "link"), (os, "rename"), (os, "remove"), (os, "makedirs"), (shutil, "rmtree"),
                     (compact, "write_parquet"), (swap, "_write_journal"), (swap, "_exchange")]:
    setattr(module, name, step(getattr(module, name)))
if not exchange:
    swap._exchange = step(lambda a, b: False)
compact.compact(root, 10**9)
print("done")
"""


def counts(out: Path) -> dict[str, tuple[int, int, int]]:
    """Rows of each table as pyarrow, DuckDB and Polars count them (the latter two by glob)."""
    found = {}
    for table in TABLES:
        folder = out / f"table={table}"
        glob = f"{folder}/**/*.parquet"
        arrow = ds.dataset(folder, partitioning="hive").count_rows()
        duck = duckdb.connect().execute(f"select count(*) from read_parquet('{glob}', hive_partitioning=true)")
        found[table] = (arrow, duck.fetchone()[0], pl.read_parquet(glob, hive_partitioning=True).height)
    return found


def digest(out: Path) -> str:
    rows = {}
    for table in TABLES:
        data = ds.dataset(out / f"table={table}", partitioning="hive").to_table().to_pylist()
        rows[table] = sorted(json.dumps({k: v for k, v in r.items() if k not in WALL}, sort_keys=True, default=str)
                             for r in data)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def part_count(out: Path) -> int:
    return len(list(out.rglob("part-*.parquet")))


@pytest.fixture(scope="module")
def many_parts(tmp_path_factory):
    """A dataset of one part per batch of runs, as `--part-rows 1` writes it, with a file of the
    user's own in a sweep folder (compact must carry it over)."""
    from orchestrator.cli import main

    tmp = tmp_path_factory.mktemp("safe")
    spec = tmp / "sweep.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    out = tmp / "out"
    with pytest.raises(SystemExit) as done:
        main(["sweep", str(spec), "--backend", "local", "--out", str(out), "--part-rows", "1"])
    assert done.value.code == 0
    (out / "table=runs" / "sweep=safe" / ".notes").write_text("mine")
    return out


def fresh_copy(source: Path, tmp_path: Path) -> Path:
    out = tmp_path / "case" / "out"
    shutil.copytree(source, out)
    return out


def kill_at(out: Path, step: int, exchange: bool = True) -> bool:
    """True if compact was killed at `step`, False if it finished before."""
    result = subprocess.run([sys.executable, "-c", KILLER, str(out), str(step), "1" if exchange else "0"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode in (0, KILLED), result.stderr
    return result.returncode == KILLED


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_kill_at_every_step_of_compact(many_parts, tmp_path, exchange):
    before, rows, parts = counts(many_parts), digest(many_parts), part_count(many_parts)
    assert parts > len(TABLES) and all(len(set(c)) == 1 for c in before.values())
    step = 0
    while True:
        step += 1
        out = fresh_copy(many_parts, tmp_path / str(step))
        if not kill_at(out, step, exchange):
            break
        journal = (out / swap.JOURNAL).exists()
        if exchange or not journal:  # two renames: a kill between them leaves a table's folder missing
            assert counts(out) == before, f"step {step}"
        compact(str(out), 10**9)  # the next orch command finishes (or undoes) it, then compacts
        assert digest(out) == rows and part_count(out) == len(TABLES), f"step {step}"
        assert not (out / swap.JOURNAL).exists() and not Path(swap.staging_folder(str(out))).exists()
        assert (out / "table=runs" / "sweep=safe" / ".notes").read_text() == "mine"
    assert step > 10  # every step was tried: staging, journal, each table's swap, clean-up
    assert digest(out) == rows and part_count(out) == len(TABLES)


def test_a_reader_finishes_a_killed_compact(many_parts, tmp_path):
    """No writer comes: the report's reader itself rolls the compact forward."""
    out = fresh_copy(many_parts, tmp_path)
    step = 1
    while kill_at(out, step) and not (out / swap.JOURNAL).exists():
        shutil.rmtree(out.parent)
        out = fresh_copy(many_parts, tmp_path)
        step += 1
    assert (out / swap.JOURNAL).exists()
    assert Dataset(str(out)).read("runs").num_rows == counts(many_parts)["runs"][0]
    assert not (out / swap.JOURNAL).exists() and part_count(out) == len(TABLES)


def test_a_full_disk_during_compact_changes_nothing(orch, many_parts, tmp_path, monkeypatch):
    out = fresh_copy(many_parts, tmp_path)
    rows, parts = digest(out), part_count(out)
    real, calls = dataset_module.pq.write_table, []

    def fill_the_disk(table, sink):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(table, sink)

    monkeypatch.setattr(dataset_module.pq, "write_table", fill_the_disk)
    result = orch("compact", out)
    assert result.code == 2 and "No space left on device" in result.err and "Traceback" not in result.err
    assert digest(out) == rows and part_count(out) == parts
    assert not Path(swap.staging_folder(str(out))).exists()
    monkeypatch.undo()
    assert orch("compact", out).code == 0 and digest(out) == rows and part_count(out) == len(TABLES)


def test_a_second_writer_is_refused_in_one_line(orch, many_parts, tmp_path):
    out = fresh_copy(many_parts, tmp_path)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    with Dataset(str(out)).writing():
        for args in (("compact", out), ("sweep", spec, "--backend", "local", "--out", out)):
            result = orch(*args)
            assert result.code == 2 and "Traceback" not in result.err
            assert f"orch pid {os.getpid()}" in result.err and "is writing into this dataset" in result.err
    assert orch("compact", out).code == 0  # the lock goes with its holder


def test_compact_refuses_a_mount_point_root(monkeypatch, many_parts, tmp_path):
    out = fresh_copy(many_parts, tmp_path)
    rows = digest(out)
    real = os.stat
    monkeypatch.setattr(swap.os, "stat", lambda path: real(path) if str(path) != str(out.parent)
                        else os.stat_result((0, 0, real(path).st_dev + 1, *real(path)[3:])))
    from orchestrator.errors import UserError

    with pytest.raises(UserError, match="mount point"):
        compact(str(out), 10**9)
    assert digest(out) == rows


def test_a_stop_signal_during_compact_leaves_the_dataset_as_it_was(orch, many_parts, tmp_path, monkeypatch):
    """SIGTERM noted while compact merges (as runners/stopping.py notes it): compact stops at its
    next safe point, drops what it staged and says what it kept."""
    import signal

    from orchestrator.results import compact as compact_module
    from orchestrator.runners import stopping

    out = fresh_copy(many_parts, tmp_path)
    rows, parts = digest(out), part_count(out)
    real = compact_module._merged

    def merged_then_signalled(*args):
        monkeypatch.setattr(stopping, "received", signal.SIGTERM)  # undone after the test: no stale stop
        return real(*args)

    monkeypatch.setattr(compact_module, "_merged", merged_then_signalled)
    result = orch("compact", out)
    assert result.code == 143
    assert result.err == f"orch: interrupted: {out}: nothing compacted, the dataset is as it was\n"
    assert digest(out) == rows and part_count(out) == parts
    assert not Path(swap.staging_folder(str(out))).exists()


def test_a_full_disk_while_writing_the_journal_changes_nothing(orch, many_parts, tmp_path, monkeypatch):
    """The last write before anything live moves: it fails in one line and leaves no staging."""
    out = fresh_copy(many_parts, tmp_path)
    rows, parts = digest(out), part_count(out)
    real = json.dump

    def fill_the_disk(value, handle):
        real(value, handle)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(swap.json, "dump", fill_the_disk)
    result = orch("compact", out)
    assert result.code == 2 and "No space left on device" in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert digest(out) == rows and part_count(out) == parts
    assert not Path(swap.staging_folder(str(out))).exists()
    assert not (out / swap.JOURNAL).exists() and not (out / (swap.JOURNAL + ".tmp")).exists()
    monkeypatch.undo()
    assert orch("compact", out).code == 0 and digest(out) == rows and part_count(out) == len(TABLES)
