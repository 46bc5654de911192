"""What orch prints and writes for people and scripts (issue 25): --json on sweep and report,
warnings on runs too short for the precision printed, report.md that escapes names, readable
charts, the opening heatmap and lkml.txt's lock rows."""

from __future__ import annotations

import contextlib
import html
import io
import json
import math
import re

import pytest
import yaml

from orchestrator.cli import main

# one node and two, two designs, two copy counts, two seeds, two uncertainty samples: small and quick
STUDY = {"name": "out", "topologies": ["genoa-1n-128", "milan-2n-256"],
         "strategies": [{"name": "single"}, {"name": "inverted"}], "workloads": [{"file": "execl"}],
         "copies": [2, 16], "replications": 2, "duration_ms": 2, "warmup_ms": 0.5,
         "uncertainty": {"samples": 2, "parameters": ["kernel.cost_scale"]}}


def call(*args) -> tuple[str, str]:
    """orch's stdout and stderr, for module fixtures (capsys is per test); it must succeed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    assert done.value.code == 0, err.getvalue()
    return out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The study's sweep: its dataset and what `orch sweep --json` printed."""
    root = tmp_path_factory.mktemp("out")
    spec = root / "sweep.yaml"
    spec.write_text(yaml.safe_dump(STUDY))
    return (root / "data", *call("sweep", spec, "--backend", "local", "--out", root / "data", "--json"))


@pytest.fixture(scope="module")
def reported(swept):
    """`orch report --json` of the study: the report folder and what it printed."""
    folder = swept[0].parent / "report"
    return (folder, *call("report", swept[0], "--out", folder, "--json"))


# ---- --json --------------------------------------------------------------------------------

def test_sweep_json_is_the_only_thing_on_stdout(swept):
    data, out, _ = swept
    doc = json.loads(out)  # one object, nothing around it
    assert set(doc) == {"sweep", "dataset", "done", "skipped", "failed", "wall_s", "cells"}
    assert doc["sweep"] == "out" and doc["dataset"] == str(data)
    assert (doc["done"], doc["skipped"], doc["failed"]) == (48, 0, [])  # nominal runs and two samples of each
    assert len(doc["cells"]) == 2 * 2 * 2  # topologies x copies x strategies; samples only in the report
    for cell in doc["cells"]:
        assert set(cell) == {"topology", "workload", "copies", "strategy", "throughput", "ratio"}
        assert cell["throughput"] > 0
        assert (cell["ratio"] is None) == (cell["strategy"] == "single")


def test_sweep_json_matches_the_table(orch, swept):
    data, out, _ = swept
    spec = data.parent / "sweep.yaml"
    table = orch("sweep", spec, "--backend", "local", "--out", data)  # all skipped: the same cells
    assert table.code == 0 and not set("┏┃━│─┡╇") & set(table.out) and "…" not in table.out  # piped: plain
    doc = json.loads(orch("sweep", spec, "--backend", "local", "--out", data, "--json").out)
    assert doc["done"] == 0 and doc["skipped"] == 48
    assert [c["throughput"] for c in doc["cells"]] == [c["throughput"] for c in json.loads(out)["cells"]]
    for cell in doc["cells"]:
        number = f"{cell['throughput']:,.0f}"
        assert any(line.split()[:4] == [cell["topology"], cell["workload"], str(cell["copies"]), cell["strategy"]]
                   and number in line.split() for line in table.out.splitlines()), number


def test_sweep_json_gives_each_failure_on_one_line_and_no_nan():
    from orchestrator.cli.sweep import sweep_json
    from orchestrator.runners.sweep import Outcome
    outcome = Outcome(total=2, skipped=0, done=1, failed=[("abc", "ValueError: a\n  traceback line")], wall_s=1.23456)
    doc = sweep_json("s", "data", outcome, [("t", "w", 2, "single", math.nan, None)])
    assert doc["failed"] == [{"run_id": "abc", "error": "ValueError: a traceback line"}]
    assert doc["wall_s"] == 1.235 and doc["cells"][0]["throughput"] is None
    json.dumps(doc, allow_nan=False)


