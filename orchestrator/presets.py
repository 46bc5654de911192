"""Preset lookup: a spec argument is a path, or the name of a YAML file in the repo's preset folders."""

from __future__ import annotations

from pathlib import Path

from orchestrator.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent


def preset_names(kind: str) -> list[str]:
    return sorted(p.stem for p in (REPO_ROOT / kind).glob("*.yaml"))


def is_path(ref: str) -> bool:
    """A reference that names a file rather than a preset."""
    if "/" in ref or ref.endswith((".yaml", ".yml")) or ref == "-":
        return True
    try:
        return Path(ref).exists()
    except OSError:  # e.g. a name too long for the file system: reading it will say so
        return True


def resolve(kind: str, ref: str) -> Path:
    """`kind` is the preset folder ("topologies", "workloads"); `ref` a path or a preset name."""
    path = Path(ref)
    if is_path(ref):
        return path
    candidate = REPO_ROOT / kind / f"{ref}.yaml"
    if candidate.exists():
        return candidate
    raise UserError(ref, None, f"no such file, and no preset of that name in {kind}/ "
                               f"(presets: {', '.join(preset_names(kind)) or 'none'})")
