"""Output for people. Labels, names, descriptions and paths come from the user and are printed
literally: with markup off, "[/bold]" or "[link=file:///etc/passwd]" in a label is just text.

Tables never cut a cell. On a terminal a table is drawn in a box as wide as the terminal allows:
text columns wrap at spaces or fold, numbers (right-aligned columns) only wrap at spaces; when even
that does not fit, and whenever the output is no terminal (a pipe, a file), the table is printed
as plain columns with no box drawing and no line wrapped, which grep and awk read too."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

BORDER = 3    # what rich's default box adds per column: a space each side and a line
FOLD_TO = 8   # the narrowest a text column is folded to on a narrow terminal
GAP = "  "    # between the columns of a plain table


def console(min_width: int | None = None, stderr: bool = False) -> Console:
    """A console that renders no markup or :emoji: codes; at least min_width columns wide. Off a
    terminal it wraps and crops no line."""
    width = max(Console().width, min_width) if min_width else None
    made = Console(width=width, stderr=stderr, markup=False, emoji=False)
    made.soft_wrap = not made.is_terminal
    return made


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 node', '8 nodes', '2 copies' (many: the plural where it is not word + s)."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


@dataclass
class Grid:
    """A table to print with show(): its columns, which of them hold numbers, and its rows."""

    title: str
    columns: Sequence[str]
    numbers: Collection[str] = ()   # right-aligned; never folded, only wrapped at spaces
    header: bool = True
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def add_row(self, *cells: str) -> None:
        self.rows.append(cells)

    def lines(self, index: int) -> list[str]:
        return ([self.columns[index]] if self.header else []) + [row[index] for row in self.rows]


def show(grid: Grid, out: Console) -> None:
    """The grid boxed to the terminal's width, or plain where that would cut a number."""
    widths = fitted_widths(grid, out.width) if out.is_terminal else None
    if widths is None:
        out.print(plain(grid), soft_wrap=True, highlight=False)
        return
    table = Table(title=grid.title, title_justify="left", show_header=grid.header)
    for name, width in zip(grid.columns, widths):
        table.add_column(name, width=width, overflow="fold", justify="right" if name in grid.numbers else "left")
    for row in grid.rows:
        table.add_row(*row)
    out.print(table)


def fitted_widths(grid: Grid, room: int) -> list[int] | None:
    """Each column's width within room columns of terminal, or None where the table does not fit.
    Text columns give way first, then number columns, the widest of each first, down to a floor:
    FOLD_TO characters for text, the longest word for numbers (so a number is never folded)."""
    widths, floors = [], []
    for index, name in enumerate(grid.columns):
        cells = grid.lines(index) or [""]
        widths.append(max(1, *(cell_len(c) for c in cells)))
        words = [cell_len(w) for c in cells for w in c.split()] or [1]
        floors.append(max(words) if name in grid.numbers else min(widths[-1], FOLD_TO))
    room -= BORDER * len(widths) + 1
    for numbers in (False, True):
        giving = [i for i, name in enumerate(grid.columns) if (name in grid.numbers) == numbers]
        while sum(widths) > room:
            widest = max((i for i in giving if widths[i] > floors[i]), key=lambda i: widths[i], default=None)
            if widest is None:
                break
            widths[widest] -= 1
    return widths if sum(widths) <= room else None


def plain(grid: Grid) -> str:
    """The title, then the columns padded to their longest cell; numbers aligned right."""
    widths = [max(cell_len(c) for c in grid.lines(i) or [""]) for i in range(len(grid.columns))]

    def line(cells: Sequence[str]) -> str:
        padded = [" " * (w - cell_len(c)) + c if name in grid.numbers else c + " " * (w - cell_len(c))
                  for c, w, name in zip(cells, widths, grid.columns)]
        return GAP.join(padded).rstrip()

    head = [line(grid.columns)] if grid.header else []
    return "\n".join([grid.title, *head, *(line(row) for row in grid.rows)])