def test_report_json_lists_the_files_and_every_cell(reported):
    folder, out, _ = reported
    doc = json.loads(out)
    assert doc["files"] == [str(folder / name) for name in ("index.html", "report.md", "lkml.txt")]
    assert len(doc["cells"]) == 8
    keys = {"topology", "workload", "copies", "strategy", "mean", "ci_low", "ci_high", "ratio", "ratio_low",
            "ratio_high", "verdict"}
    for cell in doc["cells"]:
        assert set(cell) == keys
        assert cell["ci_low"] <= cell["mean"] <= cell["ci_high"]
        if cell["strategy"] == "single":
            assert cell["verdict"] == "baseline" and cell["ratio"] is None
        else:
            assert cell["ratio_low"] <= cell["ratio"] <= cell["ratio_high"]
            assert cell["verdict"] in ("faster", "slower", "no significant difference")


# ---- runs too short for the precision printed ----------------------------------------------

def test_the_rule_is_a_count_of_400_iterations():
    from orchestrator.analysis.precision import MIN_ITERATIONS, long_enough, run_warning, runs_warning
    assert MIN_ITERATIONS == 400
    assert run_warning(400, 2) is None and runs_warning([{"iterations": 400}]) is None
    warning = run_warning(100, 2)
    assert warning is not None and "1/sqrt(100) = 10%" in warning and "measure for 8 ms or more" in warning
    assert long_enough(2, 86) == 9.4  # 2 ms x 400 / 86, up to two digits


def test_orch_run_warns_when_the_window_counts_too_few(orch):
    short = orch("run", "-t", "genoa-1n-128", "-w", "execl", "-c", "8", "--duration-ms", "2", "--json")
    assert short.code == 0 and json.loads(short.out)["iterations"] < 400  # stdout is still only the JSON
    assert "orch: warning: only" in short.err and "fewer than 400 iterations" in short.err
    enough = orch("run", "-t", "laptop-1n-8", "-w", "closed-loop", "--duration-ms", "1")
    assert enough.code == 0 and json.loads(orch("run", "-t", "laptop-1n-8", "-w", "closed-loop", "--duration-ms",
                                                "1", "--json").out)["iterations"] >= 400
    assert "warning" not in enough.err


def test_sweep_and_report_warn_about_short_runs(swept, reported):
    for err in (swept[2], reported[2]):
        assert "orch: warning: " in err and "runs counted fewer than 400 iterations" in err
        assert "raise duration_ms to about" in err
    folder = reported[0]
    assert "**Warning:**" in (folder / "report.md").read_text()
    lkml = (folder / "lkml.txt").read_text()
    assert "warning: " in lkml and all(len(line) <= 80 for line in lkml.splitlines())


# ---- report.md escapes names -------------------------------------------------------------------

HOSTILE = "<img src=x onerror=alert(1)>[click](javascript:alert(2))*|"


def test_report_md_shows_a_hostile_name_as_text(orch, tmp_path):
    from markdown_it import MarkdownIt

    from orchestrator.presets import resolve
    topology = yaml.safe_load(resolve("topologies", "laptop-1n-8").read_text())
    (tmp_path / "box.yaml").write_text(yaml.safe_dump({**topology, "name": HOSTILE}))
    spec = {"name": "hostile", "topologies": ["box.yaml"], "workloads": [{"file": "closed-loop"}],
            "strategies": [{"name": "single"}, {"name": "single", "label": HOSTILE + "2"}],
            "copies": [1, 2], "replications": 2, "duration_ms": 0.1}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(spec))
    assert orch("sweep", tmp_path / "sweep.yaml", "--backend", "local", "--out", tmp_path / "data").code == 0
    assert orch("report", tmp_path / "data", "--out", tmp_path / "report").code == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert f"## closed-loop on {HOSTILE}" not in text  # the raw name is nowhere in a heading
    viewer = MarkdownIt("commonmark", {"html": True}).enable("table")  # a viewer that passes HTML through
    rendered = viewer.render(text)
    assert "<img src=x" not in rendered and 'href="javascript' not in rendered and "<em>" not in rendered
    assert all(img.startswith('<img src="plots/') for img in re.findall(r"<img[^>]*>", rendered))
    shown = "&lt;img src=x onerror=alert(1)&gt;[click](javascript:alert(2))*|"  # the name, as text
    assert f"<h2>closed-loop on {shown}</h2>" in rendered
    contents = viewer.render(next(line for line in text.splitlines() if line.startswith("1. ")))
    assert re.fullmatch(rf'<ol>\n<li><a href="#[^"]*">closed-loop on {re.escape(shown)}</a></li>\n</ol>\n', contents)
    # a | in a name adds no column: every row of the first table has the header's six cells
    table = rendered.split("<table>")[1].split("</table>")[0]
    assert table.count("<th>") == 6 and all(row.count("<td>") == 6 for row in table.split("<tr>")[2:])



