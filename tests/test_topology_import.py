"""`orch topology detect` (sysfs) and `orch topology import-numactl` produce valid specs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.spec import Topology, load
from orchestrator.spec.detect import detect

# ---- numactl --hardware texts, shaped like real output -------------------------------

ONE_NODE = """available: 1 nodes (0)
node 0 cpus: 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
node 0 size: 31833 MB
node 0 free: 20108 MB
node distances:
node   0
  0:  10
"""

TWO_NODES = """available: 2 nodes (0-1)
node 0 cpus: 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
node 0 size: 128636 MB
node 0 free: 120057 MB
node 1 cpus: 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63
node 1 size: 129017 MB
node 1 free: 125442 MB
node distances:
node   0   1
  0:  10  21
  1:  21  10
"""


def eight_nodes() -> str:
    """2-socket EPYC 7742 in NPS4: 16 cores (32 CPUs) per node, SLIT 10 / 12 / 32."""
    lines = ["available: 8 nodes (0-7)"]
    for n in range(8):
        cpus = list(range(16 * n, 16 * n + 16)) + list(range(128 + 16 * n, 128 + 16 * n + 16))
        lines += [f"node {n} cpus: {' '.join(map(str, cpus))}", f"node {n} size: 64287 MB",
                  f"node {n} free: 63000 MB"]
    lines += ["node distances:", "node " + "".join(f"{n:>4}" for n in range(8))]
    for i in range(8):
        row = [10 if i == j else 12 if i // 4 == j // 4 else 32 for j in range(8)]
        lines.append(f"  {i}: " + "".join(f"{v:>4}" for v in row))
    return "\n".join(lines) + "\n"


MEMORY_ONLY = """available: 3 nodes (0-2)
node 0 cpus: 0 1 2 3
node 0 size: 1000 MB
node 0 free: 900 MB
node 1 cpus: 4 5 6 7
node 1 size: 1000 MB
node 1 free: 900 MB
node 2 cpus:
node 2 size: 65536 MB
node 2 free: 65000 MB
node distances:
node   0   1   2
  0:  10  20  30
  1:  20  10  30
  2:  30  30  10
