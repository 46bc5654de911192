"""Charts as SVG text (matplotlib), to inline in the HTML page and to save beside the report."""

from __future__ import annotations

import io
import math
import textwrap
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display: render to files only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import LogLocator, MaxNLocator  # noqa: E402

from orchestrator.analysis.compare import Group  # noqa: E402
from orchestrator.analysis.measured import Beside  # noqa: E402

# svg.hashsalt fixes the ids matplotlib puts in SVGs: the same data gives the same files.
# Every text is a label or a name from the user, drawn literally: "$x$" is no math formula.
# No text is smaller than 9 pt, and a chart is WIDTH inches wide whatever its labels (constrained
# layout fits them inside), so the page shows it at its own size and the 9 pt stay 9 pt.
plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "orch", "font.size": 9, "legend.fontsize": 9,
                     "axes.titlesize": 10, "axes.grid": True, "grid.alpha": 0.3, "text.parse_math": False})
WIDTH = 5.4           # inches: 518 CSS pixels, within the page's 540-pixel plot column
PAGE_PX = 540         # render.STYLE's .plots svg max-width
TITLE_CHARS = 64      # a 10 pt title wider than this wraps
LEAST_TICKS = 4       # labelled ticks a log axis shows at least
SERIES = ((1,), (1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8))  # log ticks, sparse to dense
# tab10 is a ListedColormap, whose colors a Colormap (what get_cmap is declared to return) lacks
PALETTE: tuple[tuple[float, float, float], ...] = plt.get_cmap("tab10").colors  # type: ignore[attr-defined]


def _color(group: Group, strategy: str):
    """One color per strategy across every chart of a group."""
    return PALETTE[group.strategies().index(strategy) % len(PALETTE)]


def log_ticks(low: float, high: float) -> list[float]:
    """Ticks for a log axis from low to high, at least LEAST_TICKS of them where round numbers
    allow: decades, or 1, 2, 5 per decade where the range is wide, then denser series (1, 1.5, 2, 3, 5, 7 and
    1, 1.2, 1.5, 2, 2.5, ...), then evenly spaced round numbers where even those are too few."""
    for subs in SERIES:
        ticks = [t for t in LogLocator(subs=subs).tick_values(low, high) if low <= t <= high]
        if len(ticks) >= LEAST_TICKS:
            return [float(t) for t in ticks]
    return [float(t) for t in MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
            if t > 0 and low <= t <= high]


def _plain_log(ax, axis: str) -> None:
    """The x or y axis of ax on a log scale labelled with plain numbers (0.8, 1, 1.5, 1000):
    matplotlib's default labels are math formulas, which this module draws as plain text
    (text.parse_math is off for user labels). Call it once the data is drawn."""
    getattr(ax, f"set_{axis}scale")("log")
    low, high = getattr(ax, f"get_{axis}lim")()
    ticks = log_ticks(low, high)
    getattr(ax, f"set_{axis}ticks")(ticks, [f"{t:g}" for t in ticks])
    getattr(ax, f"set_{axis}ticks")([], minor=True)
    getattr(ax, f"set_{axis}lim")(low, high)


def _figure(height: float):
    return plt.subplots(figsize=(WIDTH, height), layout="constrained")


def _title(ax, text: str, chars: int = TITLE_CHARS) -> None:
    ax.set_title("\n".join(textwrap.wrap(text, chars)))


