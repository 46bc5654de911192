"""orch as a user gets it from a wheel: built once per test session, installed into fresh venvs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def build_wheel(out: Path, source: Path = REPO) -> Path:
    """The wheel of the project in `source` (default: orch), built in `out`."""
    if source == REPO:  # from a copy: setuptools reuses a checkout's build/ folder, with any stale files
        source = out / "source"
        files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                               check=True, capture_output=True, text=True).stdout.splitlines()
        for name in files:
            if (REPO / name).is_file():  # not a file deleted but not yet committed
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
                   check=True, capture_output=True)
    return next(out.glob("*.whl"))


def fresh_venv(path: Path, *wheels: Path) -> Path:
    """A new venv holding `wheels`, without orch's source tree; returns its bin folder.

    orch's third-party dependencies come from the test venv through a .pth file (reinstalling
    Ray and the rest would take minutes); orch itself, its presets and its entry points come
    from the wheel only.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "orch-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    if wheels:
        subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                        *map(str, wheels)], check=True, capture_output=True)
    return path / "bin"
