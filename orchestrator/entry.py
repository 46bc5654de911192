"""The `orch` console script. Its first lines take SIGINT and SIGTERM, before the seconds spent
importing Typer, pydantic, pyarrow and numpy: a Ctrl-C then ends orch with one line instead of
an import traceback. Nothing is written while importing, so ending at once loses nothing. Once
the command is imported the usual handlers return: the long commands take the signals again
(runners/stopping.py) and stop at their safe points."""

import os
import signal
import sys

_EARLY = (signal.SIGINT, signal.SIGTERM)


def _while_importing(signum: int, frame) -> None:
    os.write(2, b"orch: interrupted\n")
    os._exit(128 + signum)


def main() -> None:
    previous = {signum: signal.getsignal(signum) for signum in _EARLY}
    for signum, handler in previous.items():
        if handler != signal.SIG_IGN:  # a script's background job ignores SIGINT: it stays so
            signal.signal(signum, _while_importing)
    from orchestrator.cli import main as run

    for signum, handler in previous.items():
        signal.signal(signum, handler)
    run(sys.argv[1:])