def _copies_axis(ax, copies: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(copies, [str(n) for n in copies])
    ax.minorticks_off()


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog: the SVG goes inline in HTML


def throughput(group: Group, bands: dict[tuple, tuple[float, float]] | None = None) -> str:
    """Throughput vs copies, one line per strategy, with the 95% CI as a band; where uncertainty
    samples ran, their range (lowest to highest mean) as dashed lines around it."""
    bands = bands or {}
    fig, ax = _figure(3.6)
    for strategy in group.strategies():
        cells = [c for c in group.cells if c.strategy == strategy]
        x = [c.copies for c in cells]
        y = [c.throughput.mean for c in cells]
        color = _color(group, strategy)
        ax.plot(x, y, marker="o", label=strategy, color=color)
        low = [c.throughput.low if not math.isnan(c.throughput.low) else c.throughput.mean for c in cells]
        high = [c.throughput.high if not math.isnan(c.throughput.high) else c.throughput.mean for c in cells]
        ax.fill_between(x, low, high, color=color, alpha=0.2)
        sampled = [(n, bands[key]) for n in x if (key := (group.topology, group.workload, n, strategy)) in bands]
        if sampled:
            ax.plot([n for n, _ in sampled], [b[0] for _, b in sampled], color=color, linestyle="--", linewidth=0.8)
            ax.plot([n for n, _ in sampled], [b[1] for _, b in sampled], color=color, linestyle="--", linewidth=0.8)
    _copies_axis(ax, group.copies())
    ax.set_xlabel("copies")
    ax.set_ylabel("iterations / s")
    _title(ax, f"{group.workload} on {group.topology}: throughput (95% CI"
           + (", dashed: range across samples)" if bands and any(k[:2] == (group.topology, group.workload)
                                                                for k in bands) else ")"))
    ax.legend(ncol=2)
    return _svg(fig)


def speedup(group: Group, baseline: str, across: dict | None = None) -> str:
    """Paired ratio to the baseline per copy count, with its 95% CI; where uncertainty samples ran,
    the range of the ratio across them as a black line beside each bar."""
    fig, ax = _figure(3.4)
    strategies = [s for s in group.strategies() if s != baseline]
    width = 0.8 / max(len(strategies), 1)
    copies = group.copies()
    for k, strategy in enumerate(strategies):
        errs: list[list[float]]
        xs, ys, errs = [], [], [[], []]
        for i, n in enumerate(copies):
            cell = group.cell(strategy, n)
            if cell is None or cell.ratio is None:
                continue
            r = cell.ratio
            xs.append(i + (k - (len(strategies) - 1) / 2) * width)
            ys.append(r.mean)
            errs[0].append(0 if math.isnan(r.low) else r.mean - r.low)
            errs[1].append(0 if math.isnan(r.high) else r.high - r.mean)
        ax.bar(xs, ys, width=width, yerr=errs, capsize=2, label=strategy, color=_color(group, strategy))
        for x, n in zip(xs, [n for n in copies if (c := group.cell(strategy, n)) is not None and c.ratio is not None]):
            v = (across or {}).get((group.topology, group.workload, n, strategy))
            if v is not None:
                ax.vlines(x + width * 0.35, v.low, v.high, color="black", linewidth=1.6)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(copies)), [str(n) for n in copies])
    ax.set_xlabel("copies")
    ax.set_ylabel(f"throughput / {baseline}")
    _plain_log(ax, "y")
    _title(ax, f"{group.workload} on {group.topology}: speedup over {baseline} (95% CI"
           + (", black: range across samples)" if across else ")"))
    ax.legend(ncol=3)
    return _svg(fig)


def lock_waits(rows: list[tuple[str, float, float]], title: str) -> str:
    """Horizontal bars: median and 99th percentile lock wait per strategy (log scale, us)."""
    fig, ax = _figure(0.55 * len(rows) + 1.4)
    labels = [r[0] for r in rows]
    y = range(len(rows))
    ax.barh([i + 0.2 for i in y], [max(r[2], 1) / 1e3 for r in rows], height=0.4, label="p99")
    ax.barh([i - 0.2 for i in y], [max(r[1], 1) / 1e3 for r in rows], height=0.4, label="p50")
    ax.set_yticks(list(y), labels)
    _plain_log(ax, "x")
    ax.set_xlabel("contended lock wait, us")
    _title(ax, title)
    ax.legend()
    return _svg(fig)