"""


@pytest.mark.parametrize("text,nodes,cpus", [(ONE_NODE, 1, 16), (TWO_NODES, 2, 64),
                                             (eight_nodes(), 8, 256), (MEMORY_ONLY, 2, 8)])
def test_import_numactl_round_trips(orch, tmp_path, text, nodes, cpus):
    source = tmp_path / "numactl.txt"
    source.write_text(text)
    out = tmp_path / "imported.yaml"
    result = orch("topology", "import-numactl", source, "--name", "box", "--out", out)
    assert result.code == 0, result.err
    topo = load(Topology, out)
    assert (len(topo.nodes), topo.cpu_count, topo.name) == (nodes, cpus, "box")
    assert orch("topology", "validate", out).code == 0


def test_import_eight_nodes_maps_slit_to_tiers(tmp_path, orch):
    source = tmp_path / "n8.txt"
    source.write_text(eight_nodes())
    result = orch("topology", "import-numactl", source)
    spec = yaml.safe_load(result.out)
    assert spec["distance"][0] == [10, 12, 12, 12, 32, 32, 32, 32]
    assert spec["latency_ns"]["remote"] == {12: 200, 32: 300}  # same socket, then one hop
    assert "default tiers" in result.err


def test_import_drops_memory_only_nodes(orch, tmp_path):
    source = tmp_path / "cxl.txt"
    source.write_text(MEMORY_ONLY)
    result = orch("topology", "import-numactl", source)
    assert result.code == 0
    assert "without CPUs" in result.err
    assert yaml.safe_load(result.out)["distance"] == [[10, 20], [20, 10]]


def test_import_from_stdin(monkeypatch, orch):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO(TWO_NODES))
    result = orch("topology", "import-numactl", "-")
    assert result.code == 0 and "name: imported" in result.out


@pytest.mark.parametrize("text,words", [
    ("hello world\n", "no 'node N cpus:' lines"),
    (ONE_NODE.split("node distances")[0], "missing the 'node distances:' table"),
    (TWO_NODES.replace("  1:  21  10\n", ""), "row of node 1"),
    (TWO_NODES.replace("node 1 cpus: 16", "node 1 cpus: x16"), "line 5: bad CPU list"),
    (TWO_NODES.replace("  1:  21  10", "  1:  21  9"), "distance.1.1: diagonal must be 10"),
])
def test_import_bad_text(orch, tmp_path, text, words):
    source = tmp_path / "bad.txt"
    source.write_text(text)
    result = orch("topology", "import-numactl", source)
    assert result.code == 2
    assert result.err.startswith(f"orch: error: {source}: ") and words in result.err
    assert result.err.count("\n") == 1


def test_import_missing_file(orch, tmp_path):
    result = orch("topology", "import-numactl", tmp_path / "nope.txt")
    assert result.code == 2 and "cannot read file" in result.err


def test_import_unwritable_out(orch, tmp_path):
    source = tmp_path / "one.txt"
    source.write_text(ONE_NODE)
    result = orch("topology", "import-numactl", source, "--out", tmp_path / "no" / "dir.yaml")
    assert result.code == 2 and "cannot write" in result.err


def smt_text(node0: range | list[int], node1: range | list[int]) -> str:
    """Two nodes of 64 CPUs each, SLIT 10 / 32."""
    return (f"available: 2 nodes (0-1)\nnode 0 cpus: {' '.join(map(str, node0))}\n"
            f"node 1 cpus: {' '.join(map(str, node1))}\n"
            "node distances:\nnode   0   1\n  0:  10  32\n  1:  32  10\n")


# Linux x86 numbering: cpu i and i + 64 are the two threads of one core.
SMT_128 = smt_text([*range(0, 32), *range(64, 96)], [*range(32, 64), *range(96, 128)])


def test_import_threads_per_core_adds_smt_siblings(orch, tmp_path):
    from orchestrator.sim.machine import Machine

    source = tmp_path / "smt.txt"
    source.write_text(SMT_128)
    out = tmp_path / "smt.yaml"
    result = orch("topology", "import-numactl", source, "--threads-per-core", "2", "--out", out)
    assert result.code == 0, result.err
    assert "--threads-per-core 2" in result.err and "no socket or L3 data" in result.err
    assert orch("topology", "validate", out).code == 0
    topo = load(Topology, out)
    groups = topo.hierarchy.smt_siblings
    assert len(groups) == 64 and [5, 69] in groups
    assert all(len({topo.node_of_cpu[c] for c in g}) == 1 for g in groups)
    assert topo.latency_ns.smt is not None
    machine = Machine.build(topo, 128, "spread")
    assert sorted(machine.cpus) == list(range(128))
    assert machine.latency[machine.cpus.index(5)][machine.cpus.index(69)] == topo.latency_ns.smt


def test_import_without_threads_per_core_has_no_smt(orch, tmp_path):
    source = tmp_path / "smt.txt"
    source.write_text(SMT_128)
    result = orch("topology", "import-numactl", source)
    assert "hierarchy" not in yaml.safe_load(result.out)
    assert "no SMT siblings" in result.err


@pytest.mark.parametrize("threads,text,words", [
    ("3", SMT_128, "128 CPUs do not split into cores of 3 threads"),
    ("0", SMT_128, "must be at least 1"),
    ("2", smt_text(range(0, 64), range(64, 128)), "CPUs 0,64 would be one core but sit in nodes [0, 1]"),
])
def test_import_bad_threads_per_core(orch, tmp_path, threads, text, words):
    source = tmp_path / "smt.txt"
    source.write_text(text)
    result = orch("topology", "import-numactl", source, "--threads-per-core", threads)
    assert result.code == 2
    assert result.err.startswith(f"orch: error: {source}: --threads-per-core: ") and words in result.err
    assert result.err.count("\n") == 1


# ---- detect ----------------------------------------------------------------------------

def test_detect_this_machine_round_trips(orch, tmp_path):
    out = tmp_path / "here.yaml"
    result = orch("topology", "detect", "--out", out)
    assert result.code == 0, result.err
    assert orch("topology", "validate", out).code == 0
    assert load(Topology, out).cpu_count >= 1


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def fake_sysfs(root: Path) -> Path:
    """2 sockets x 1 node, 4 cores x 2 threads per node, L3 per 2 cores, plus a memory-only node."""
    sys_root = root / "sys"
    node_dir = sys_root / "devices/system/node"
    cpu_dir = sys_root / "devices/system/cpu"
    nodes = {0: [0, 1, 2, 3, 8, 9, 10, 11], 1: [4, 5, 6, 7, 12, 13, 14, 15], 2: []}
    dist = {0: "10 21 17", 1: "21 10 28", 2: "17 28 10"}
    for n, cpus in nodes.items():
        write(node_dir / f"node{n}/cpulist", ",".join(map(str, cpus)))
        write(node_dir / f"node{n}/distance", dist[n])
    write(cpu_dir / "online", "0-15")
    for cpu in range(16):
        core = cpu % 8
        sibling = [core, core + 8]
        l3 = [c for base in (core - core % 2,) for c in (base, base + 1, base + 8, base + 9)]
        write(cpu_dir / f"cpu{cpu}/topology/thread_siblings_list", ",".join(map(str, sibling)))
        write(cpu_dir / f"cpu{cpu}/topology/physical_package_id", str(core // 4))
        write(cpu_dir / f"cpu{cpu}/cache/index0/level", "1")
        write(cpu_dir / f"cpu{cpu}/cache/index0/shared_cpu_list", ",".join(map(str, sibling)))
        write(cpu_dir / f"cpu{cpu}/cache/index3/level", "3")
        write(cpu_dir / f"cpu{cpu}/cache/index3/shared_cpu_list", ",".join(map(str, sorted(l3))))
    return sys_root


def test_detect_reads_fake_sysfs(tmp_path):
    notes: list[str] = []
    topo = detect(fake_sysfs(tmp_path), notes)
    assert [n.cpus for n in topo.nodes] == [[0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]]
    assert topo.distance == [[10, 21], [21, 10]]
    assert topo.hierarchy.sockets == [[0], [1]]
    assert topo.hierarchy.smt_siblings[:2] == [[0, 8], [1, 9]]
    assert topo.hierarchy.l3_groups[0] == [0, 1, 8, 9]
    assert topo.latency_ns.remote == {21: 300}  # two sockets: one hop
    assert any("without CPUs" in note for note in notes)


def test_detect_cli_on_fake_sysfs(orch, tmp_path):
    result = orch("topology", "detect", "--sys-root", fake_sysfs(tmp_path))
    assert result.code == 0
    assert yaml.safe_load(result.out)["hierarchy"]["sockets"] == [[0], [1]]


def test_detect_without_numa_folder(tmp_path):
    sys_root = tmp_path / "sys"
    write(sys_root / "devices/system/cpu/online", "0-5")
    notes: list[str] = []
    topo = detect(sys_root, notes)
    assert len(topo.nodes) == 1 and topo.nodes[0].cpus == list(range(6))
    assert any("no NUMA information" in note for note in notes)
