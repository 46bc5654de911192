"""Statistics against scipy, the report end to end, a real browser (the docs' recipes: test_recipes.py)."""

from __future__ import annotations

import math
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from orchestrator.analysis.stats import FASTER, SAME, SLOWER, fit_usl, mean_ci, paired_ratio, verdict
from orchestrator.cli.schema import data_contract
from orchestrator.sim.steady import mser5

REPO = Path(__file__).resolve().parent.parent


# ---- statistics -------------------------------------------------------------------------

def test_mean_ci_matches_scipy():
    x = [101.0, 97.5, 103.2, 99.9, 100.4]
    est = mean_ci(x)
    low, high = stats.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=stats.sem(x))
    assert est.mean == pytest.approx(np.mean(x))
    assert (est.low, est.high) == (pytest.approx(low), pytest.approx(high))
    assert math.isnan(mean_ci([5.0]).low)


def test_paired_ratio_is_a_paired_t_on_log_ratios():
    base = {1: 100.0, 2: 110.0, 3: 95.0, 4: 105.0, 5: 99.0}
    new = {1: 130.0, 2: 150.0, 3: 120.0, 4: 140.0, 5: 128.0, 6: 1.0}  # seed 6 has no pair
    est = paired_ratio(base, new)
    logs = np.log([new[s] / base[s] for s in base])
    low, high = stats.t.interval(0.95, len(logs) - 1, loc=logs.mean(), scale=stats.sem(logs))
    assert est.n == 5
    assert (math.log(est.low), math.log(est.high)) == (pytest.approx(low), pytest.approx(high))
    # the same test scipy runs: significant exactly when the interval excludes a ratio of 1
    p = stats.ttest_rel(np.log(list(new[s] for s in base)), np.log(list(base.values()))).pvalue
    assert (p < 0.05) == (verdict(est) != SAME)


def test_verdicts():
    assert verdict(paired_ratio({1: 10, 2: 10, 3: 10}, {1: 20, 2: 21, 3: 19})) == FASTER
    assert verdict(paired_ratio({1: 10, 2: 10, 3: 10}, {1: 5, 2: 5.2, 3: 4.9})) == SLOWER
    assert verdict(paired_ratio({1: 10, 2: 10, 3: 10}, {1: 12, 2: 8, 3: 10.5})) == SAME


def test_mser5_finds_a_planted_warmup():
    rng = np.random.default_rng(4)
    warm = np.linspace(0, 100, 60) + rng.normal(0, 3, 60)
    steady = 100 + rng.normal(0, 3, 340)
    cut = mser5(np.concatenate([warm, steady]))
    assert 40 <= cut <= 80
    assert mser5(100 + rng.normal(0, 3, 400)) <= 20   # a stationary series loses little


def test_usl_recovers_its_parameters():
    n = np.array([1, 2, 4, 8, 16, 32, 64, 128])
    truth = 1000 * n / (1 + 0.05 * (n - 1) + 0.001 * n * (n - 1))
    fit = fit_usl(n, truth)
    assert (fit.sigma, fit.kappa) == (pytest.approx(0.05, rel=1e-3), pytest.approx(0.001, rel=1e-3))
    assert fit.peak == pytest.approx(math.sqrt(0.95 / 0.001), rel=1e-3)
    with pytest.raises(ValueError):
        fit_usl([1, 2], [1.0, 2.0])


def test_data_contract_docs_are_current():
    assert (REPO / "docs" / "schema.md").read_text() == data_contract()


# ---- a small study, reported --------------------------------------------------------------

SWEEP = {"name": "mini", "topologies": ["rome-8n-256", "genoa-1n-128"],
         "strategies": [{"name": "single"}, {"name": "split-node"}, {"name": "inverted"}],
         "workloads": [{"file": "execl-reclaim", "overrides": {"exec_ns": 30000}}],
         "copies": [2, 8, 32], "replications": 3, "duration_ms": 1.5, "warmup_ms": 0.5}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    spec = root / "sweep.yaml"
    spec.write_text(yaml.safe_dump(SWEEP))
    from orchestrator.cli import main
    with pytest.raises(SystemExit) as done:
        main(["sweep", str(spec), "--backend", "local", "--out", str(root / "data")])
    assert done.value.code == 0
    return root / "data"


@pytest.fixture(scope="module")
def report(dataset):
    from orchestrator.cli import main
    out = dataset.parent / "report"
    (out).mkdir()
    (out / "summary.md").write_text("## Answers\n\nA hand-written summary goes on top.\n\n"
                                    "1. **split-node** wins\n\n<script>alert(1)</script>\n")
    with pytest.raises(SystemExit) as done:
        main(["report", str(dataset), "--out", str(out)])
    assert done.value.code == 0
    return out


