"""The data orch ships: presets, studies and docs, found in a checkout or in an installed wheel.

A spec argument is a path, or the name of a YAML file in a preset folder; a sweep argument may
also name a shipped study (reports/NAME/sweep.yaml). These folders sit at the top of a checkout;
a wheel carries them inside the package as orchestrator/_presets/ (setup.py puts them there), so
both installs resolve the same names.
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.errors import UserError

FOLDERS = ("topologies", "workloads")  # preset kinds: a name is a YAML file in one of them
STUDIES = "reports"  # one folder per study: its sweep.yaml, follow-up sweep specs, the report made
DOCS = "docs"
_PACKAGE = Path(__file__).resolve().parent
_WHEEL = _PACKAGE / "_presets"
ROOT = _WHEEL if _WHEEL.is_dir() else _PACKAGE.parent  # the folder that holds the preset folders


def preset_files() -> dict[str, Path]:
    """Every file orch's wheel carries as data (setup.py's list), by its place in the wheel."""
    patterns = {**{folder: "*.yaml" for folder in FOLDERS}, DOCS: "*.md",
                **{f"{STUDIES}/{study}": "*.yaml" for study in study_names()}}
    return {f"orchestrator/_presets/{folder}/{path.name}": path
            for folder, pattern in patterns.items() for path in sorted((ROOT / folder).glob(pattern))}


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


def study_names() -> list[str]:
    """The shipped studies: each folder of reports/ that holds a sweep.yaml."""
    return sorted(path.parent.name for path in (ROOT / STUDIES).glob("*/sweep.yaml"))


def study_specs() -> list[str]:
    """What `orch sweep NAME` accepts: each study, then its follow-up specs as STUDY/SPEC."""
    follow_ups = [f"{study}/{path.stem}" for study in study_names()
                  for path in sorted((ROOT / STUDIES / study).glob("*.yaml")) if path.name != "sweep.yaml"]
    return [*study_names(), *follow_ups]


def sweep_spec(ref: str) -> str:
    """A sweep argument as a file to read: a path as given (or "-"), a study's name as its
    sweep.yaml. A relative path that does not exist may name a study's follow-up spec
    (i_mmap-split/uncertainty-execl), which a wheel carries as no checkout path does."""
    if is_path(ref):
        follow_up = ref.removesuffix(".yaml")
        if follow_up in study_specs() and not Path(ref).exists():
            return str(ROOT / STUDIES / f"{follow_up}.yaml")
        return ref
    candidate = ROOT / STUDIES / ref / "sweep.yaml"
    if candidate.is_file():
        return str(candidate)
    raise UserError(ref, None, f"no such file, and no shipped study of that name "
                               f"(studies: {', '.join(study_specs()) or 'none'})")


def doc_pages() -> dict[str, Path]:
    """The docs orch ships, by name (docs/NAME.md)."""
    return {path.stem: path for path in sorted((ROOT / DOCS).glob("*.md"))}
