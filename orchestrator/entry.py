"""The `orch` console script. Its first lines take SIGINT and SIGTERM, before the seconds spent
importing Typer, pydantic, pyarrow and numpy: a signal then only notes itself, and orch ends
with one line once the imports are done (nothing is written before), instead of an import
traceback from wherever the signal landed. The long commands then take the signals again
(runners/stopping.py) and stop at their safe points."""

import signal
import sys

_EARLY = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []


def _while_importing(signum: int, frame) -> None:
    _received.append(signum)


def main() -> None:
    previous = {signum: signal.getsignal(signum) for signum in _EARLY}
    for signum, handler in previous.items():
        if handler != signal.SIG_IGN:  # a script's background job ignores SIGINT: it stays so
            signal.signal(signum, _while_importing)
    from orchestrator.cli import main as run

    for signum, handler in previous.items():
        signal.signal(signum, handler)
    if _received:
        print("orch: interrupted", file=sys.stderr)
        sys.exit(128 + _received[0])
    run(sys.argv[1:])
