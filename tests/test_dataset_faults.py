"""Dataset faults (issue 14, item 1): temp parts no reader's glob matches, cleanup that spares
live writers, and write errors (a full disk) that leave a readable dataset and exit 2."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest
import yaml

from orchestrator.results import dataset
from orchestrator.results.dataset import Dataset, temp_name

SPEC = {"name": "faults", "topologies": ["laptop-1n-8"], "workloads": [{"file": "closed-loop"}],
        "strategies": [{"name": "single"}, {"name": "split-cpu"}], "copies": [1, 2, 4, 8],
        "replications": 2, "duration_ms": 0.1}
TOTAL = 16


def sweep(orch, tmp_path: Path, out: Path, *flags: str):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    return orch("sweep", spec, "--backend", "local", "--out", out, *flags)


def the_error(result) -> str:
    """The one error line after the progress bar, which goes to stderr as well."""
    assert result.code == 2 and "Traceback" not in result.err, result.err
    errors = [line for line in result.err.splitlines() if line.startswith("orch: error: ")]
    assert len(errors) == 1 and result.err.endswith(errors[0] + "\n"), result.err
    return errors[0]


def run_counts(out: Path) -> tuple[int, int, int]:
    """Runs as pyarrow, DuckDB and Polars count them, the latter two with docs/analysis.md's glob."""
    glob = f"{out}/table=runs/**/*.parquet"
    arrow = ds.dataset(out / "table=runs", partitioning="hive").count_rows()
    duck = duckdb.connect().execute(f"select count(*) from read_parquet('{glob}', hive_partitioning=true)")
    return arrow, duck.fetchone()[0], pl.read_parquet(glob, hive_partitioning=True).height


def test_a_temp_part_matches_no_reader_glob(orch, tmp_path):
    out = tmp_path / "data"
    assert sweep(orch, tmp_path, out).code == 0
    folder = out / "table=runs" / "sweep=faults"
    # what a writer killed mid-write leaves: a half-written part under its temp name
    (folder / temp_name("part-0123456789abcdef.parquet")).write_bytes(b"PAR1 half a part")
    assert run_counts(out) == (TOTAL, TOTAL, TOTAL)


def temp_files(out: Path) -> list[Path]:
    """Hidden files a writer left, but the writer lock's file, which stays (see Dataset.writing)."""
    return [p for p in out.rglob(".*") if p.name != dataset.WRITER_LOCK]


def test_the_same_sweep_started_twice_is_refused(orch, tmp_path, monkeypatch):
    """A second sweep into a dataset another is writing is refused in one line (it would write
    the same runs twice): started from inside the first sweep's first run, so it meets the first
    while it holds the lock, every time. The first then finishes, and readers count each run once."""
    from orchestrator.runners import sweep as sweeping
    from orchestrator.runners.work import simulate_run

    out = tmp_path / "data"
    cmd = [sys.executable, "-m", "orchestrator", "sweep", str(tmp_path / "sweep.yaml"), "--backend", "local",
           "--out", str(out)]
    second = []

    def start_another_then_run(spec, streams=None):
        if not second:
            second.append(subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False))
        return simulate_run(spec, streams=streams)

    monkeypatch.setattr(sweeping, "simulate_run", start_another_then_run)
    assert sweep(orch, tmp_path, out).code == 0
    assert second[0].returncode == 2 and "Traceback" not in second[0].stderr
    assert f"orch pid {os.getpid()} on " in second[0].stderr and "is writing into this dataset" in second[0].stderr
    assert run_counts(out) == (TOTAL, TOTAL, TOTAL) and not temp_files(out)


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid  # reaped: no process has this pid, until the kernel hands it out again


def test_cleanup_removes_only_files_no_live_writer_owns(tmp_path):
    data = Dataset(str(tmp_path), "s")
    folder = Path(data.folder("runs"))
    folder.mkdir(parents=True)
    host, pid, start = dataset._owner(os.getpid()).split("~")
    day_old = time.time() - dataset.STALE_AFTER_S - 60
    writer = subprocess.Popen(["sleep", "60"])  # another live process of this host
    files = {
        temp_name("part-a.parquet"): True,                                  # this live process: kept
        f".tmp~{host}~{writer.pid}~{dataset.start_time(writer.pid)}~x~part-h.parquet.tmp": True,
        f".tmp~{host}~{pid}~{int(start) + 1}~x~part-b.parquet.tmp": False,  # pid reused: owner gone
        f".tmp~{host}~{_dead_pid()}~1~x~part-c.parquet.tmp": False,         # owner gone
        ".tmp~elsewhere~1~1~x~part-d.parquet.tmp": True,                    # another host, fresh
        ".tmp~elsewhere~1~1~x~part-e.parquet.tmp#old": False,               # another host, a day old
        ".tmp-0123-part-f.parquet": True,                                    # old-style name, fresh
        ".tmp-4567-part-g.parquet#old": False,                               # old-style name, a day old
    }
    for name in files:
        path = folder / name.removesuffix("#old")
        path.write_bytes(b"x")
        if name.endswith("#old"):
            os.utime(path, (day_old, day_old))
    try:
        assert data.remove_temp_files() == list(files.values()).count(False)
    finally:
        writer.kill()
        writer.wait()
    assert sorted(p.name for p in folder.iterdir()) == sorted(n for n, kept in files.items() if kept)
    data.remove_temp_files()
    assert f".tmp~{host}~{writer.pid}~" not in " ".join(p.name for p in folder.iterdir())  # its owner is gone


