"""Charts as SVG text (matplotlib), to inline in the HTML page and to save beside the report."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # no display: render to files only
import matplotlib.pyplot as plt  # noqa: E402

from orchestrator.analysis.compare import Group  # noqa: E402

# svg.hashsalt fixes the ids matplotlib puts in SVGs: the same data gives the same files.
# Every text is a label or a name from the user, drawn literally: "$x$" is no math formula.
plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "orch", "font.size": 9, "axes.grid": True,
                     "grid.alpha": 0.3, "text.parse_math": False})
PALETTE = plt.get_cmap("tab10").colors


def _color(group: Group, strategy: str):
    """One color per strategy across every chart of a group."""
    return PALETTE[group.strategies().index(strategy) % len(PALETTE)]


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


def throughput(group: Group) -> str:
    """Throughput vs copies, one line per strategy, with the 95% CI as a band."""
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
    _copies_axis(ax, group.copies())
    ax.set_xlabel("copies")
    ax.set_ylabel("iterations / s")
    ax.set_title(f"{group.workload} on {group.topology}: throughput (95% CI)")
    ax.legend(fontsize=7, ncol=2)
    return _svg(fig)


def speedup(group: Group, baseline: str) -> str:
    """Paired ratio to the baseline per copy count, with its 95% CI."""
    fig, ax = plt.subplots(figsize=(6.2, 3.2))
    strategies = [s for s in group.strategies() if s != baseline]
    width = 0.8 / max(len(strategies), 1)
    copies = group.copies()
    for k, strategy in enumerate(strategies):
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
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(copies)), [str(n) for n in copies])
    ax.set_xlabel("copies")
    ax.set_ylabel(f"throughput / {baseline}")
    ax.set_yscale("log")
    ax.set_title(f"{group.workload} on {group.topology}: speedup over {baseline} (95% CI)")
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
    ax.set_xlabel("contended lock wait, us")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _svg(fig)
