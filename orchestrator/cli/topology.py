"""`orch topology ...`: validate, show, detect and import machine shapes."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from orchestrator import terminal
from orchestrator.errors import UserError, error_line
from orchestrator.fileio import write_text_atomic
from orchestrator.presets import resolve
from orchestrator.spec import Topology, load
from orchestrator.spec.detect import detect as detect_machine
from orchestrator.spec.loader import dump_yaml, read_spec_text
from orchestrator.spec.numactl import parse_numactl

app = typer.Typer(help="Validate, show, detect and import topologies.", no_args_is_help=True)


def load_topology(ref: str) -> Topology:
    return load(Topology, resolve("topologies", ref))


def _note(notes: list[str]) -> None:
    for note in notes:
        print(f"orch: note: {note}", file=sys.stderr)


def _emit(topo: Topology, out: Path | None, header: str) -> None:
    text = f"# {header}\n" + dump_yaml(topo)
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            write_text_atomic(out, text)
        except OSError as exc:
            raise UserError(str(out), None, f"cannot write: {exc.strerror or exc}") from None
        print(f"wrote {out}", file=sys.stderr)


@app.command()
def validate(files: list[str] = typer.Argument(..., help="topology YAML files or preset names")) -> None:
    """Check topology specs; exit 0 when all are valid, 2 otherwise."""
    bad = 0
    for ref in files:
        try:
            topo = load_topology(ref)
        except UserError as exc:
            print(error_line(str(exc)), file=sys.stderr)
            bad += 1
            continue
        print(f"ok {ref}: {topo.name}, {len(topo.nodes)} nodes, {topo.cpu_count} CPUs")
    if bad:
        raise typer.Exit(2)


@app.command()
def show(file: str = typer.Argument(..., help="topology YAML file or preset name")) -> None:
    """Print nodes, CPUs, distance matrix and latency tiers as tables."""
    topo = load_topology(file)
    console = terminal.console(110)
    h = topo.hierarchy
    sockets = topo.socket_of_node()
    facts = [f"{len(topo.nodes)} nodes", f"{topo.cpu_count} CPUs"]
    if h and h.sockets:
        facts.append(f"{len(h.sockets)} sockets")
    if h and h.smt_siblings:
        facts.append(f"{len(h.smt_siblings)} SMT cores")
    if h and h.l3_groups:
        facts.append(f"{len(h.l3_groups)} L3 groups")
    facts.append("home-node effect" if topo.home_node_effect else "no home-node effect")
    console.print(Text.assemble((topo.name, "bold"), f": {topo.description}"))
    console.print(", ".join(facts))

    nodes = Table(title="Nodes", title_justify="left")
    for col in ("node", "socket", "CPUs", "count"):
        nodes.add_column(col, justify="right" if col != "CPUs" else "left")
    for n, node in enumerate(topo.nodes):
        nodes.add_row(str(n), str(sockets[n]), topo.summary_cpus(n), str(len(node.cpus)))
    console.print(nodes)

    dist = Table(title="SLIT distance", title_justify="left")
    dist.add_column("node", justify="right")
    for n in range(len(topo.nodes)):
        dist.add_column(str(n), justify="right")
    for n, row in enumerate(topo.distance):
        dist.add_row(str(n), *(str(v) for v in row))
    console.print(dist)

    tiers = Table(title="Cache-line transfer latency", title_justify="left")
    for col in ("tier", "ns", "applies to"):
        tiers.add_column(col, justify="right" if col == "ns" else "left")
    for tier, ns, where in topo.tiers():
        tiers.add_row(tier, "-" if ns < 0 else str(ns), where)
    console.print(tiers)
    if topo.latency_matrix_ns is not None:
        matrix = Table(title="Latency matrix (ns)", title_justify="left")
        matrix.add_column("node", justify="right")
        for n in range(len(topo.nodes)):
            matrix.add_column(str(n), justify="right")
        for n, row in enumerate(topo.latency_matrix_ns):
            matrix.add_row(str(n), *(str(v) for v in row))
        console.print(matrix)
    for source in topo.sources:
        console.print(f"source: {source}", highlight=False)


@app.command()
def detect(
    out: Path | None = typer.Option(None, "--out", "-o", help="write here instead of stdout"),
    sys_root: Path = typer.Option(Path("/sys"), hidden=True, help="sysfs root (for tests)"),
) -> None:
    """Write a topology spec of this machine, read from /sys/devices/system/node."""
    notes: list[str] = []
    topo = detect_machine(sys_root, notes)
    _note(notes)
    _emit(topo, out, "orch topology detect: shape read from sysfs; latencies are defaults, see notes")


@app.command("import-numactl")
def import_numactl(
    file: str = typer.Argument(..., help="a file of `numactl --hardware` output, or - for stdin"),
    name: str = typer.Option("imported", help="name of the topology"),
    out: Path | None = typer.Option(None, "--out", "-o", help="write here instead of stdout"),
    threads_per_core: int = typer.Option(
        1, "--threads-per-core", help="SMT threads per core; siblings numbered as Linux does on x86"),
) -> None:
    """Turn `numactl --hardware` output into a topology spec."""
    source = "<stdin>" if file == "-" else file
    text = read_spec_text(file)
    notes: list[str] = []
    topo = parse_numactl(text, source, name, notes, threads_per_core)
    _note(notes)
    _emit(topo, out, f"orch topology import-numactl {source}: latencies are defaults, see notes")