def test_a_write_error_leaves_a_readable_dataset_and_exits_2(orch, tmp_path, monkeypatch):
    real_write, calls = dataset.pq.write_table, []

    def fill_the_disk(table, sink):
        calls.append(1)
        if len(calls) == 4 * 3 + 2:  # midway through the fourth batch's parts (--part-rows 1: a part per batch)
            sink.write(b"PAR1 half")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(table, sink)

    monkeypatch.setattr(dataset.pq, "write_table", fill_the_disk)
    out = tmp_path / "data"
    error = the_error(sweep(orch, tmp_path, out, "--part-rows", "1"))
    assert error.startswith(f"orch: error: {out}/table=") and "No space left on device" in error
    assert not temp_files(out)  # the temp file went with the error
    arrow, duck, polars = run_counts(out)
    assert arrow == duck == polars and 0 < arrow < TOTAL  # the first three batches


def test_a_full_tmpfs(orch, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=150k", "tmpfs", str(mount)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        out = mount / "data"
        error = the_error(sweep(orch, tmp_path, out, "--part-rows", "1"))
        assert error.startswith(f"orch: error: {out}/table=") and "No space left on device" in error
        assert not temp_files(out)
        arrow, duck, polars = run_counts(out)
        assert arrow == duck == polars and 0 < arrow < TOTAL
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_an_unreadable_part_is_one_line_naming_it(orch, tmp_path):
    out = tmp_path / "data"
    assert sweep(orch, tmp_path, out).code == 0
    junk = out / "table=runs" / "sweep=faults" / "part-0123456789abcdef.parquet"
    junk.write_bytes(b"junk")
    error = the_error(sweep(orch, tmp_path, out))
    assert str(junk) in error and "--repair" in error
    junk.unlink()
    assert sweep(orch, tmp_path, out).code == 0


def test_repair_moves_unreadable_parts_aside_and_recomputes_their_runs(orch, tmp_path):
    out = tmp_path / "data"
    assert sweep(orch, tmp_path, out).code == 0
    good = run_counts(out)
    runs = out / "table=runs" / "sweep=faults"
    victim = sorted(runs.glob("part-*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:100])  # truncated, as after a crash of the disk
    spec = tmp_path / "sweep.yaml"
    result = orch("sweep", spec, "--backend", "local", "--out", out, "--repair")
    assert result.code == 0 and "moved an unreadable part aside" in result.err
    assert victim.exists() and run_counts(out) == good  # its run was computed again
    assert list((out / "unreadable").rglob(f"{victim.name}.*.unreadable"))


def table_rows(out: Path) -> dict[str, int]:
    return {table: ds.dataset(out / f"table={table}", partitioning="hive").count_rows()
            for table in ("runs", "locks", "timeseries", "histograms")}


@pytest.mark.parametrize("copy_name", ["{stem} copy.parquet", "part-backup.parquet"])
def test_a_copied_runs_part_loses_no_row(orch, tmp_path, copy_name):
    """A backup copy of a runs part, under any name, is a duplicate of runs, not a batch without
    rows: resume removes the copy alone, and every row of every table stays."""
    out = tmp_path / "data"
    assert sweep(orch, tmp_path, out, "--part-rows", "1").code == 0
    good = table_rows(out)
    original = sorted((out / "table=runs" / "sweep=faults").glob("part-*.parquet"))[0]
    shutil.copy(original, original.with_name(copy_name.format(stem=original.stem)))
    assert table_rows(out)["runs"] > good["runs"]
    result = sweep(orch, tmp_path, out)
    assert result.code == 0 and f"0 run(s) done now, {TOTAL} already" in result.out
    assert table_rows(out) == good
    assert orch("compact", out).code == 0 and table_rows(out) == good


def test_a_copied_batch_loses_no_row(orch, tmp_path):
    """A batch copied whole (its part in every table) is one batch too many: one of the two goes."""
    out = tmp_path / "data"
    assert sweep(orch, tmp_path, out, "--part-rows", "1").code == 0
    good = table_rows(out)
    name = sorted((out / "table=runs" / "sweep=faults").glob("part-*.parquet"))[0].name
    for table in ("runs", "locks", "timeseries", "histograms"):
        folder = out / f"table={table}" / "sweep=faults"
        shutil.copy(folder / name, folder / "part-backup.parquet")
    result = sweep(orch, tmp_path, out)
    assert result.code == 0 and f"0 run(s) done now, {TOTAL} already" in result.out
    assert table_rows(out) == good
