"""orch validate: the shipped table reads, a change row is the ratio of its sides run by hand, a
user's table runs (one row with --only), a bad row is one line, and the model card is what the
committed results give."""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import fmean

import pytest
import yaml

from orchestrator.plan import load_part, load_parts, run_from
from orchestrator.results.dataset import Dataset
from orchestrator.simulate import simulate
from orchestrator.spec import Topology, validate
from orchestrator.validation.card import render
from orchestrator.validation.runner import Options, validate_rows
from orchestrator.validation.score import score, summary
from orchestrator.validation.table import SHIPPED, SHIPPED_NAME, Row, load_table

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "orchestrator" / "validation" / "results.json"
CARD = REPO / "docs" / "validation.md"
ROW = {"id": "laptop-batching", "source": "https://example.org/measured", "quote": "table 1",
       "machine": "laptop-1n-8", "kernel": ["6.10", "6.11"], "workload": "execl", "copies": 8,
       "metric": "change", "measured": 5.0, "role": "check"}
RUN = {"duration_ms": 3.0, "warmup_ms": 0.5, "seeds": [1, 2], "samples": 0}


def write_table(folder: Path, *rows: dict, run: dict = RUN) -> Path:
    path = folder / "mine.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "run": run, "rows": list(rows)}, sort_keys=False))
    return path


def quiet():
    from orchestrator import terminal

    return terminal.console(stderr=True)


def test_every_shipped_row_has_a_source_a_role_and_a_machine_that_validates():
    table = load_table(SHIPPED_NAME)  # checks every side of every row down to its runs
    assert table.rows and SHIPPED.is_file()
    for row in table.rows:
        assert row.source.startswith("https://") or "@" in row.source, row.id  # a URL or a Message-ID
        assert row.quote and row.role in ("fit", "check") and math.isfinite(row.measured), row.id
        validate(Topology, load_part("topology", row.machine), row.machine)
    assert {row.metric for row in table.rows} == {"throughput", "change"}
    assert sum(row.role == "check" for row in table.rows) >= 10


def test_a_change_row_is_the_ratio_of_its_sides_run_by_hand(tmp_path):
    """Both sides run with the same seeds and the same samples (common random numbers): the row's
    value is what the two releases give when run by hand with those seeds and durations."""
    table = load_table(str(write_table(tmp_path, ROW, run={**RUN, "samples": 2})))
    done = validate_rows([table], [(table, table.rows[0])], Options(backend="local", workers=1,
                                                                    out=str(tmp_path / "ds")), quiet())
    by_hand = {}
    parts = load_parts("laptop-1n-8", "single", "execl")
    for release in ("6.10", "6.11"):
        by_hand[release] = fmean(simulate(run_from(parts, [f'kernel.release="{release}"'], copies=8, seed=seed,
                                                   duration_ms=3.0, warmup_ms=0.5)).metrics["steady_throughput_per_s"]
                                 for seed in (1, 2))
    ratio = 100 * (by_hand["6.11"] / by_hand["6.10"] - 1)
    assert ratio != 0  # the model tells the two releases apart (unlink batching from 6.11)
    scored = done.scored()[0]
    assert scored.model == pytest.approx(ratio, rel=1e-12)
    assert scored.low <= scored.model <= scored.high
    runs = Dataset(str(tmp_path / "ds"), ROW["id"]).runs(["sample", "seed", "parameters_json"]).to_pylist()
    drawn: dict = {}
    for run in runs:  # each sample drew the same values for both sides and both seeds
        drawn.setdefault(run["sample"], set()).add(run["parameters_json"])
    assert len(runs) == 2 * 2 * 3 and all(len(values) == 1 for values in drawn.values()) and len(drawn) == 3


def test_a_users_table_runs_one_row_with_only_and_prints_json(orch, tmp_path):
    other = {**ROW, "id": "laptop-tput", "kernel": "6.11", "metric": "throughput", "measured": 20000.0,
             "copies": 2, "unit": "execs/s"}
    path = write_table(tmp_path, ROW, other, run={**RUN, "duration_ms": 1.0})
    result = orch("validate", path, "--only", "laptop-tput", "--json", "--backend", "local",
                  "--out", tmp_path / "ds", "--card", tmp_path / "card.md")
    assert result.code == 0, result.err
    printed = json.loads(result.out)
    assert set(printed) == {"rows", "summary"}
    [row] = printed["rows"]
    assert set(row) == {"id", "source", "role", "metric", "measured", "model", "low", "high", "error", "inside"}
    assert row["id"] == "laptop-tput" and row["model"] > 0
    assert row["error"] == pytest.approx(row["model"] / 20000.0 - 1)
    assert set(printed["summary"]) == {"rows", "inside", "median_abs_error", "sign_agreement",
                                       "median_abs_pp_error"}
    assert "laptop-tput" in (tmp_path / "card.md").read_text() and (tmp_path / "card.json").is_file()
    again = orch("validate", path, "--only", "laptop-tput", "--json", "--backend", "local", "--out", tmp_path / "ds")
    assert json.loads(again.out) == printed  # resumed from --out: nothing recomputed, the same answer


