"""The `orch` console script. Its first lines take SIGINT and SIGTERM (runners/stopping.py, which
imports only the standard library), before the seconds spent importing Typer, pydantic, pyarrow
and numpy: a signal then only notes itself, and orch ends with one line once the imports are
done (nothing is written before), instead of an import traceback from wherever the signal
landed. The long commands then take the signals again and stop at their safe points."""

import sys


def main() -> None:
    from orchestrator.runners import stopping

    with stopping.handling():  # a script's background job ignores SIGINT: it stays so
        from orchestrator.cli import main as run
    if stopping.received is not None:
        print("orch: interrupted", file=sys.stderr)
        sys.exit(stopping.exit_code())
    run(sys.argv[1:])
