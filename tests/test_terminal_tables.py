"""Tables never cut a cell: plain columns off a terminal, boxed and wrapped or folded on one."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from orchestrator import terminal

BOX = set("┏┓┗┛┃━│─┌┐└┘┡┩╇┳┻")
NUMBERS = ["3,456,789", "12,345", "0.97", "281,717", "1,234,567,890"]


def sample() -> terminal.Grid:
    grid = terminal.Grid("throughput of a long titled table", ("topology", "strategy", "throughput", "ratio"),
                         numbers={"throughput", "ratio"})
    for i, number in enumerate(NUMBERS):
        grid.add_row(f"a-rather-long-topology-name-{i}", "split-node", number, f"{i + 0.5:.2f}")
    return grid


def printed(grid: terminal.Grid, width: int, tty: bool) -> str:
    buffer = io.StringIO()
    out = Console(file=buffer, width=width, force_terminal=tty, color_system=None, markup=False)
    out.soft_wrap = not tty
    terminal.show(grid, out)
    return buffer.getvalue()


def test_off_a_terminal_a_table_is_plain_columns_whatever_the_width():
    text = printed(sample(), 40, tty=False)
    assert not BOX & set(text) and "…" not in text
    lines = text.splitlines()
    assert lines[0] == "throughput of a long titled table"
    for i, number in enumerate(NUMBERS):  # one line per row, every cell whole
        row = lines[2 + i].split()
        assert row == [f"a-rather-long-topology-name-{i}", "split-node", number, f"{i + 0.5:.2f}"]
    assert lines[1].endswith("throughput  ratio")  # numbers right-aligned under their heads
    assert len({len(line) for line in lines[1:]}) == 1


@pytest.mark.parametrize("width", [120, 70, 52])
def test_on_a_terminal_text_folds_but_numbers_stay_whole(width):
    text = printed(sample(), width, tty=True)
    assert BOX & set(text) and "…" not in text
    assert all(len(line) <= width for line in text.splitlines())
    for number in NUMBERS:
        assert number in text, (width, number)


def test_a_terminal_too_narrow_for_the_numbers_gets_the_plain_layout():
    text = printed(sample(), 30, tty=True)
    assert not BOX & set(text) and "…" not in text
    for number in NUMBERS:
        assert number in text


def test_text_columns_give_way_before_numbers():
    grid = sample()
    widths = terminal.fitted_widths(grid, 60)
    assert widths is not None
    assert widths[2] == len("1,234,567,890") and widths[3] == len("ratio")
    assert widths[0] < len("a-rather-long-topology-name-0")
    assert terminal.fitted_widths(grid, 20) is None


def test_a_number_column_wraps_at_spaces_only():
    grid = terminal.Grid("t", ("metric", "value"), numbers={"value"}, header=False)
    grid.add_row("throughput", "40,000 iterations/s (76 iterations, 38,000/s overall)")
    text = printed(grid, 40, tty=True)
    assert "40,000" in text and "38,000/s" in text and "…" not in text


def test_plural():
    assert terminal.plural(1, "node") == "1 node"
    assert terminal.plural(8, "node") == "8 nodes"
    assert terminal.plural(2, "copy", "copies") == "2 copies"
    assert terminal.plural(1_000, "CPU") == "1,000 CPUs"


@pytest.mark.parametrize("args,cells", [
    (["params"], ["4,000,000 - 8,000,000", "kernel.spin_mean_ns"]),
    (["strategies"], ["split-node"]),
    (["topology", "show", "rome-8n-256"], ["SLIT distance"]),
])
def test_commands_print_plain_tables_into_a_pipe(orch, args, cells):
    result = orch(*args)
    assert result.code == 0
    assert not BOX & set(result.out) and "…" not in result.out
    for cell in cells:
        assert cell in result.out


def test_orch_run_prints_whole_numbers_into_a_pipe(orch):
    result = orch("run", "-t", "genoa-1n-128", "-w", "execl", "-c", "8", "--duration-ms", "2")
    assert result.code == 0
    assert not BOX & set(result.out) and "…" not in result.out
    assert "no walker threads" in result.out and "none CPUs" not in result.out
    assert "(one NUMA node: all local)" in result.out and "remote" not in result.out  # no "0.0% remote"
    head = next(line for line in result.out.splitlines() if line.startswith("class "))
    assert head.split() == ["class", "mode", "caller", "acq", "con", "con%", "wait", "avg", "wait", "p99", "wait",
                            "max", "hold", "avg", "spin", "sleep", "sleeps", "handoffs", "bounces"]
    row = next(line for line in result.out.splitlines() if line.startswith("i_mmap_rwsem "))
    assert row.split()[3].replace(",", "").isdigit()  # acquisitions: a whole number
