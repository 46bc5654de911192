"""Every preset is a valid topology of the shape its name and comments say."""

from __future__ import annotations

import pytest

from orchestrator.presets import preset_names, resolve
from orchestrator.spec import Topology, load

REQUIRED = {
    "hygon-12n-384": (12, 384),   # the seed's machine
    "milan-2n-256": (2, 256),     # the reviewers' 2-node / 128-core box
    "genoa-1n-128": (1, 128),     # non-NUMA, 64..128 CPUs
    "icelake-2s-128": (2, 128),   # 2-socket Xeon
    "rome-8n-256": (8, 256),      # 8-node 2-socket EPYC, NPS4
    "laptop-1n-8": (1, 8),
    "ideal": (1, 256),
}


def test_required_presets_exist():
    assert REQUIRED.keys() <= set(preset_names("topologies"))


@pytest.mark.parametrize("name", preset_names("topologies"))
def test_preset_validates_from_cli(orch, name):
    result = orch("topology", "validate", name)
    assert result.code == 0, result.err
    assert result.out.startswith(f"ok {name}")


@pytest.mark.parametrize("name,shape", REQUIRED.items())
def test_preset_shape(name, shape):
    topo = load(Topology, resolve("topologies", name))
    assert (len(topo.nodes), topo.cpu_count) == shape
    assert topo.name == name


def test_every_real_preset_cites_its_latency_source():
    for name in set(preset_names("topologies")) - {"ideal"}:
        topo = load(Topology, resolve("topologies", name))
        assert topo.sources, name


def test_ideal_costs_nothing():
    topo = load(Topology, resolve("topologies", "ideal"))
    assert topo.latency_ns.node == 0
    assert all(ns == 0 for _, ns, _ in topo.tiers())


def test_hygon_tiers_follow_slit():
    topo = load(Topology, resolve("topologies", "hygon-12n-384"))
    # same socket (16) is cheaper than one hop (22), which is cheaper than two hops (28)
    assert topo.node_latency_ns(0, 1) < topo.node_latency_ns(0, 3) < topo.node_latency_ns(0, 6)
    assert topo.socket_of_node() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert topo.home_node_effect


def test_show_prints_tables(orch):
    result = orch("topology", "show", "rome-8n-256")
    assert result.code == 0
    for text in ("Nodes", "SLIT distance", "Cache-line transfer latency", "SLIT 32", "250"):
        assert text in result.out


def test_validate_many_reports_each_bad_file(orch, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    result = orch("topology", "validate", "ideal", str(bad), "laptop-1n-8")
    assert result.code == 2
    assert result.out.count("ok ") == 2
    assert result.err.count("\n") == 1 and str(bad) in result.err
