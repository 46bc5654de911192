"""What several commands' flags share: the backend and layout choices and the parsers of their values."""

from __future__ import annotations

import math
import os
import sys
from contextlib import contextmanager
from enum import Enum
from typing import Callable, Iterator

import typer

from orchestrator.errors import UserError
from orchestrator.runners import stopping
from orchestrator.spec.base import MAX_CPUS


class Backend(str, Enum):
    ray = "ray"
    local = "local"


class Layout(str, Enum):
    task = "task"
    actors = "actors"


def check_backend(backend: Backend, address: str | None, layout: Layout = Layout.task) -> None:
    """Flags that need Ray refused without it, and a Ray head at --address reached, before any
    progress bar: an absent head is one line."""
    if backend == Backend.local and (address or layout == Layout.actors):
        raise typer.BadParameter("--address and --layout actors need --backend ray", param_hint="--backend")
    if address not in (None, "auto") and not os.environ.get("RAY_JOB_ID"):
        from orchestrator.runners.ray_cluster import check_head

        check_head(address)


def parse_copies(text: str, option: str, most: int = MAX_CPUS) -> list[int]:
    """'1,2,4' -> [1, 2, 4]: positive whole numbers, at most `most` (a typo's extra zeros must not
    fork-bomb a host or build a machine of millions of CPUs)."""
    words = [w.strip() for w in text.split(",")]
    if not all(w.isascii() and w.isdigit() and int(w) > 0 for w in words):
        raise UserError(option, text, "expected copy counts like 1,2,4 (positive whole numbers)")
    if max(int(w) for w in words) > most:
        raise UserError(option, text, f"at most {most} copies")
    return [int(w) for w in words]


def parse_share(text: str | None) -> float | None:
    """'2%' or '0.02' -> 0.02."""
    if text is None:
        return None
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a share like 2% or 0.02", param_hint="--target-ci") from None
    if not 0 < value < 1:
        raise typer.BadParameter("must be between 0% and 100%", param_hint="--target-ci")
    return value


def number(low: float | None = None, high: float | None = None) -> Callable[[str], float]:
    """The parser of a float flag: a finite number within [low, high]. Typer's own range check
    lets nan through its comparisons and then names the wrong bound."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise typer.BadParameter(f"must be a finite number, got {text}")
        if low is not None and value < low:
            raise typer.BadParameter(f"must be at least {low:g}, got {text}")
        if high is not None and value > high:
            raise typer.BadParameter(f"must be at most {high:g}, got {text}")
        return value
    return parse


@contextmanager
def stops_said(kept: Callable[[], str]) -> Iterator[None]:
    """SIGINT and SIGTERM noted inside the block (runners/stopping.py): the work stops at its next
    safe point, and a stop that ends the block prints `orch: interrupted` and what was kept
    (kept(), read then) and exits 130 or 143."""
    with stopping.handling():
        try:
            yield
        except KeyboardInterrupt:
            print("orch: interrupted" + kept(), file=sys.stderr)
            raise typer.Exit(stopping.exit_code()) from None
