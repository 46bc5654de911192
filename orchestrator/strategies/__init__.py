"""Strategy registry: designs installed under the entry point group `orch.strategies`."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from orchestrator.errors import UserError
from orchestrator.strategies.base import Strategy

GROUP = "orch.strategies"
_registered: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Add a design without packaging it (tests, notebooks)."""
    _registered[cls.name] = cls
    return cls


@cache
def _installed() -> dict[str, type[Strategy]]:
    found = {}
    for ep in entry_points(group=GROUP):
        cls = ep.load()
        found[cls.name] = cls
    return found


def available() -> dict[str, type[Strategy]]:
    return dict(sorted({**_installed(), **_registered}.items()))


def get(name: str, source: str = "strategy") -> type[Strategy]:
    designs = available()
    if name not in designs:
        raise UserError(source, "name", f"unknown strategy {name!r} (installed: {', '.join(designs) or 'none'})")
    return designs[name]
