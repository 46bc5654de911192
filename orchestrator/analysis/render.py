"""The report: index.html (self-contained), report.md, lkml.txt (plain text under 80 columns)."""

from __future__ import annotations

import html
import math
import re
import statistics
from pathlib import Path

from markdown_it import MarkdownIt

from orchestrator.analysis import measured, plots, precision
from orchestrator.analysis.aggregates import (
    SHORT,
    lock_wait_rows,
    memory_rows,
    pct,
    side_table,
)
from orchestrator.analysis.compare import Group
from orchestrator.analysis.data import Study
from orchestrator.analysis.lkml import lkml
from orchestrator.analysis.measured import Beside
from orchestrator.analysis.uncertainty import Sensitivity, Verdict
from orchestrator.fileio import write_text_atomic
from orchestrator.terminal import plural


def _slug(*parts: str) -> str:
    # a file name that is also a plain link target: labels may hold quotes and brackets
    return "-".join(re.sub(r"[^A-Za-z0-9._+=,-]", "_", p) for p in parts)


def anchor(title: str) -> str:
    """The id GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens;
    the HTML page uses the same ids, so one table of contents serves both."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def md(text: str) -> str:
    """Text for report.md that a Markdown viewer shows as it is: HTML's special characters become
    entities, Markdown's (emphasis, code, tables, headings) are backslash-escaped, and so is every
    bracket of a text that could make a link or image of it (a ] followed by (, [ or :) or break the
    table of contents' links (brackets that do not pair), so a name such as
    `<img onerror=...>` or `[x](javascript:...)` is never live; "spec [key=1]" keeps its brackets.
    One line: a newline in a name would start a block of its own."""
    text = " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if re.search(r"\]\s*[(\[:]", text) or not balanced(text):
        text = text.replace("[", "\\[").replace("]", "\\]")
    # ( ) and ! start nothing without a [; an _ between letters or digits (cost_scale) starts no emphasis
    return re.sub(r"(\\(?![\[\]])|[`*#|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))", r"\\\1", text)


def balanced(text: str) -> bool:
    """Every ] closes a [ before it, and every [ is closed."""
    depth = 0
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


# the hand-written summary and the intro: CommonMark with tables; raw HTML is shown as text, not run
SUMMARY_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def overview(groups: list[Group], baseline: str, across: dict[tuple, Verdict], samples: int) -> dict[str, str]:
    """The report's opening picture, one heatmap per workload: machine x design at the machine's
    largest copy count, the ratio to the baseline with its band across the uncertainty samples
    (the 95% CI where none ran). Workload -> SVG."""
    charts = {}
    for workload in dict.fromkeys(g.workload for g in groups):
        mine = [g for g in groups if g.workload == workload]
        tops = {g.topology: max(g.copies()) for g in mine}
        same = len(set(tops.values())) == 1
        rows, designs, tiles = [], [], {}
        for g in mine:
            row = g.topology if same else f"{g.topology}\n{tops[g.topology]} copies"  # two lines: wider tiles
            for strategy in g.strategies():
                cell = g.cell(strategy, tops[g.topology])
                if strategy == baseline or cell is None or cell.ratio is None:
                    continue
                v = across.get((g.topology, workload, cell.copies, strategy))
                low, high = (v.low, v.high) if v else (cell.ratio.low, cell.ratio.high)
                tiles[row, strategy] = plots.Tile(cell.ratio.mean, low, high, cell.verdict in SHORT)
                designs += [strategy] * (strategy not in designs)
            rows += [row] * any(key[0] == row for key in tiles)
        if tiles:
            top = plural(next(iter(tops.values())), "copy", "copies")
            at = f" at {top}" if same else " at each machine's most copies"
            band = f"range across {samples} samples" if across else "95% CI"
            charts[workload] = plots.heatmap(rows, designs, tiles, f"{workload}: throughput / {baseline}{at}"
                                                                   f" (below: {band}; blue faster, red slower)")
    return charts


# ---- report.md and index.html --------------------------------------------------------------

def _band(v: Verdict | None) -> str:
    return "-" if v is None else f"x{v.low:.2f} - x{v.high:.2f}"


def _across(v: Verdict | None) -> str:
    """The verdict across samples with its counts: 'robust: faster (16 faster, 0 slower of 16)'."""
    return "-" if v is None else f"{v.verdict} ({v.faster} faster, {v.slower} slower of {v.samples})"


def _influence(v: Verdict | None) -> str:
    """The parameter the ratio follows most, with its index: 'kernel.cost_scale (PAWN 0.42)'."""
    top = None if v is None else v.top
    return "-" if v is None or top is None else f"{top} ({v.index} {v.sensitivity[top]:.2f})"


def _cell_rows(group: Group, across: dict[tuple, Verdict]) -> list[list[str]]:
    rows = []
    for cell in group.cells:
        t, r = cell.throughput, cell.ratio
        ci = "-" if math.isnan(t.half_width) else f"± {t.half_width:,.0f}"
        ratio = "-" if r is None else (f"{r.mean:.2f}" + ("" if math.isnan(r.low) else f" [{r.low:.2f}, {r.high:.2f}]"))
        row = [str(cell.copies), cell.strategy, f"{t.mean:,.0f}", ci, ratio, cell.verdict or "baseline"]
        if across:
            v = across.get((cell.topology, cell.workload, cell.copies, cell.strategy))
            row += [_band(v), _across(v)]
        rows.append(row)
    return rows


def _usl_rows(group: Group) -> list[list[str]]:
    rows = []
    for strategy, fit in group.usl.items():
        if fit is not None:
            peak = "none (no coherency cost)" if math.isinf(fit.peak) else f"{fit.peak:,.0f}"
            rows.append([strategy, f"{fit.sigma:.4f}", f"{fit.kappa:.2e}", peak])
    return rows


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(map(md, head)) + " |", "|" + "|".join("---" for _ in head) + "|",
            *("| " + " | ".join(map(md, r)) + " |" for r in rows), ""]


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


CELL_HEAD = ["copies", "strategy", "throughput (it/s)", "95% CI", "ratio to baseline [95% CI]", "verdict"]
ACROSS_HEAD = ["ratio across samples", "verdict across samples"]
USL_HEAD = ["strategy", "sigma (contention)", "kappa (coherency)", "peak copies N*"]
STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:nth-child(2),td:first-child{text-align:left}h2{border-bottom:2px solid #ddd;margin-top:2em}
.plots{display:flex;flex-wrap:wrap;gap:1em}pre{background:#f7f7f7;padding:1em}""" + \
    f".plots svg{{max-width:{plots.PAGE_PX}px;height:auto}}"


def _num(x: float) -> str:
    return f"{x:,.4g}"


class Page:
    """report.md and index.html, built section by section from the same tables."""

    def __init__(self) -> None:
        self.md: list[str] = []
        self.html: list[str] = []

    def section(self, title: str, text: str = "") -> None:
        self.md += [f"## {md(title)}", ""] + ([text, ""] if text else [])
        self.html.append(f"<h2 id='{anchor(title)}'>{html.escape(title)}</h2>")
        if text:
            self.html.append(SUMMARY_MARKDOWN.render(text))

    def plots(self, svgs: dict[str, str], slug: str) -> None:
        self.md += [f"![{name}](plots/{slug}-{name}.svg)" for name in svgs] + [""]
        self.html.append(f"<div class='plots'>{''.join(svgs.values())}</div>")

    def table(self, head: list[str], rows: list[list[str]], caption: str = "") -> None:
        if caption:
            self.md += [md(caption), ""]
            self.html.append(f"<p>{html.escape(caption)}</p>")
        self.md += _md_table(head, rows)
        self.html.append(_html_table(head, rows))


BESIDE_HEAD = ["copies", "measured (/s)", "measured min - max", "repeats", "model (/s)", "model 95% CI",
               "model across samples", "model error"]


def _beside(page: Page, found: list[Beside], unmatched: int, out: Path) -> None:
    page.section("Model beside measurement",
                 "Curves `orch measure` took on real machines, beside the model's curve for a topology of the"
                 " same shape and the same workload under the baseline design. The error is model over"
                 " measured, minus one; the RMS log error is what `orch calibrate` minimizes."
                 + (f" {unmatched} measured rows match no simulated topology and workload: sweep the"
                    " topology `orch topology detect` writes to compare them." if unmatched else ""))
    for b in found:
        slug = _slug("measured", b.host, b.kernel, b.topology, b.workload)
        svg = plots.beside(b)
        write_text_atomic(out / "plots" / f"{slug}.svg", svg)
        page.md += [f"### {md(b.title)}", "", f"![measured](plots/{slug}.svg)", ""]
        page.html.append(f"<h3>{html.escape(b.title)}</h3><div class='plots'>{svg}</div>")
        rows = []
        for p in b.points:
            ci = "-" if math.isnan(p.model.half_width) else f"± {p.model.half_width:,.0f}"
            band = "-" if p.band is None else f"{p.band[0]:,.0f} - {p.band[1]:,.0f}"
            rows.append([str(p.copies), f"{statistics.fmean(p.measured):,.0f}",
                         f"{min(p.measured):,.0f} - {max(p.measured):,.0f}", str(len(p.measured)),
                         f"{p.model.mean:,.0f}", ci, band, f"{p.error:+.1%}"])
        page.table(BESIDE_HEAD, rows, f"{b.host}: kernel {b.kernel}, {b.cpu_model}; model: {b.strategy};"
                                      f" RMS log error {b.rms_log_error:.3f} over {len(b.points)} points.")
        if any(p.measured_shares and p.model_shares for p in b.points):
            _perf_beside(page, b, slug, out)


SHARES_HEAD = ["copies", "side", "work", "spin", "sleep", "idle"]
SITES_HEAD = ["kind", "mode", "caller", "model contended/s", "measured contended/s", "model wait ms/s",
              "measured wait ms/s"]
SITES_SHOWN = 15


def _perf_beside(page: Page, b: Beside, slug: str, out: Path) -> None:
    """What `orch measure --perf` recorded beside the model: CPU time shares, call sites and the
    differences."""
    svg = plots.shares(b)
    write_text_atomic(out / "plots" / f"{slug}-shares.svg", svg)
    page.md += [f"![shares](plots/{slug}-shares.svg)", ""]
    page.html.append(f"<div class='plots'>{svg}</div>")
    rows = []
    for p in b.points:
        for side, found in (("model", p.model_shares), ("measured", p.measured_shares)):
            if found is not None:
                rows.append([str(p.copies), side, *(f"{found[name]:.1%}" for name in measured.SHARES)])
    page.table(SHARES_HEAD, rows, "CPU time shares (measured: perf's cpu-clock profile, with sleep from "
                                  "sched_switch; orch docs calibration says how).")
    if b.sites:
        def rate(x: float | None, digits: int) -> str:
            return "-" if x is None else f"{x:,.{digits}f}"

        rows = [[s.kind, s.mode, s.caller or "(not said)", rate(s.model_per_s, 0), rate(s.measured_per_s, 0),
                 rate(s.model_wait_ms_per_s, 3), rate(s.measured_wait_ms_per_s, 3)] for s in b.sites[:SITES_SHOWN]]
        page.table(SITES_HEAD, rows, f"Contended call sites at {b.points[-1].copies} copies, matched on kind, mode "
                                     f"and caller (the busiest {SITES_SHOWN}). For rwsem and mutex the model's "
                                     "columns count waiters that slept: perf's lock tracepoints fire only once "
                                     "optimistic spinning has failed, and spinning shows in the spin share instead. "
                                     "The model has the i_mmap lock and the locks its workloads' programs take; "
                                     "perf sees every lock of the machine.")
    listed = measured.differences(b) or [f"none beyond {measured.SHARE_POINTS * 100:.0f} points of share, and no "
                                         "call site on one side only"]
    page.md += ["Differences:", "", *(f"- {line}" for line in listed), ""]
    page.html.append("<p>Differences:</p><ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in listed) + "</ul>")


SENSITIVITY_HEAD = ["parameter", "sampled values", "most influential in (comparisons)", "median index",
                    "largest index (comparison)"]
RULES = {"PAWN": "the PAWN index (SALib; how far the ratio's distribution moves when the parameter is held in a"
                 " slice of its range, 0 to 1, median over slices)",
         "Morris mu*": "Morris' mu* (SALib; the mean absolute change of the ratio per step of the parameter,"
                       " in ratio units)",
         "Sobol ST": "Sobol's total index (SALib; the share of the ratio's variance the parameter accounts for,"
                     " interactions included)"}


def _uncertainty(page: Page, found: list[Verdict], sens: list[Sensitivity], samples: int, baseline: str) -> None:
    robust = sum(v.verdict.startswith("robust") for v in found)
    indices = sorted({v.index for v in found})
    page.section("Uncertainty",
                 f"{samples} uncertainty samples (drawn over the parameters' plausible ranges, `orch params`)"
                 " ran each cell again beside the nominal runs the tables above come from. In"
                 f" each sample a design's ratio is its mean over seeds to {md(baseline)}'s in the same sample,"
                 " and Welch's t-test over the seeds (5%) says whether it is significantly faster or slower."
                 " A verdict is robust when no sample gives the opposite significant answer and more than"
                 " half give the same one; otherwise it depends on the parameter with the largest global"
                 " sensitivity index of the ratio: " + "; ".join(RULES[i] for i in indices) + "."
                 f" Robust: {robust} of {len(found)} comparisons. Sensitivity: how strongly the ratios depend"
                 " on each parameter.")
    rows = [[s.parameter, f"{_num(s.sampled[0])} - {_num(s.sampled[1])}", str(s.strongest),
             f"{s.median:.2f}", f"{s.most.sensitivity[s.parameter]:.2f} {s.most.index} ({s.most.strategy}, "
             f"{s.most.workload} on {s.most.topology}, {s.most.copies} copies)"] for s in sens]
    page.table(SENSITIVITY_HEAD, rows)


def write_report(study: Study, groups: list[Group], baseline: str, out: Path, dataset: str) -> list[Path]:
    from orchestrator.analysis import uncertainty

    out.mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)
    summary_path = out / "summary.md"
    summary = summary_path.read_text(encoding="utf-8") if summary_path.exists() else ""
    found = uncertainty.verdicts(study.sampled_runs, baseline, designs=study.designs) if study.sampled_runs else []
    across = {(v.topology, v.workload, v.copies, v.strategy): v for v in found}
    bands = uncertainty.throughput_bands(study.sampled_runs)
    beside, unmatched = measured.pair(study.measured_runs, study.runs, study.sampled_runs, baseline, study.locks,
                                      study.measured_locks)
    stale = f", {study.stale} of an older model version" if study.stale else ""
    stale += f", {study.measured} measured on a real machine" if study.measured else ""
    intro = (f"Dataset {md(dataset)}, sweeps {md(', '.join(study.sweeps))}: {len(study.runs)} runs"
             f" ({study.failed} failed{stale}, left out). Throughput is iterations per virtual second over the"
             f" windows MSER-5 keeps; intervals are 95% Student t over seeds; ratios to {md(baseline)} are"
             " paired by seed (common random numbers); a verdict says faster or slower only when the"
             f" whole interval is on one side of 1. Generated by `orch report` (model version"
             f" {study.runs[0]['model_version']}).")
    short = precision.runs_warning(study.runs)
    if short:
        intro += f"\n\n**Warning:** {md(short)}."
    titles = ([f"{g.workload} on {g.topology}" for g in groups] + ["Model beside measurement"] * bool(study.measured)
              + ["Uncertainty"] * bool(found) + ["Memory per inode", "Verdicts"])
    origin = [f"{key}: {value}" for key, value in study.provenance.items()]
    page = Page()
    opening = overview(groups, baseline, across, len({r["sample"] for r in study.sampled_runs}))
    for workload, svg in opening.items():
        write_text_atomic(out / "plots" / f"overview-{_slug(workload)}.svg", svg)
    page.md = ["# orch report", "", *(f"![overview: {md(w)}](plots/overview-{_slug(w)}.svg)" for w in opening), "",
               summary, "", intro, "", *(f"- {md(line)}" for line in origin), "", "Contents:", ""]
    page.md += [f"{n}. [{md(t)}](#{anchor(t)})" for n, t in enumerate(titles, 1)] + [""]
    contents = "".join(f"<li><a href='#{anchor(t)}'>{html.escape(t)}</a></li>" for t in titles)
    page.html = ["<h1>orch report</h1>", f"<div class='plots'>{''.join(opening.values())}</div>",
                 SUMMARY_MARKDOWN.render(summary) if summary else "",
                 SUMMARY_MARKDOWN.render(intro),
                 "<ul class='provenance'>" + "".join(f"<li>{html.escape(line)}</li>" for line in origin) + "</ul>",
                 f"<nav><h2>Contents</h2><ol>{contents}</ol></nav>"]
    verdicts = []
    for group in groups:
        slug = _slug(group.topology, group.workload)
        svgs = {"throughput": plots.throughput(group, bands)}
        if len(group.strategies()) > 1 and any(c.ratio for c in group.cells):
            svgs["speedup"] = plots.speedup(group, baseline, across)
        waits = lock_wait_rows(study, group)
        if waits:
            svgs["lockwait"] = plots.lock_waits(waits, f"{group.workload} on {group.topology}: lock wait at "
                                                      f"{max(group.copies())} copies")
        for name, svg in svgs.items():
            write_text_atomic(out / "plots" / f"{slug}-{name}.svg", svg)
        side_head, side, left_out = side_table(study, group)
        page.section(f"{group.workload} on {group.topology}")
        page.plots(svgs, slug)
        page.table(CELL_HEAD + ACROSS_HEAD * bool(across), _cell_rows(group, across))
        if _usl_rows(group):
            page.table(USL_HEAD, _usl_rows(group), "Universal Scalability Law fits:")
        page.table(side_head, side, left_out)
        for c in group.cells:
            if c.ratio is not None:
                v = across.get((c.topology, c.workload, c.copies, c.strategy))
                verdicts.append([c.topology, c.workload, str(c.copies), c.strategy, pct(c.ratio.mean), c.verdict]
                                + ([_band(v), _across(v), _influence(v)] if across else []))
    if study.measured:
        _beside(page, beside, unmatched, out)
    if found:
        _uncertainty(page, found, uncertainty.sensitivity(found, study.sampled_runs),
                     len({r["sample"] for r in study.sampled_runs}), baseline)
    page.section("Memory per inode")
    page.table(["topology", "strategy", "bytes per inode", "MiB per million inodes"],
               [[t, s, f"{b:,}", f"{m:,.1f}"] for t, s, b, m in memory_rows(study)])
    page.section("Verdicts")
    page.table(["topology", "workload", "copies", "strategy", f"change vs {baseline}", "verdict"]
               + (ACROSS_HEAD + ["most sensitive parameter (index)"]) * bool(across), verdicts)
    html_page = (f"<!doctype html><html><head><meta charset='utf-8'><title>orch report</title>"
                 f"<style>{STYLE}</style></head><body>{''.join(page.html)}</body></html>")
    written = {"index.html": html_page, "report.md": "\n".join(page.md),
               "lkml.txt": lkml(study, groups, baseline, across)}
    for name, text in written.items():
        write_text_atomic(out / name, text)
    return [out / name for name in written]
