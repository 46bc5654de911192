"""Each workload does, per iteration, the i_mmap operations docs/model.md's table says it does.

The table ("i_mmap write acquisitions per iteration") is read from the doc, so the doc and the
code cannot drift. Two checks per workload and release: the generator's operations of one
iteration, by file and kind; and the engine's lock statistics of a short run under `single`, by
caller, counted exactly: every copy's stream stops after a whole number of iterations (then its
CPU idles), and the run is long enough for all of them to finish, so acquisitions divided by
iterations is exact (every iteration does the same, the first included: copies start with their
image mapped).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest

from orchestrator.plan import compose_run
from orchestrator.sim import ops
from orchestrator.sim.programs import as_ops
from orchestrator.sim.streams import WORKLOAD, stream
from orchestrator.simulate import build, simulate

DOC = Path(__file__).resolve().parent.parent / "docs" / "model.md"
HEADING = "### i_mmap write acquisitions per iteration"
RELEASES = {"6.11+": "6.18", "6.10": "6.10"}  # the table's release columns, and a release of each
OPERATIONS = {"link": ops.LINK, "split": ops.SPLIT, "merge": ops.MERGE, "dup": ops.DUP, "unlink": ops.UNLINK_BATCH}
PRESETS = {  # preset -> the table's workload
    "execl": "execl", "execl-reclaim": "execl", "spawn": "spawn", "sysexec": "sysexec",
    "stress-ng-spawn": "stress-ng-spawn", "doexec": "doexec", "mmap-churn": "mmap-churn",
    "mmap-churn-truncate": "mmap-churn",
}
COPIES, ITERATIONS = 3, 3


def table() -> dict[tuple[str, str], dict[str, int]]:
    """(workload, file) -> column -> count; file "all" is the workload's total row."""
    lines = DOC.read_text().splitlines()
    at = lines.index(HEADING)
    rows = []
    for line in lines[at:]:
        if line.startswith("|"):
            rows.append([cell.strip().strip("*`") for cell in line.strip("|").split("|")])
        elif rows:
            break
    header, body = rows[0], rows[2:]  # rows[1] is the |---| line
    return {(row[0], row[1]): {name: int(value) for name, value in zip(header[2:], row[2:])} for row in body}


def column(operation: str, release: str) -> str:
    """The table's column of an operation in a release: only the unlinks depend on it."""
    return f"unlink, {release}" if operation == "unlink" else operation


def expected(workload: str, file: str, release: str) -> Counter:
    """The table's row as {i_mmap op kind: count} in a release (6.11+ or 6.10)."""
    row = table()[workload, file]
    return +Counter({kind: row[column(name, release)] for name, kind in OPERATIONS.items()})


def spec_of(preset: str, release: str, duration_ms: float = 1.0):
    return compose_run("laptop-1n-8", "single", preset, copies=COPIES, duration_ms=duration_ms, warmup_ms=0,
                       overrides=[f'kernel.release="{RELEASES[release]}"'])


def operations_per_iteration(preset: str, release: str) -> dict[str, Counter]:
    """The i_mmap ops of one iteration of copy 0, by file name and kind (and a check that its
    first four iterations do the same)."""
    generator = build(spec_of(preset, release))[3]
    names = {d.handle: name for (name, _), d in generator.declared.items()}
    batches = as_ops(generator.batches(0, stream(1, WORKLOAD, 0)))
    batch = [op for _ in range(4) for op in next(batches)]
    iterations: list[dict[str, Counter]] = []
    for op in batch:
        if op[0] == ops.START:
            iterations.append({})
        elif op[0] == ops.IMMAP:
            iterations[-1].setdefault(names[op[2]], Counter())[op[1]] += 1
    assert len(iterations) > 1 and all(i == iterations[0] for i in iterations), "iterations differ"
    return iterations[0]


