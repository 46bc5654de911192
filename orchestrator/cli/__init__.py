"""The `orch` command line: one module per verb group, errors as one line with exit code 2."""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version

import typer

from orchestrator import compat
from orchestrator.cli import (
    calibrate,
    catalog,
    compact,
    docs,
    jobs,
    measure,
    params,
    report,
    run,
    schema,
    sweep,
    topology,
    validate,
)
from orchestrator.errors import RunCrashed, UserError, error_line
from orchestrator.spec.run import MODEL_VERSION

app = typer.Typer(
    name="orch",
    help="Simulate i_mmap lock designs across machine shapes, at sweep scale.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # subcommands inherit it
)

compat.hide_flag_types()
click_errors = compat.click_exceptions()


def _version(shown: bool) -> None:
    if shown:
        try:
            number = version("orchestrator")
        except PackageNotFoundError:  # run from a checkout that was never installed
            number = "unknown"
        print(f"orch {number} (model version {MODEL_VERSION})")
        raise typer.Exit()


@app.callback()
def _options(_: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                    help="print orch's version and the model version, and exit")) -> None:
    """Simulate i_mmap lock designs across machine shapes, at sweep scale."""
app.add_typer(topology.app, name="topology")
app.command("sweep")(sweep.sweep)
app.command("report")(report.report)
app.command("compact")(compact.compact)
app.command("submit")(jobs.submit)
app.add_typer(jobs.app, name="jobs")
app.command("run")(run.run)
app.command("strategies")(catalog.strategies)
app.command("workloads")(catalog.workloads)
app.command("schema")(schema.schema)
app.command("params")(params.params)
app.command("measure")(measure.measure)
app.command("calibrate")(calibrate.calibrate)
app.command("docs")(docs.docs)
app.command("validate")(validate.validate)


def fail(message: str, code: int = 2) -> int:
    print(error_line(message), file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, prog_name="orch", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "")
        code = 0
    except click_errors.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "orch"
        code = fail(f"{where}: {exc.format_message()} (see '{where} --help')")
    except click_errors.ClickException as exc:
        code = fail(exc.format_message(), exc.exit_code)
    except UserError as exc:
        code = fail(str(exc))
    except RunCrashed as exc:
        code = fail(str(exc), 1)
    except (KeyboardInterrupt, typer.Abort):
        print("orch: interrupted", file=sys.stderr)
        code = 130
    except Exception as exc:  # a bug in orch, not the user's fault
        if os.environ.get("ORCH_DEBUG"):
            raise
        code = fail(f"internal error: {type(exc).__name__}: {exc} (ORCH_DEBUG=1 shows the traceback)", 1)
    sys.exit(code if isinstance(code, int) else 0)
