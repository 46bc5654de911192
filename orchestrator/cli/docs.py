"""`orch docs [NAME]`: the docs that ship with orch, readable wherever orch is installed."""

from __future__ import annotations

import sys

import typer

from orchestrator import terminal
from orchestrator.errors import UserError
from orchestrator.presets import doc_pages


def docs(name: str | None = typer.Argument(None, help="a page (orch docs lists them); .md may be left on")) -> None:
    """List the docs with their titles, or print one page."""
    pages = doc_pages()
    if name is None:
        width = max(map(len, pages), default=0)
        for page_name, path in pages.items():
            print(f"{page_name.ljust(width)}  {title(path.read_text(encoding='utf-8'))}")
        print("\norch docs NAME prints a page.")
        return
    page = pages.get(name.removesuffix(".md"))
    if page is None:
        raise UserError(name, None, f"no such page (pages: {', '.join(pages) or 'none'})")
    text = page.read_text(encoding="utf-8")
    if sys.stdout.isatty():  # rendered for a reader; piped or redirected, the Markdown as written
        from rich.markdown import Markdown

        terminal.console().print(Markdown(text))
    else:
        print(text, end="")


def title(text: str) -> str:
    """A page's title: its first heading's text."""
    first = next((line for line in text.splitlines() if line.startswith("#")), "")
    return first.lstrip("#").strip()
