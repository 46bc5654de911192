"""The model card: docs/validation.md, written from a results file (what orch validate computed)
and the tables it ran (their sources, machines and the reasons a person gave for each miss).
It is rebuilt, never edited: tests/test_validation.py rebuilds it from the committed results."""

from __future__ import annotations

from orchestrator.validation.table import Row, Table

GENERATED = ("<!-- Written by `orch validate --card`; edit orchestrator/validation/published.yaml or "
             "orchestrator/validation/card.py, then rebuild it (below). -->")

INTRO = """\
# Validation: the model against published kernel measurements

Every row below is a measurement someone published (a patch's cover letter, a commit message, the
kernel test robot, a benchmark's issue tracker), the model's prediction for it, and the error. The
measurements are data, in `orchestrator/validation/published.yaml` (shipped in the wheel); one
command reruns them all after a model change and rewrites this page:

```sh
orch validate --backend local --workers 2 --out /tmp/validation \\
    --card docs/validation.md --results orchestrator/validation/results.json
```

`--out` keeps every run, so an interrupted validation resumes and a second one recomputes nothing;
`orch validate --from-results orchestrator/validation/results.json --card docs/validation.md`
rewrites this page from the results without running anything (after a reason was added to the
table, say). `orch topology validate` is another command: it only checks topology files.

How each row runs: the model simulates the row's machine (a topology preset built from the
machine's public description), kernel release, workload, lock design and copies, with every
parameter at its default (or a calibration profile's fit with `--profile`, on rows whose machine
has the profile's shape). A `change` row runs both sides (two releases, or two designs) with the
same seeds and the same samples, and reports 100 x (B / A - 1) of their mean throughputs. The
band is the lowest and highest value over the nominal run and a Latin hypercube of samples over
every uncertain parameter's plausible range (`orch params`; `orch docs calibration`): what the model
predicts when nothing is fitted to the machine. Where a profile applies, its fitted parameters take
its ensemble's values instead (sample i the member i mod n) and the others keep their ranges, and
rows on machines of another shape run with the defaults (the run's notes, below, name them). A row
is inside when the measurement lies in its band (for a bound such as "over 400%", when the band
reaches it). `fit` rows are what calibration may use; the summary counts `check` rows only, which
the model has to predict.
"""

FORMATS = """\
## A table of your own

A table is YAML in the shipped one's format; `orch validate mine.yaml` runs it (`orch validate
published mine.yaml` both), `--only ID` one row. A malformed row is one line naming the table, the
row and the field (exit 2).

```yaml
version: 1
run: {duration_ms: 20, warmup_ms: 5, seeds: [1, 2], samples: 8}   # defaults for every row
rows:
  - id: my-box-execl-64              # unique; names the row's partition of --out
    source: https://example.org/...  # a URL or a lore Message-ID
    quote: "table 2, row 64: 12,345 lps"
    machine: my-box.yaml             # topology preset or file (relative to the table)
    kernel: "6.12"                   # or two, ["6.10", "6.11"], for a release A/B (quoted!)
    workload: execl                  # preset or file; overrides: {exec_ns: 140000}
    strategy: single                 # or two, [single, split-node], for a design A/B
    copies: 64
    metric: throughput               # or change (percent, B against A)
    unit: UnixBench execl index      # a throughput row's unit ...
    divisor: 4.3                     # ... the model's iterations/s divided by this
    measured: 12345
    role: check                      # fit: calibration may use it; check: only predicted
    # optional: set: [kernel.hz=1000], placement, bound: lower | upper, duration_ms, warmup_ms,
    # notes, missed_because (why the model misses it: filled by a person after a run)
```

## `orch validate --json`

One object: `rows`, one per row run, `{id, source, role, metric, measured, model, low, high,
error, inside}` (`change` values in percent, e.g. 11.1; `error` is model / measured - 1 for a
throughput row and model - measured in percentage points for a change row; `model`, `low`,
`high` and `error` are null when the row's runs failed), and `summary` over the `check` rows,
`{rows, inside, median_abs_error, sign_agreement, median_abs_pp_error}`: the rows inside their
band, the median absolute error of throughput rows (a share: 0.25 is 25%), how many change rows
have the measured sign (a count), and their median absolute error in percentage points.
"""


def measured_text(row: Row, value: float) -> str:
    if row.metric == "change":
        text = f"{value:+.1f}%"
    else:
        text = f"{value:,.1f}" if value < 10_000 else f"{value:,.0f}"
    return {"lower": "> ", "upper": "< ", None: ""}[row.bound] + text


def model_text(row: Row, value: float | None) -> str:
    if value is None:
        return "failed"
    return f"{value:+.1f}%" if row.metric == "change" else (f"{value:,.1f}" if value < 10_000 else f"{value:,.0f}")