@pytest.mark.parametrize("name,shown", [
    ("execl [kernel.spin_mean_ns=1000]", "execl [kernel.spin_mean_ns=1000]"),  # brackets that pair: kept
    ("a]b [c", "a]b [c"), ("[x]: javascript:alert(1)", "[x]: javascript:alert(1)"),
    ("two\nlines", "two lines"), ("kernel.cost_scale _x_ `y` **z**", "kernel.cost_scale _x_ `y` **z**"),
])
def test_md_text_renders_as_itself_even_inside_a_link(name, shown):
    from markdown_it import MarkdownIt

    from orchestrator.analysis.render import md
    viewer = MarkdownIt("commonmark", {"html": True})
    assert viewer.render(md(name)) == f"<p>{html.escape(shown, quote=False)}</p>\n"
    assert viewer.render(f"[{md(name)}](#here)") == f'<p><a href="#here">{html.escape(shown, quote=False)}</a></p>\n'


# ---- readable charts and tables -----------------------------------------------------------------

def svg_texts(svg: str, group: str) -> list[str]:
    """The labels of an SVG's tick groups (matplotlib names them xtick_N and ytick_N)."""
    return re.findall(rf'<g id="{group}_\d+">.*?<text[^>]*>([^<]*)</text>', svg, re.S)


def test_a_log_axis_labels_at_least_four_ticks_of_a_4x_range():
    from orchestrator.analysis import plots
    from orchestrator.analysis.compare import compare
    runs = [{"topology": "t", "workload": "w", "copies": copies, "strategy": strategy, "seed": seed,
             "steady_throughput_per_s": 1000 * ratio * (1 + seed / 100)}
            for copies, top in ((2, 1.1), (8, 3.6)) for seed in (1, 2, 3)
            for strategy, ratio in (("single", 1.0), ("new", top), ("old", 0.9))]
    svg = plots.speedup(compare(runs, "single")[0], "single")
    labels = svg_texts(svg, "ytick")
    assert len(labels) >= 4 and "1" in labels and "2" in labels, labels
    assert all(float(label) > 0 for label in labels)
    for low, high in ((0.9, 3.6), (1.02, 1.08), (3, 3000)):
        assert len(plots.log_ticks(low, high)) >= 4, (low, high)


def test_charts_are_shown_at_their_size_with_9_pt_text(reported):
    from orchestrator.analysis.plots import PAGE_PX
    svgs = list((reported[0] / "plots").glob("*.svg"))
    assert {p.name.rsplit("-", 1)[1] for p in svgs} == {"throughput.svg", "speedup.svg", "lockwait.svg", "execl.svg"}
    for path in svgs:
        svg = path.read_text()
        width_pt = float(re.search(r'<svg[^>]* width="([\d.]+)pt"', svg)[1])
        assert width_pt * 4 / 3 <= PAGE_PX, path.name  # the page never scales it down
        sizes = [float(size) for size in re.findall(r"font-size: ([\d.]+)px", svg)]
        assert sizes and min(sizes) >= 9, (path.name, sorted(set(sizes)))  # SVG px here are pt of the figure
    lockwait = (reported[0] / "plots" / "milan-2n-256-execl-lockwait.svg").read_text()
    assert ">single</text>" in lockwait and ">i_mmap_rwsem write</text>" in lockwait  # two lines, not one wide


def test_no_column_that_does_not_apply_and_no_1_nodes(reported):
    md = (reported[0] / "report.md").read_text()
    genoa, milan = (md.split(f"## execl on {name}")[1].split("\n## ")[0] for name in ("genoa-1n-128", "milan-2n-256"))
    assert "remote line transfers" not in genoa.split("Left out:")[1].split("\n\n", 1)[1]  # not a column
    assert "genoa-1n-128 has one NUMA node, so every transfer is local" in genoa
    assert "| strategy | remote line transfers at 16 copies |" in milan
    for section in (genoa, milan):  # execl walks no rmap: those columns go, and the caption says why
        assert "| rmap walk p99" not in section and "no run of execl walked the rmap" in section
        side = section[section.index("\n| strategy |"):].strip()
        assert "| - |" not in side.split("\n\n")[0]
    lkml = (reported[0] / "lkml.txt").read_text()
    assert "execl on genoa-1n-128 (1 node, 128 CPUs)" in lkml and "execl on milan-2n-256 (2 nodes, 256 CPUs)" in lkml
    assert "1 nodes" not in lkml + md


