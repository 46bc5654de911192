"""docs/analysis.md's recipes, run as a reader would (after the block that defines DATASET), on a
small dataset that also holds what a recipe must leave out: a row of orch measure, an
uncertainty sample, a failed run and a second sweep sharing runs. The cells they compute are
the cells orch report computes."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from orchestrator.analysis.compare import compare
from orchestrator.analysis.data import load_study

REPO = Path(__file__).resolve().parent.parent
SWEEP = {"name": "mini", "topologies": ["milan-2n-256"], "strategies": [{"name": "single"}, {"name": "split-node"}],
         "workloads": [{"file": "execl", "overrides": {"exec_ns": 30000}}], "copies": [2, 16],
         "replications": 3, "duration_ms": 1.0, "warmup_ms": 0.3}
HUGE = 1e12  # what a row a recipe should leave out says: any mix-up shows


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "docs" / "analysis.md").read_text(), re.S)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("recipes")
    (root / "sweep.yaml").write_text(yaml.safe_dump(SWEEP))
    from orchestrator.cli import main

    with pytest.raises(SystemExit) as done:
        main(["sweep", str(root / "sweep.yaml"), "--backend", "local", "--out", str(root / "data")])
    assert done.value.code == 0
    data = root / "data"
    part = pq.read_table(next((data / "table=runs" / "sweep=mini").glob("*.parquet")))
    rows = part.to_pylist()

    def write(sweep: str, extra: list[dict]) -> None:
        folder = data / "table=runs" / f"sweep={sweep}"
        folder.mkdir()
        pq.write_table(pa.Table.from_pylist(extra, schema=part.schema), folder / "part-0.parquet")

    def unlike(row: dict, **changes) -> dict:
        return {**row, "steady_throughput_per_s": HUGE, "throughput_per_s": HUGE, **changes}

    write("measured", [unlike(rows[0], run_id="m1", source="measured", model_version=None)])
    write("again", [*rows[:4],  # the same runs in a second sweep (as an uncertainty follow-up repeats them)
                    unlike(rows[0], run_id="s1", sample=0),
                    unlike(rows[1], run_id="f1", status="failed", error="boom")])
    return data


def report_cells(dataset: Path) -> dict[tuple, object]:
    study = load_study(str(dataset))
    return {(c.topology, c.workload, c.strategy, c.copies): c
            for group in compare(study.runs, "single", preferred=study.order) for c in group.cells}


def run_recipe(index: int, dataset: Path) -> dict:
    """Block `index` of the page, with DATASET as the first block defines it, pointed at `dataset`."""
    setup = blocks()[0]
    assert re.fullmatch(r'DATASET = "[^"]+"  # .*\n', setup), "the first block defines DATASET, and only that"
    scope: dict = {"DATASET": str(dataset)}
    exec(compile(blocks()[index], f"docs/analysis.md, block {index}", "exec"), scope)
    return scope


def test_every_recipe_runs_and_names_only_what_it_defines(dataset):
    assert len(blocks()) >= 6
    for index in range(1, len(blocks())):
        run_recipe(index, dataset)


def test_the_mean_and_interval_per_cell_are_the_reports(dataset):
    cells = run_recipe(1, dataset)["cells"]
    report = report_cells(dataset)
    assert set(cells) == set(report) and len(report) == 4
    for key, (mean, low, high, seeds) in cells.items():
        estimate = report[key].throughput
        assert seeds == estimate.n == 3
        assert math.isclose(mean, estimate.mean, rel_tol=1e-12), key
        assert math.isclose(low, estimate.low, rel_tol=1e-9) and math.isclose(high, estimate.high, rel_tol=1e-9)


def test_the_ratio_to_single_per_cell_is_the_reports(dataset):
    ratios = run_recipe(3, dataset)["ratios"]
    report = report_cells(dataset)
    rows = ratios.to_dicts()
    assert len(rows) == 4
    for row in rows:
        cell = report[(row["topology"], row["workload"], row["strategy"], row["copies"])]
        expected = 1.0 if row["strategy"] == "single" else cell.ratio.mean
        assert math.isclose(row["ratio"], expected, rel_tol=1e-12), row