def limited(batches: Iterator[list[tuple]], iterations: int) -> Iterator[list[tuple]]:
    """A copy's stream cut after `iterations` iterations; then its CPU idles."""
    left = iterations
    for batch in batches:
        for i, op in enumerate(batch):
            if op[0] == ops.END:
                left -= 1
                if not left:
                    yield batch[:i + 1]
                    while True:
                        yield [(ops.IDLE, 10**9)]
        yield batch


def exact_run(preset: str, release: str):
    """A run in which every copy does exactly ITERATIONS iterations, all of them measured."""
    spec = spec_of(preset, release, duration_ms=20)
    generator = build(spec)[3]

    def streams(slot: int):
        batches = as_ops(generator.batches(slot, stream(spec.seed, WORKLOAD, slot)))
        return limited(batches, ITERATIONS) if slot < COPIES else batches  # walkers go on

    result = simulate(spec, streams=streams)
    assert result.metrics["iterations"] == COPIES * ITERATIONS, "the run ended before every iteration did"
    return result


def write_acquisitions(result) -> Counter:
    """i_mmap_rwsem write acquisitions by caller, from the engine's lock statistics."""
    found: Counter = Counter()
    for row in result.locks:
        if row["lock_class"] == "i_mmap_rwsem" and row["mode"] == "write":
            found[row.get("caller")] += row["acquisitions"]
    return found


def callers(workload: str, release: str) -> Counter:
    """The table's total row as acquisitions per caller, as perf lock contention would name them."""
    version = tuple(int(part) for part in RELEASES[release].split("."))
    out: Counter = Counter()
    for kind, count in expected(workload, "all", release).items():
        out[ops.immap_caller(kind, version)] += count
    return +out


def test_the_table_adds_up():
    rows = table()
    workloads = {w for w, _ in rows}
    assert workloads == set(PRESETS.values())
    for workload in workloads:
        files = [row for (w, f), row in rows.items() if w == workload and f != "all"]
        for release in RELEASES:
            for row in [*files, rows[workload, "all"]]:
                ops_total = sum(row[column(name, release)] for name in OPERATIONS)
                assert ops_total == row[f"total, {release}"], (workload, row)
        for name, total in rows[workload, "all"].items():
            assert sum(row[name] for row in files) == total, (workload, name)


@pytest.mark.parametrize("release", list(RELEASES))
@pytest.mark.parametrize("preset", list(PRESETS))
def test_each_generator_does_what_the_table_says_per_file(preset, release):
    workload = PRESETS[preset]
    found = operations_per_iteration(preset, release)
    files = [f for (w, f) in table() if w == workload and f != "all"]
    assert sorted(found) == sorted(files)
    for name in files:
        assert found[name] == expected(workload, name, release), name


@pytest.mark.parametrize("release", list(RELEASES))
@pytest.mark.parametrize("preset", list(PRESETS))
def test_the_engine_counts_the_table_per_caller(preset, release):
    found = write_acquisitions(exact_run(preset, release))
    per_iteration = Counter({caller: count / (COPIES * ITERATIONS) for caller, count in found.items()})
    assert per_iteration == callers(PRESETS[preset], release)
    assert sum(per_iteration.values()) == table()[PRESETS[preset], "all"][f"total, {release}"]


def test_before_6_11_execl_unlinks_one_vma_per_acquisition():
    """3577dbb19241 (6.11) batches a file's VMAs at teardown: 45 acquisitions per exec before it, 33 from it."""
    rows = table()
    assert (rows["execl", "all"]["total, 6.10"], rows["execl", "all"]["total, 6.11+"]) == (45, 33)
    before = write_acquisitions(exact_run("execl", "6.10"))
    after = write_acquisitions(exact_run("execl", "6.11+"))
    execs = COPIES * ITERATIONS
    assert sum(before.values()) / execs == 45 and sum(after.values()) / execs == 33
    unlinks = {"6.10": before["unlink_file_vma"] / execs, "6.11+": after["unlink_file_vma_batch_process"] / execs}
    assert unlinks == {release: rows["execl", "all"][column("unlink", release)] for release in RELEASES}