def beside(b: Beside) -> str:
    """A measured curve (mean, min - max over repeats) over the model's (95% CI, range across samples)."""
    fig, ax = _figure(3.6)
    x = [p.copies for p in b.points]
    model = [p.model.mean for p in b.points]
    ax.plot(x, model, marker="o", color=PALETTE[0], label=f"model ({b.strategy} on {b.topology})")
    ax.fill_between(x, [p.model.mean if math.isnan(p.model.low) else p.model.low for p in b.points],
                    [p.model.mean if math.isnan(p.model.high) else p.model.high for p in b.points],
                    color=PALETTE[0], alpha=0.2)
    banded = [(p.copies, *p.band) for p in b.points if p.band is not None]
    if banded:
        copies, low, high = zip(*banded)
        ax.fill_between(copies, low, high, color=PALETTE[0], alpha=0.08, label="model across samples")
    mean = [sum(p.measured) / len(p.measured) for p in b.points]
    errs = [[m - min(p.measured) for m, p in zip(mean, b.points)],
            [max(p.measured) - m for m, p in zip(mean, b.points)]]
    ax.errorbar(x, mean, yerr=errs, marker="s", color=PALETTE[3], capsize=3, label=f"measured on {b.host}")
    _copies_axis(ax, x)
    ax.set_xlabel("copies")
    ax.set_ylabel("iterations / s")
    _title(ax, f"{b.workload}: measured on {b.host} and modelled")
    ax.legend()
    return _svg(fig)


@dataclass
class Tile:
    """One tile of the overview heatmap: a design's ratio to the baseline on one machine and its
    band (across uncertainty samples, or the 95% CI where none ran)."""

    ratio: float
    low: float
    high: float
    significant: bool


def heatmap(rows: list[str], designs: list[str], tiles: dict[tuple[str, str], Tile], title: str) -> str:
    """Machines (rows) x designs (columns), colored by the log of the ratio (blue faster, red
    slower, white the same), each tile labelled with its ratio and band; n.s. where the ratio's
    CI includes 1."""
    fig, ax = _figure(0.55 * len(rows) + 1.5)
    logs = [math.log(t.ratio) for t in tiles.values() if t.ratio > 0]
    reach = max([abs(v) for v in logs] + [math.log(1.1)])
    grid = [[math.log(tiles[r, d].ratio) if (r, d) in tiles and tiles[r, d].ratio > 0 else math.nan
             for d in designs] for r in rows]
    ax.imshow(grid, cmap="RdBu", vmin=-reach, vmax=reach, aspect="auto")
    for i, row in enumerate(rows):
        for j, design in enumerate(designs):
            tile = tiles.get((row, design))
            if tile is None:
                continue
            band = "" if math.isnan(tile.low) else f"\n{tile.low:.2f} - {tile.high:.2f}"
            strong = abs(math.log(tile.ratio)) > reach * 0.6 if tile.ratio > 0 else False
            ax.text(j, i, f"x{tile.ratio:.2f}{'' if tile.significant else ' n.s.'}{band}", ha="center",
                    va="center", color="white" if strong else "black")
    ax.set_xticks(range(len(designs)), designs)
    ax.set_yticks(range(len(rows)), rows)
    ax.tick_params(length=0)
    ax.grid(False)
    _title(ax, title, TITLE_CHARS - 10)  # centred over the tiles, which the machine labels push right
    return _svg(fig)


SHARE_COLORS = {"work": PALETTE[2], "spin": PALETTE[3], "sleep": PALETTE[1], "idle": PALETTE[7]}


def shares(b: Beside) -> str:
    """CPU time shares as stacked bars, the model's and the measured side by side per copy count."""
    from orchestrator.analysis.measured import SHARES

    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    pairs = [(p.copies, p.model_shares, p.measured_shares) for p in b.points if p.measured_shares and p.model_shares]
    labels = []
    for i, (copies, model, measured) in enumerate(pairs):
        for j, (side, found) in enumerate((("model", model), ("measured", measured))):
            x, bottom = 3 * i + j, 0.0
            for name in SHARES:
                ax.bar(x, found[name], bottom=bottom, color=SHARE_COLORS[name], width=0.9,
                       label=name if (i, j) == (0, 0) else None)
                bottom += found[name]
            labels.append((x, f"{side}\n{copies} copies"))
    ax.set_xticks([x for x, _ in labels], [text for _, text in labels], fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of CPU time")
    ax.set_title(f"{b.workload}: CPU time, model ({b.topology}) and measured ({b.host})")
    ax.legend(fontsize=7, loc="upper right")
    return _svg(fig)
