"""What orch ships besides code, reachable by name from any install: the studies (orch sweep
NAME, orch submit NAME) and the docs (orch docs NAME)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from orchestrator.cli.sweep import load_sweep
from orchestrator.presets import doc_pages, preset_files, study_names, study_specs

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "orchestrator"


# ---- studies -------------------------------------------------------------------------------

def test_every_study_and_follow_up_loads_by_name():
    assert {"quick", "i_mmap-split"} <= set(study_names())
    for name in study_specs():
        spec, text = load_sweep(name)
        assert text == (REPO / "reports" / f"{name if '/' in name else name + '/sweep'}.yaml").read_text()
        assert spec.name
    assert load_sweep("i_mmap-split/uncertainty-execl.yaml")[0].name == "i_mmap-split-uncertainty-execl"


def test_a_file_of_that_name_wins_over_a_study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("quick").write_text(yaml.safe_dump({"name": "mine", "topologies": ["ideal"],
                                             "strategies": [{"name": "single"}], "workloads": [{"file": "closed-loop"}],
                                             "copies": [1], "duration_ms": 1}))
    assert load_sweep("quick")[0].name == "mine"


def test_the_wheel_carries_every_study_spec_and_doc_but_no_generated_report():
    shipped = set(preset_files())
    for path in [*REPO.glob("reports/*/*.yaml"), *REPO.glob("docs/*.md")]:
        assert f"orchestrator/_presets/{path.relative_to(REPO).as_posix()}" in shipped, path
    assert not [name for name in shipped if name.endswith((".html", ".svg", ".txt"))]
    assert not [name for name in shipped if "/reports/" in name and name.endswith(".md")]


def test_sweep_help_names_the_studies_not_a_checkout_path(orch):
    out = " ".join(orch("sweep", "-h").out.split())
    assert "quick" in out and "i_mmap-split" in out and "(default: quick)" in out
    assert "reports/" not in out


@pytest.mark.parametrize("args", [["sweep", "nope"], ["sweep", "Quick"], ["sweep", "quick2"],
                                  ["submit", "nope", "--address", "http://127.0.0.1:1"]])
def test_an_unknown_study_is_one_line_listing_the_shipped_ones(orch, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)  # no file of that name here
    result = orch(*args)
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert "no shipped study of that name" in result.err
    assert all(name in result.err for name in study_specs())


def test_a_missing_follow_up_is_an_unreadable_file(orch, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = orch("sweep", "i_mmap-split/nope")
    assert result.code == 2 and "i_mmap-split/nope: cannot read file" in result.err


def test_submit_takes_a_study_by_name(orch, tmp_path):
    """The spec resolves and is checked; only then does the unreachable address stop it."""
    result = orch("submit", "quick", "--address", "http://127.0.0.1:1", "--out", str(tmp_path / "out"))
    assert result.code == 2 and "cannot reach the Ray Jobs API" in result.err


# ---- docs ------------------------------------------------------------------------------------

def test_docs_lists_every_page_with_its_title(orch):
    result = orch("docs")
    assert result.code == 0
    for path in REPO.glob("docs/*.md"):
        heading = next(line for line in path.read_text().splitlines() if line.startswith("#")).lstrip("# ")
        assert re.search(rf"^{path.stem}\s+{re.escape(heading)}$", result.out, re.M), path.stem


@pytest.mark.parametrize("name", ["cluster", "cluster.md"])
def test_docs_prints_a_page_as_written_when_piped(orch, name):
    result = orch("docs", name)
    assert result.code == 0 and result.out == (REPO / "docs" / "cluster.md").read_text()


def test_docs_renders_markdown_at_a_terminal(orch, monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    result = orch("docs", "cluster")
    assert result.code == 0 and "Running sweeps on a Ray cluster" in result.out
    assert "# Running" not in result.out and "```" not in result.out


@pytest.mark.parametrize("name", ["nope", "CLUSTER", "../README", "cluster/", "docs/cluster.md", "", "cluster.txt"])
def test_an_unknown_page_is_one_line_listing_the_pages(orch, name):
    result = orch("docs", name)
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert "no such page" in result.err and all(page in result.err for page in doc_pages())


def string_constants(path: Path) -> list[str]:
    """The strings of a module that can reach a user, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_messages_cite_orch_docs_not_a_file_a_wheel_lacks():
    strings = {path.relative_to(PACKAGE).as_posix(): string_constants(path) for path in PACKAGE.rglob("*.py")
               if "_presets" not in path.parts
               and path.name != "card.py"}  # the card's rerun command writes docs/validation.md of a checkout
    assert not {f: s for f, texts in strings.items() for s in texts if re.search(r"docs/\w+\.md", s)}
    cited = {name for f, texts in strings.items() if f != "cli/docs.py"  # its own help: "orch docs NAME"
             for s in texts for name in re.findall(r"orch docs (\w+)", s)}
    assert {"cluster", "sources", "calibration"} <= cited and cited <= set(doc_pages())
    assert string_constants.__doc__ not in string_constants(Path(__file__))  # the check skips docstrings


def test_pages_point_at_each_other_as_orch_docs_names():
    """A page read with orch docs has no docs/ folder beside it: it names the others by page."""
    for path in REPO.glob("docs/*.md"):
        text = path.read_text()
        assert not re.search(r"`docs/\w+\.md`", text), path.name
        assert set(re.findall(r"`orch docs (\w+)`", text)) <= set(doc_pages()), path.name
