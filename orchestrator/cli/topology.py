"""`orch topology ...`: validate, show, detect and import machine shapes."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
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
        print(f"ok {ref}: {topo.name}, {terminal.plural(len(topo.nodes), 'node')}, "
              f"{terminal.plural(topo.cpu_count, 'CPU')}")
    if bad:
        raise typer.Exit(2)


def node_matrix(title: str, rows) -> terminal.Grid:
    """A node x node matrix, a row per node."""
    columns = ("node", *(str(n) for n in range(len(rows))))
    grid = terminal.Grid(title, columns, numbers=columns)
    for n, row in enumerate(rows):
        grid.add_row(str(n), *(str(v) for v in row))
    return grid


@app.command()
def show(file: str = typer.Argument(..., help="topology YAML file or preset name")) -> None:
    """Print nodes, CPUs, distance matrix and latency tiers as tables."""
    topo = load_topology(file)
    console = terminal.console()
    h = topo.hierarchy
    sockets = topo.socket_of_node()
    facts = [terminal.plural(len(topo.nodes), "node"), terminal.plural(topo.cpu_count, "CPU")]
    if h and h.sockets:
        facts.append(terminal.plural(len(h.sockets), "socket"))
    if h and h.smt_siblings:
        facts.append(terminal.plural(len(h.smt_siblings), "SMT core"))
    if h and h.l3_groups:
        facts.append(terminal.plural(len(h.l3_groups), "L3 group"))
    facts.append("home-node effect" if topo.home_node_effect else "no home-node effect")
    console.print(Text.assemble((topo.name, "bold"), f": {topo.description}"))
    console.print(", ".join(facts))

    nodes = terminal.Grid("Nodes", ("node", "socket", "CPUs", "count"), numbers={"node", "socket", "count"})
    for n, node in enumerate(topo.nodes):
        nodes.add_row(str(n), str(sockets[n]), topo.summary_cpus(n), str(len(node.cpus)))
    terminal.show(nodes, console)
    terminal.show(node_matrix("SLIT distance", topo.distance), console)
    tiers = terminal.Grid("Cache-line transfer latency", ("tier", "ns", "applies to"), numbers={"ns"})
    for tier, ns, where in topo.tiers():
        tiers.add_row(tier, "-" if ns < 0 else str(ns), where)
    terminal.show(tiers, console)
    if topo.latency_matrix_ns is not None:
        terminal.show(node_matrix("Latency matrix (ns)", topo.latency_matrix_ns), console)
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