def error_text(row: Row, error: float | None) -> str:
    if error is None:
        return "-"
    return f"{error:+.1f} pp" if row.metric == "change" else f"{100 * error:+.0f}%"


def band_text(row: Row, low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "-"
    return f"{model_text(row, low)} .. {model_text(row, high)}"


def design(row: Row) -> str:
    kernel = " → ".join(row.releases)
    strategy = " → ".join(row.strategies)
    workload = row.workload + ("".join(f", {k}={v}" for k, v in row.overrides.items()))
    return f"{row.machine} | {kernel} | {workload} | {strategy} | {row.copies}"


def summary_lines(results: dict) -> list[str]:
    s = results["summary"]
    rows = results["rows"]
    checks = [r for r in rows if r["role"] == "check"]
    throughput = sum(r["metric"] == "throughput" for r in checks)
    changes = sum(r["metric"] == "change" for r in checks)
    fits = [r for r in rows if r["role"] == "fit"]
    mae = "-" if s["median_abs_error"] is None else f"{100 * s['median_abs_error']:.0f}%"
    pp = "-" if s["median_abs_pp_error"] is None else f"{s['median_abs_pp_error']:.1f} pp"
    return [f"- `check` rows: {s['rows']}, {s['inside']} inside their band.",
            f"- throughput rows ({throughput}): median absolute error {mae}.",
            f"- change rows ({changes}): {s['sign_agreement']} of {changes} with the measured sign; median "
            f"absolute error {pp}.",
            f"- `fit` rows (not counted above): {len(fits)}, {sum(r['inside'] for r in fits)} inside their band."]


def settings_lines(results: dict) -> list[str]:
    lines = [f"- model version {results['model_version']}; backend {results['backend']}, {results['workers']} "
             f"worker(s) on a machine of {results['cpus']} CPUs; profile: {results['profile'] or 'none (defaults)'}."]
    for table in results["tables"]:
        run = table["run"]
        lines.append(f"- table `{table['ref']}`: {run['duration_ms']:g} ms measured after {run['warmup_ms']:g} ms "
                     f"of warm-up per run (unless a row says otherwise, below), seeds {run['seeds']}, "
                     f"{run['samples']} Latin-hypercube samples per row.")
    runs = results["runs"]
    lines.append(f"- wall time {results['wall_s']:,.0f} s for {runs['computed']} runs computed "
                 f"({runs['reused']} found in --out).")
    lines += [f"- note: {note}" for note in results["notes"]]
    return lines


def render(results: dict, tables: list[Table]) -> str:
    rows = {row.id: row for table in tables for row in table.rows}
    out = [GENERATED, "", INTRO, "## Summary", "", *summary_lines(results), "", "How it ran:", "",
           *settings_lines(results), "", "## The rows", "",
           "| row | role | machine | kernel | workload | design | copies | measured | model | band | error "
           "| inside |", "|" + "---|" * 12]
    for found in results["rows"]:
        row = rows[found["id"]]
        out.append(f"| {row.id} | {row.role} | {design(row)} | {measured_text(row, found['measured'])} | "
                   f"{model_text(row, found['model'])} | {band_text(row, found['low'], found['high'])} | "
                   f"{error_text(row, found['error'])} | {'yes' if found['inside'] else '**no**'} |")
    out += ["", "Throughput rows are in the unit of their source (below); change rows in percent, B against A "
                "(→).", "", "## The rows the model misses", ""]
    missed = [found for found in results["rows"] if not found["inside"]]
    for found in missed:
        row = rows[found["id"]]
        reason = row.missed_because or "not explained yet: the reason goes into the row's `missed_because`."
        out.append(f"- **{row.id}** (measured {measured_text(row, found['measured'])}, model "
                   f"{model_text(row, found['model'])}): {reason}")
    if not missed:
        out.append("None.")
    out += ["", "## Sources", ""]
    for found in results["rows"]:
        row = rows[found["id"]]
        unit = "" if row.metric == "change" else f" Unit: {row.unit}" + (
            f" (the model's iterations/s divided by {row.divisor:g})." if row.divisor != 1 else ".")
        duration = (f" Runs {row.duration_ms:g} ms." if row.duration_ms else "")
        notes = f" {row.notes}" if row.notes else ""
        out.append(f"- **{row.id}**: {link(row.source)}; {row.quote}.{unit}{duration}{notes}")
    out += ["", FORMATS]
    return "\n".join(out).rstrip("\n") + "\n"


def link(source: str) -> str:
    if source.startswith(("http://", "https://")):
        return f"<{source}>"
    return f"Message-ID `<{source.strip('<>')}>` (<https://lore.kernel.org/r/{source.strip('<>')}>)"