@pytest.mark.parametrize("change,field", [
    ({"copies": 400}, "copies"),
    ({"machine": "no-such-machine"}, "machine"),
    ({"strategy": "no-such-design"}, "strategy"),
    ({"kernel": "6.11"}, "metric"),              # a change row needs an A/B
    ({"kernel": 6.11}, "kernel"),                # a number, read as 6.11 by luck only
    ({"colour": "red"}, "colour"),
    ({"set": ["kernel.no_such_knob=1"]}, "kernel.no_such_knob"),
])
def test_a_bad_row_is_one_line_naming_the_table_the_row_and_the_field(orch, tmp_path, change, field):
    path = write_table(tmp_path, {**ROW, "id": "fine", "kernel": "6.11", "metric": "throughput"},
                       {**ROW, **change})
    result = orch("validate", path, "--backend", "local")
    assert result.code == 2
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert f"{path}: row {ROW['id']}: " in result.err and field in result.err


def test_a_profile_applies_to_rows_on_its_machines_shape_only(tmp_path):
    """--profile: its fit runs on rows whose machine has the shape it was fitted on; the others run
    with the defaults and a note says so."""
    from orchestrator.spec.topology import shape_digest

    laptop = validate(Topology, load_part("topology", "laptop-1n-8"), "laptop-1n-8").model_dump(mode="json")
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({"topology": "laptop-1n-8", "topology_digest": shape_digest(laptop),
                                       "fitted": {"workload.exec_ns": 400_000}}))
    rows = [{**ROW, "id": machine, "machine": machine, "kernel": "6.11", "metric": "throughput", "copies": 2,
             "measured": 1000.0} for machine in ("laptop-1n-8", "vm-1n-26")]
    table = load_table(str(write_table(tmp_path, *rows, run={**RUN, "duration_ms": 2.0})))

    def models(profile: str | None):
        done = validate_rows([table], [(table, row) for row in table.rows],
                             Options(profile=profile, backend="local", workers=1), quiet())
        return {s.id: s.model for s in done.scored()}, done.notes

    (defaults, none), (fitted, notes) = models(None), models(str(profile))
    assert none == [] and notes == [f"vm-1n-26: {profile} was fitted on a machine of another shape than vm-1n-26: "
                                    "the row runs with the defaults"]
    assert fitted["vm-1n-26"] == defaults["vm-1n-26"]
    assert fitted["laptop-1n-8"] < defaults["laptop-1n-8"]  # a 400 us exec, more than twice the default


def test_only_names_a_row_of_the_tables(orch, tmp_path):
    result = orch("validate", write_table(tmp_path, ROW), "--only", "nope", "--backend", "local")
    assert result.code == 2 and "--only: nope: no row with that id" in result.err


def test_bounds_and_the_summary():
    base = Row.model_validate({**ROW, "measured": 400.0, "bound": "lower"})
    assert score(base, {None: 380.0, 0: 450.0}).inside      # the band reaches "over 400%"
    assert not score(base, {None: 380.0, 0: 390.0}).inside
    tput = Row.model_validate({**ROW, "id": "t", "kernel": "6.11", "metric": "throughput", "measured": 100.0,
                               "divisor": 2.0})
    fitted = Row.model_validate({**ROW, "id": "f", "role": "fit"})
    rows = [score(base, {None: 380.0}), score(tput, {None: 150.0, 1: 50.0}), score(fitted, {None: -3.0})]
    assert rows[1].model == 150.0 and rows[1].error == pytest.approx(0.5) and rows[1].inside
    assert summary(rows) == {"rows": 2, "inside": 1, "median_abs_error": pytest.approx(0.5), "sign_agreement": 1,
                             "median_abs_pp_error": pytest.approx(20.0)}


def test_the_card_is_what_the_committed_results_give():
    """docs/validation.md is written by orch validate --card, never by hand: rebuilt from the
    committed results and the table, it is unchanged (a changed table or card.py rebuilds it with
    `orch validate --from-results orchestrator/validation/results.json --card docs/validation.md`)."""
    results = json.loads(RESULTS.read_text())
    tables = [load_table(t["ref"]) for t in results["tables"]]
    assert render(results, tables) == CARD.read_text()
    assert {row["id"] for row in results["rows"]} == {row.id for row in load_table(SHIPPED_NAME).rows}


@pytest.mark.slow
def test_a_shipped_row_reruns_to_its_committed_result(tmp_path):
    """End to end: one row of the shipped table, with the shipped settings, gives the committed
    result again (the engine is deterministic given the seeds and samples)."""
    results = json.loads(RESULTS.read_text())
    committed = {row["id"]: row for row in results["rows"]}["ub88-execl-1"]
    table = load_table(SHIPPED_NAME)
    [row] = [r for r in table.rows if r.id == "ub88-execl-1"]
    done = validate_rows([table], [(table, row)], Options(backend="local", workers=1, out=str(tmp_path)), quiet())
    again = done.scored()[0].as_json()
    assert again == {**committed, **{k: pytest.approx(committed[k], rel=1e-9) for k in ("model", "low", "high",
                                                                                          "error")}}


@pytest.mark.parametrize("damage", [lambda r: r.pop("wall_s"), lambda r: r["rows"][0].pop("inside"),
                                    lambda r: r["tables"][0].pop("run")], ids=["top", "row", "table"])
def test_a_results_file_without_a_field_is_one_line_before_any_output(orch, tmp_path, damage):
    results = json.loads(RESULTS.read_text())
    damage(results)
    damaged = tmp_path / "results.json"
    damaged.write_text(json.dumps(results))
    result = orch("validate", "--from-results", damaged, "--card", tmp_path / "card.md")
    assert result.code == 2 and result.out == "" and not (tmp_path / "card.md").exists()
    assert result.err.count("\n") == 1 and f"{damaged}: --from-results: not a results file of this orch" in result.err
