"""Labels and names are printed literally: in the terminal (no rich markup, links or emoji)
and in plots (no matplotlib math text) (issue 14, item 6)."""

from __future__ import annotations

from pathlib import Path

import yaml

# each would be taken as markup, a hyperlink, an emoji or a math formula if rendered
LABELS = ["[/bold]split", "[link=file:///etc/passwd]l[/link]", ":thumbs_up:", r"$\nosuchmacro{x}$"]


def test_run_prints_the_label_literally(orch, tmp_path):
    strategy = tmp_path / "strategy.yaml"
    strategy.write_text(yaml.safe_dump({"name": "single", "label": LABELS[0] + LABELS[1]}))
    result = orch("run", "-t", "laptop-1n-8", "-w", "closed-loop", "-s", strategy, "--duration-ms", "0.1")
    assert result.code == 0, result.err
    assert result.out.startswith(LABELS[0] + LABELS[1] + " x closed-loop on laptop-1n-8")


def test_topology_show_prints_names_literally(orch, tmp_path):
    topology = yaml.safe_load((Path(__file__).parent.parent / "topologies" / "laptop-1n-8.yaml").read_text())
    topology.update(name=LABELS[0], description=LABELS[1], sources=[LABELS[2]])
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(topology))
    result = orch("topology", "show", path)
    assert result.code == 0, result.err
    assert all(label in result.out for label in LABELS[:3])


def test_sweep_and_report_print_labels_literally(orch, tmp_path):
    spec = {"name": "labels", "topologies": ["laptop-1n-8"], "workloads": [{"file": "closed-loop"}],
            "strategies": [{"name": "single"}] + [{"name": "single", "label": label} for label in LABELS],
            "copies": [1, 2], "replications": 2, "duration_ms": 0.1}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = orch("sweep", path, "--backend", "local", "--out", tmp_path / "data")
    assert result.code == 0, result.err
    assert all(label in result.out for label in LABELS), result.out

    result = orch("report", tmp_path / "data", "--out", tmp_path / "report")
    assert result.code == 0, result.err
    svg = (tmp_path / "report" / "plots" / "laptop-1n-8-closed-loop-throughput.svg").read_text()
    assert "\\nosuchmacro{x}" in svg  # drawn as the text it is
