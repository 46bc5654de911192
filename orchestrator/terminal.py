"""Terminal output. Labels, names, descriptions and paths come from the user and are printed
literally: with markup off, "[/bold]" or "[link=file:///etc/passwd]" in a label is just text."""

from __future__ import annotations

from rich.console import Console


def console(min_width: int | None = None, stderr: bool = False) -> Console:
    """A console that renders no markup or :emoji: codes; at least min_width columns wide."""
    width = max(Console().width, min_width) if min_width else None
    return Console(width=width, stderr=stderr, markup=False, emoji=False)
