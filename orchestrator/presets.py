"""Preset lookup: a spec argument is a path, or the name of a YAML file in a preset folder.

The preset folders sit at the top of a checkout; a wheel carries them inside the package as
orchestrator/_presets/ (setup.py puts them there), so both installs resolve the same names.
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.errors import UserError

FOLDERS = ("topologies", "workloads", "reports/quick")
_PACKAGE = Path(__file__).resolve().parent
_WHEEL = _PACKAGE / "_presets"
ROOT = _WHEEL if _WHEEL.is_dir() else _PACKAGE.parent  # the folder that holds the preset folders


def preset_files() -> dict[str, Path]:
    """Every preset file, by its place in orch's wheel."""
    return {f"orchestrator/_presets/{folder}/{path.name}": path
            for folder in FOLDERS for path in sorted((ROOT / folder).glob("*.yaml"))}


def preset_names(kind: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / kind).glob("*.yaml"))


def is_path(ref: str) -> bool:
    """A reference that names a file rather than a preset."""
    if "/" in ref or ref.endswith((".yaml", ".yml")) or ref == "-":
        return True
    try:
        return Path(ref).exists()
    except OSError:  # e.g. a name too long for the file system: reading it will say so
        return True


def beside(folder: str, ref: str) -> str:
    """A file reference taken relative to folder (a spec's or a table's); preset names and absolute
    paths unchanged."""
    if "/" in ref or ref.endswith((".yaml", ".yml")) or os.path.exists(os.path.join(folder, ref)):
        return os.path.join(folder, ref)  # join keeps an absolute ref as it is
    return ref


def resolve(kind: str, ref: str) -> Path:
    """`kind` is the preset folder ("topologies", "workloads"); `ref` a path or a preset name."""
    path = Path(ref)
    if is_path(ref):
        return path
    candidate = ROOT / kind / f"{ref}.yaml"
    if candidate.exists():
        return candidate
    raise UserError(ref, None, f"no such file, and no preset of that name in {kind}/ "
                               f"(presets: {', '.join(preset_names(kind)) or 'none'})")