def test_report_has_every_section_and_plot(report):
    md = (report / "report.md").read_text()
    page = (report / "index.html").read_text()
    for text in ("A hand-written summary", "execl+reclaim on rome-8n-256", "execl+reclaim on genoa-1n-128",
                 "Universal Scalability Law", "Memory per inode", "Verdicts", "remote line transfers",
                 "rmap walk p99", "walks given up (contended)", "CPU time spinning", "CPU time asleep on locks"):
        assert text in md, text
    # the side table gives a share in every new column: reclaim walks ran, CPUs spun at 32 copies
    rows = [line for line in md.splitlines() if line.startswith("| single |") and line.count("%") >= 4]
    assert rows, "no side-table row with shares for single"
    for kind in ("throughput", "speedup", "lockwait"):
        assert (report / "plots" / f"rome-8n-256-execl+reclaim-{kind}.svg").exists()
    assert page.count("<svg") >= 6 and "Verdicts" in page
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)  # nothing to fetch


def test_lkml_text_fits_80_columns(report):
    text = (report / "lkml.txt").read_text()
    assert "execl+reclaim on rome-8n-256 (8 nodes, 256 CPUs)" in text
    assert re.search(r"%change \[95% CI\]", text)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert any(line.rstrip().endswith(("faster", "slower", "n.s.")) for line in text.splitlines())


@pytest.mark.parametrize("make,words", [
    (lambda root: root / "nothing", "no such dataset"),
    (lambda root: root / ("y" * 300), "no such dataset"),  # a name too long for the file system
    (lambda root: (root / "empty" / "table=runs").mkdir(parents=True) or root / "empty", "empty: no runs"),
    (lambda root: _other_schema(root), "another schema"),
])
def test_bad_datasets_exit_2(orch, tmp_path, make, words):
    result = orch("report", make(tmp_path), "--out", tmp_path / "r")
    assert result.code == 2 and words in result.err and result.err.count("\n") == 1


