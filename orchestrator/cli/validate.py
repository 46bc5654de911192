"""`orch validate`: the model against published kernel measurements, row by row (docs/validation.md).
Not `orch topology validate`, which only checks topology files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table as RichTable

from orchestrator import terminal
from orchestrator.cli.options import Backend, check_backend
from orchestrator.errors import UserError, one_line
from orchestrator.fileio import write_text_atomic
from orchestrator.spec.base import MAX_SAMPLES
from orchestrator.validation.card import band_text, error_text, measured_text, model_text, render
from orchestrator.validation.table import SHIPPED_NAME, Row, Table, load_table, row_source


def validate(
    tables: list[str] = typer.Argument(None, metavar="[TABLE ...]", show_default=False,
                                       help=f"validation tables (YAML) to run; {SHIPPED_NAME!r} names the one "
                                            "shipped with orch, the default"),
    only: list[str] = typer.Option([], "--only", metavar="ID", help="run this row only (repeatable)"),
    profile: str | None = typer.Option(None, "--profile", help="a calibration profile (orch calibrate): its fit "
                                       "and ensemble apply to rows whose machine has the shape it was fitted on; "
                                       "the others run with the defaults"),
    samples: int | None = typer.Option(None, "--samples", min=0, max=MAX_SAMPLES, help="Latin-hypercube "
                                       "samples per row over every uncertain parameter's plausible range (orch "
                                       "params), whose values bound the band (default: the table's, 8 in the "
                                       "shipped one; 0: the nominal runs only)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object: rows and summary"),
    out: str | None = typer.Option(None, "--out", help="dataset path or URI that keeps every run, so that a "
                                   "second validation resumes (default: a temporary one)"),
    card: Path | None = typer.Option(None, "--card", help="write the model card (markdown) here"),
    results_file: Path | None = typer.Option(None, "--results", help="write the results (JSON) here; with "
                                             "--card and without this, beside the card as .json"),
    from_results: Path | None = typer.Option(None, "--from-results", help="run nothing: print and write the "
                                             "card from a results file written before (the tables are read "
                                             "again, for the reasons given for each miss)"),
    backend: Backend = typer.Option(Backend.ray, "--backend", help="ray (embedded or --address) or local"),
    address: str | None = typer.Option(None, "--address", help="an existing Ray cluster, HEAD:6379 or auto "
                                       "(default: an embedded one)"),
    workers: int | None = typer.Option(None, "--workers", min=1, help="runs in parallel: embedded Ray's CPUs "
                                       "(default 2), or local worker processes (default 1: in orch's own process)"),
) -> None:
    """Run the model for every row of a table of published measurements and print each measured
    value beside the model's, its uncertainty band and the error. This checks the model; `orch
    topology validate` only checks topology files."""
    if from_results is not None:
        results = read_results(from_results)
        loaded = [load_table(ref) for ref in tables or [t["ref"] for t in results["tables"]]]
    else:
        loaded = [load_table(ref) for ref in tables or [SHIPPED_NAME]]
        check_backend(backend, address)
        results = run(loaded, chosen(loaded, only), samples, profile, backend.value, workers, address, out)
        target = results_file or (card.with_suffix(".json") if card is not None else None)
        if target is not None:
            write(target, json.dumps(results, indent=1, allow_nan=False) + "\n", "--results")
    known = {row.id for table in loaded for row in table.rows}
    try:
        for found in results["rows"]:
            if found["id"] not in known:
                raise UserError(str(from_results), "rows", f"row {found['id']} is in none of the tables")
        text = render(results, loaded)  # reads every field: a results file that lacks one fails before any output
    except (KeyError, TypeError) as exc:
        if from_results is None:
            raise
        raise UserError(str(from_results), "--from-results", f"not a results file of this orch (no field {exc})"
                        ) from None
    show(results, loaded, as_json)
    if card is not None:
        write(card, text, "--card")
    if any(row["model"] is None for row in results["rows"]):
        raise typer.Exit(1)


def chosen(tables: list[Table], only: list[str]) -> list[tuple[Table, Row]]:
    """Every row of the tables, or those --only names; an id must name one row."""
    rows: dict[str, tuple[Table, Row]] = {}
    for table in tables:
        for row in table.rows:
            if row.id in rows:
                raise UserError(row_source(table.ref, row.id), "id", f"also a row of {rows[row.id][0].ref}")
            rows[row.id] = (table, row)
    for wanted in only:
        if wanted not in rows:
            raise UserError("--only", wanted, f"no row with that id (rows: {', '.join(rows)})")
    return [pair for row_id, pair in rows.items() if not only or row_id in only]


def run(tables: list[Table], rows: list[tuple[Table, Row]], samples: int | None, profile: str | None,
        backend: str, workers: int | None, address: str | None, out: str | None) -> dict:
    from orchestrator.runners import stopping
    from orchestrator.validation.runner import Options, validate_rows  # the engine: only for a run

    options = Options(samples, profile, backend, workers, address, out)
    with stopping.handling():  # SIGINT, SIGTERM: finished runs kept in --out, exit 130 or 143
        try:
            done = validate_rows(tables, rows, options, terminal.console(stderr=True))
        except KeyboardInterrupt:
            done = None
        if done is None or done.interrupted or stopping.received is not None:
            kept = f": finished runs kept in {out}" if out else ""
            print(f"orch: interrupted{kept}", file=sys.stderr)
            raise typer.Exit(stopping.exit_code())
    for note in done.notes:
        print(f"orch: note: {note}", file=sys.stderr)
    for outcome in done.outcomes:
        for error in outcome.errors[:1]:
            print(f"orch: failed: row {outcome.row.id}: {one_line(error)}", file=sys.stderr)
    return done.results()


def show(results: dict, tables: list[Table], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"rows": results["rows"], "summary": results["summary"]}, allow_nan=False))
        return
    rows = {row.id: row for table in tables for row in table.rows}
    console = terminal.console(120)
    grid = RichTable(title="the model against published measurements (throughput in each row's unit, change "
                           "in %; band: lowest to highest over the samples)", title_justify="left")
    for column in ("row", "role", "measured", "model", "band", "error", "inside"):
        grid.add_column(column, justify="left" if column in ("row", "role", "band") else "right")
    for found in results["rows"]:
        row = rows[found["id"]]
        grid.add_row(row.id, row.role, measured_text(row, found["measured"]), model_text(row, found["model"]),
                     band_text(row, found["low"], found["high"]), error_text(row, found["error"]),
                     "yes" if found["inside"] else "no")
    console.print(grid)
    s = results["summary"]
    mae = "-" if s["median_abs_error"] is None else f"{100 * s['median_abs_error']:.0f}%"
    pp = "-" if s["median_abs_pp_error"] is None else f"{s['median_abs_pp_error']:.1f} pp"
    changes = sum(r["role"] == "check" and r["metric"] == "change" for r in results["rows"])
    console.print(f"check rows: {s['rows']}, {s['inside']} inside their band; throughput rows: median absolute "
                  f"error {mae}; change rows: {s['sign_agreement']} of {changes} with the measured sign, median "
                  f"absolute error {pp}", highlight=False)


def read_results(path: Path) -> dict:
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(str(path), "--from-results", f"cannot read: {getattr(exc, 'strerror', None) or exc}"
                        ) from None
    except json.JSONDecodeError as exc:
        raise UserError(str(path), "--from-results", f"not JSON: {exc}") from None
    if not isinstance(results, dict) or not {"rows", "summary", "tables"} <= set(results):
        raise UserError(str(path), "--from-results", "not a results file of orch validate")
    return results


def write(path: Path, text: str, option: str) -> None:
    try:
        write_text_atomic(path, text)
    except OSError as exc:
        raise UserError(str(path), option, f"cannot write: {exc.strerror or exc}") from None