# ---- the opening heatmap -------------------------------------------------------------------------

def test_the_report_opens_with_the_machine_by_design_heatmap(reported):
    folder, out, _ = reported
    md = (folder / "report.md").read_text().splitlines()
    assert md[:3] == ["# orch report", "", "![overview: execl](plots/overview-execl.svg)"]  # before any prose
    page = (folder / "index.html").read_text()
    assert page.index("<svg") < page.index("<p>") and page.index("<h1>") < page.index("<svg")
    svg = (folder / "plots" / "overview-execl.svg").read_text()
    assert svg in page
    assert svg_texts(svg, "ytick") == ["genoa-1n-128", "milan-2n-256"]  # machines
    assert svg_texts(svg, "xtick") == ["inverted"]                      # designs, the baseline left out
    title = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))  # a wrapped title: one text per line
    assert "throughput / single at 16 copies" in title and "range across 2 samples" in title
    # each tile: the ratio at the largest copy count, as --json gives it, and its band across samples
    tiles = re.findall(r"<text[^>]*>x([\d.]+)( n\.s\.)?</text>\s*<text[^>]*>([\d.]+) - ([\d.]+)</text>", svg)
    cells = {c["topology"]: c for c in json.loads(out)["cells"] if c["copies"] == 16 and c["strategy"] == "inverted"}
    assert len(tiles) == 2
    for (ratio, ns, low, high), topology in zip(tiles, ("genoa-1n-128", "milan-2n-256")):
        cell = cells[topology]
        assert ratio == f"{cell['ratio']:.2f}" and bool(ns) == (cell["verdict"] == "no significant difference")
        assert float(low) <= float(high)


def test_without_samples_the_heatmap_band_is_the_ci():
    from orchestrator.analysis.compare import compare
    from orchestrator.analysis.render import overview
    runs = [{"topology": topology, "workload": "w", "copies": copies, "strategy": strategy, "seed": seed,
             "steady_throughput_per_s": 1000.0 * ratio + seed * seed * (50 if strategy == "new" else 7)}
            for topology, copies in (("a", 4), ("b", 8)) for seed in (1, 2, 3)
            for strategy, ratio in (("single", 1.0), ("new", 2.0))]
    groups = compare(runs, "single")
    svg = overview(groups, "single", {}, 0)["w"]
    title = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
    assert "95% CI" in title and "at each machine's most copies" in title
    assert svg_texts(svg, "ytick") == ["a", "b"] and svg.count("4 copies") == 1  # a label's second line
    ci = groups[0].cell("new", 4).ratio
    assert ci.high - ci.low > 0.05 and f"{ci.low:.2f} - {ci.high:.2f}" in svg


# ---- lkml.txt: lock and cache-line rows beside throughput ------------------------------------------

def test_lkml_has_lock_and_transfer_rows_per_design(swept, reported):
    import statistics

    import pyarrow.dataset as ds

    from orchestrator.analysis.lkml import compact
    text = (reported[0] / "lkml.txt").read_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    blocks = {name: text.split(f"\nexecl on {name} (")[1].split("\nexecl on ")[0]
              for name in ("genoa-1n-128", "milan-2n-256")}
    metrics = ["lock_stat.contentions/s", "lock_stat.cpus_waiting", "lock_stat.wait_avg_us", "c2c.transfers/s"]
    for name, block in blocks.items():
        assert "at 16 copies, mean and %stddev over seeds:" in block
        for metric in metrics:
            row = rf"±\s*\d+%\s+[+-][\d.]+%\s+\S+ ±\s*\d+%  {re.escape(metric)}$"
            assert re.search(row, block, re.M), (name, metric)
        assert ("c2c.remote%" in block) == (name == "milan-2n-256")  # one node: no remote share
    # the contention rate, recomputed from the tables: contentions over every lock class per second
    runs = ds.dataset(swept[0] / "table=runs", partitioning="hive").to_table().to_pylist()
    locks = ds.dataset(swept[0] / "table=locks", partitioning="hive").to_table().to_pylist()
    single = [r for r in runs if r["topology"] == "milan-2n-256" and r["copies"] == 16
              and r["strategy"] == "single" and r["sample"] is None]
    rates = [sum(row["contentions"] for row in locks if row["run_id"] == r["run_id"]) / (r["duration_ms"] / 1e3)
             for r in single]
    row = next(line for line in blocks["milan-2n-256"].splitlines() if line.endswith("lock_stat.contentions/s"))
    assert row.split()[0] == compact(statistics.fmean(rates))