def _other_schema(root: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq
    for table in ("runs", "locks", "timeseries", "histograms"):
        folder = root / "other" / f"table={table}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"x": [1]}), folder / "part-0.parquet")
    return root / "other"


def test_unknown_baseline(orch, dataset, tmp_path):
    result = orch("report", dataset, "--baseline", "nope", "--out", tmp_path / "r")
    assert result.code == 2 and "--baseline: no runs of strategy 'nope'" in result.err


# ---- a real browser ------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Proxy:
    """A loopback port Chromium uses as its proxy: every request it makes is seen here."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.hosts: set[str] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                target = conn.recv(1024).split(b"\r\n")[0].split(b" ")[1].decode()
                self.hosts.add(re.sub(r"^\w+://", "", target).split("/")[0].split(":")[0])
            except (OSError, IndexError):
                self.hosts.add("?")
            conn.close()


# Chromium's own calls home (component updater, clock, sign-in), whatever the page is.
BROWSER_HOSTS = {"clients2.google.com", "update.googleapis.com", "accounts.google.com"}


def screenshot(page: Path, shot: Path, profile: Path) -> set[str]:
    proxy = Proxy()
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", f"--proxy-server=http://127.0.0.1:{proxy.port}",
                    "--proxy-bypass-list=<-loopback>", "--window-size=1200,1600", f"--screenshot={shot}",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    proxy.sock.close()
    return proxy.hosts


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_page_renders_in_headless_chromium_without_network(report, tmp_path):
    import matplotlib.image as mpimg
    blank = tmp_path / "blank.html"
    blank.write_text("<!doctype html><title>blank</title>")
    browser_own = screenshot(blank, tmp_path / "blank.png", tmp_path / "p1") | BROWSER_HOSTS
    page_hosts = screenshot(report / "index.html", tmp_path / "page.png", tmp_path / "p2")
    assert page_hosts <= browser_own, page_hosts - browser_own  # the page itself fetched nothing
    pixels = mpimg.imread(tmp_path / "page.png")
    assert pixels.shape[0] >= 1000 and pixels.std() > 0.05  # not a blank page


def test_page_renders_the_summary_and_a_table_of_contents(report):
    page = (report / "index.html").read_text()
    assert "<h2>Answers</h2>" in page and "<strong>split-node</strong>" in page  # Markdown rendered
    assert "<script>" not in page and "&lt;script&gt;" in page  # raw HTML in the summary is shown, not run
    links = re.findall(r"<a href='#([^']+)'>", page)
    assert len(links) >= 4 and "verdicts" in links
    for target in links:  # every entry of the contents leads to a section
        assert f"id='{target}'" in page, target
    md = (report / "report.md").read_text()
    assert "[execl+reclaim on rome-8n-256](#execlreclaim-on-rome-8n-256)" in md  # GitHub's heading ids


def test_report_files_are_readable_by_others(report):
    import stat

    from orchestrator.fileio import UMASK
    for name in ("index.html", "report.md", "lkml.txt"):
        mode = stat.S_IMODE((report / name).stat().st_mode)
        assert mode == 0o666 & ~UMASK and mode & 0o004 == (0o004 & ~UMASK), oct(mode)


def test_every_part_and_the_report_say_what_wrote_the_runs(dataset, report):
    import json as _json

    import pyarrow.parquet as pq

    from orchestrator.spec.run import MODEL_VERSION
    part = next((dataset / "table=locks").rglob("part-*.parquet"))
    stamp = _json.loads(pq.read_schema(part).metadata[b"orch.provenance"])
    assert stamp["model_version"] == MODEL_VERSION and stamp["host"] == socket.gethostname()
    assert stamp["git_commit"] != "" and stamp["written_at"].endswith("+00:00")
    md = (report / "report.md").read_text()
    assert f"- hosts: {socket.gethostname()}" in md
    assert f"commit {stamp['git_commit']}, model version {MODEL_VERSION}" in md
    assert "class='provenance'" in (report / "index.html").read_text()


def test_generated_reference_pages_are_current():
    """docs/parameters.md and docs/sweep.md are generated from the spec models."""
    from orchestrator.spec.reference import DOCS, PAGES
    for page, make in PAGES.items():
        assert (DOCS / page).read_text() == make() + "\n", f"run: python -m orchestrator.spec.reference ({page})"
    assert "`kernel.spin_mean_ns`" in PAGES["parameters.md"]() and "`workload.exec_ns`" in PAGES["parameters.md"]()
    assert "`replications`" in PAGES["sweep.md"]()


def test_a_run_two_sweeps_share_counts_once(orch, tmp_path):
    """Sweeps resume within their own partition, so two sweeps with a cell in common both write
    it; the report keeps one copy (same run id: same configuration, same result)."""
    base = {"topologies": ["ideal"], "strategies": [{"name": "single"}], "workloads": [{"file": "closed-loop"}],
            "replications": 2, "duration_ms": 1}
    for name, copies in (("first", [1, 2]), ("second", [2, 4])):
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(yaml.safe_dump({**base, "name": name, "copies": copies}))
        assert orch("sweep", spec, "--backend", "local", "--out", tmp_path / "data").code == 0
    from orchestrator.analysis.data import load_study

    study = load_study(str(tmp_path / "data"))
    assert len(study.runs) == 6 and len({r["run_id"] for r in study.runs}) == 6  # 8 written, 2 shared
    assert len(study.locks) == len({(row["run_id"], row["lock_class"], row["mode"]) for row in study.locks})
    assert len(load_study(str(tmp_path / "data"), "second").runs) == 4  # a sweep keeps its own copy


def test_labels_come_in_new_dicts_and_a_parsed_configuration_is_read_only():
    """separate_configurations leaves the runs it is given as they are; flat_config's cache hands
    every caller the same mapping, which none can change."""
    import copy
    import json

    from orchestrator.analysis.data import flat_config, separate_configurations

    runs = [{"topology": "t", "workload": "w", "strategy": "s",
             "config_json": json.dumps({"kernel": {"spin_mean_ns": spin}})} for spin in (1, 2)]
    given = copy.deepcopy(runs)
    labelled = separate_configurations(runs, "x")
    assert [r["workload"] for r in labelled] == ["w [kernel.spin_mean_ns=1]", "w [kernel.spin_mean_ns=2]"]
    assert runs == given and not any(a is b for a, b in zip(runs, labelled))
    with pytest.raises(TypeError):
        flat_config(runs[0]["config_json"])["kernel.spin_mean_ns"] = 3
    assert flat_config(runs[0]["config_json"])["kernel.spin_mean_ns"] == 1


def test_prose_is_not_configuration_and_old_rows_get_the_steady_estimate(orch, tmp_path):
    """A topology's description edited between two sweeps changes run ids, not runs: the report
    counts each run once under one label. Rows written before steady_throughput_per_s existed
    get it from their timeseries, by the same estimator."""
    import pyarrow.parquet as pq

    from orchestrator.analysis.data import load_study

    topology = yaml.safe_load((REPO / "topologies" / "laptop-1n-8.yaml").read_text())
    for name, description in (("first", "as shipped"), ("second", "described again")):
        (tmp_path / "box.yaml").write_text(yaml.safe_dump({**topology, "description": description,
                                                           "sources": [description]}))
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(yaml.safe_dump({"name": name, "topologies": ["box.yaml"], "strategies": [{"name": "single"}],
                                        "workloads": [{"file": "closed-loop"}], "copies": [2], "replications": 2,
                                        "duration_ms": 2}))
        assert orch("sweep", spec, "--backend", "local", "--out", tmp_path / "data").code == 0
    study = load_study(str(tmp_path / "data"))
    assert len(study.runs) == 2 and {r["workload"] for r in study.runs} == {"closed-loop"}  # 4 written
    before = {r["seed"]: r["steady_throughput_per_s"] for r in study.runs}
    for part in (tmp_path / "data" / "table=runs").rglob("part-*.parquet"):  # as an older orch wrote them
        pq.write_table(pq.read_table(part).drop_columns(["steady_throughput_per_s"]), part)
    after = {(r["seed"]): r["steady_throughput_per_s"] for r in load_study(str(tmp_path / "data")).runs}
    assert after == pytest.approx(before)
