"""The repository stands alone: no file points at documents outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# the team's design notes live beside the repository, not in it; spelled in pieces so that this
# file does not match itself
OUTSIDE = re.compile("|".join([r"\.\./" + "shared", "CALIBRATION" + r"\.md", "DESIGN" + r"\.md",
                               r"\bDESIGN [0-9]"]))


def tracked_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [REPO / name for name in names.splitlines()]


def test_no_file_refers_to_documents_outside_the_repository():
    hits = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue  # binary files, and files deleted but not yet committed
        hits += [f"{path.relative_to(REPO)}:{n}" for n, line in enumerate(text.splitlines(), 1)
                 if OUTSIDE.search(line)]
    assert not hits, hits[:20]


def test_the_check_finds_a_reference():
    assert OUTSIDE.search("see ../" + "shared/" + "DESIGN" + ".md 4.3")
    assert OUTSIDE.search("(" + "DESIGN" + " 4.6)") and not OUTSIDE.search("DESIGNS = [...]")
