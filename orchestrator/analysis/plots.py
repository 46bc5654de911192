"""Charts as SVG text (matplotlib), to inline in the HTML page and to save beside the report."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # no display: render to files only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from orchestrator.analysis.compare import Group  # noqa: E402
from orchestrator.analysis.measured import Beside  # noqa: E402

# svg.hashsalt fixes the ids matplotlib puts in SVGs: the same data gives the same files.
# Every text is a label or a name from the user, drawn literally: "$x$" is no math formula.
plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "orch", "font.size": 9, "axes.grid": True,
                     "grid.alpha": 0.3, "text.parse_math": False})
# tab10 is a ListedColormap, whose colors a Colormap (what get_cmap is declared to return) lacks
PALETTE: tuple[tuple[float, float, float], ...] = plt.get_cmap("tab10").colors  # type: ignore[attr-defined]


def _color(group: Group, strategy: str):
    """One color per strategy across every chart of a group."""
    return PALETTE[group.strategies().index(strategy) % len(PALETTE)]


def _plain_log(axis) -> None:
    """A log axis labelled 0.5, 1, 2, 1000: matplotlib's default labels are math formulas, which
    this module draws as plain text (text.parse_math is off for user labels)."""
    axis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _copies_axis(ax, copies: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(copies, [str(n) for n in copies])
    ax.minorticks_off()


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog: the SVG goes inline in HTML


def throughput(group: Group, bands: dict[tuple, tuple[float, float]] | None = None) -> str:
    """Throughput vs copies, one line per strategy, with the 95% CI as a band; where uncertainty
    samples ran, their range (lowest to highest mean) as dashed lines around it."""
    bands = bands or {}
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
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
    ax.set_title(f"{group.workload} on {group.topology}: throughput (95% CI"
                 + (", dashed: range across samples)" if bands and any(k[:2] == (group.topology, group.workload)
                                                                      for k in bands) else ")"))
    ax.legend(fontsize=7, ncol=2)
    return _svg(fig)


def speedup(group: Group, baseline: str, across: dict | None = None) -> str:
    """Paired ratio to the baseline per copy count, with its 95% CI; where uncertainty samples ran,
    the range of the ratio across them as a black line beside each bar."""
    fig, ax = plt.subplots(figsize=(6.2, 3.2))
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
    ax.set_yscale("log")
    _plain_log(ax.yaxis)
    ax.set_title(f"{group.workload} on {group.topology}: speedup over {baseline} (95% CI"
                 + (", black: range across samples)" if across else ")"))
    ax.legend(fontsize=7, ncol=3)
    return _svg(fig)


def lock_waits(rows: list[tuple[str, float, float]], title: str) -> str:
    """Horizontal bars: median and 99th percentile lock wait per strategy (log scale, us)."""
    fig, ax = plt.subplots(figsize=(6.2, 0.35 * len(rows) + 1.2))
    labels = [r[0] for r in rows]
    y = range(len(rows))
    ax.barh([i + 0.2 for i in y], [max(r[2], 1) / 1e3 for r in rows], height=0.4, label="p99")
    ax.barh([i - 0.2 for i in y], [max(r[1], 1) / 1e3 for r in rows], height=0.4, label="p50")
    ax.set_yticks(list(y), labels)
    ax.set_xscale("log")
    _plain_log(ax.xaxis)
    ax.set_xlabel("contended lock wait, us")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _svg(fig)


def beside(b: Beside) -> str:
    """A measured curve (mean, min - max over repeats) over the model's (95% CI, range across samples)."""
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
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
    ax.set_title(f"{b.workload}: measured on {b.host} and modelled")
    ax.legend(fontsize=7)
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
