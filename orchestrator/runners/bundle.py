"""What a cluster needs from this machine to run a sweep: orch and the plugin strategies
installed here, each as a wheel, and the local files a spec names.

The wheels go in the job's working directory; Ray's `pip` runtime environment installs them,
without their dependencies (the nodes have those), into a virtualenv on top of each node's
Python. A wheel is packed from what is imported here, so an editable checkout and an
installed wheel ship the same thing. Wheels are byte-for-byte reproducible and sit in a
folder named by their hash: Ray reuses a node's virtualenv until the code changes.
"""

from __future__ import annotations

import base64
import email.message
import hashlib
import importlib.util
import io
import re
import shutil
import zipfile
from importlib.metadata import Distribution, distribution, entry_points
from pathlib import Path
from typing import cast

import yaml

from orchestrator.presets import is_path, preset_files
from orchestrator.spec import SweepSpec
from orchestrator.strategies import GROUP

SPEC = "sweep.yaml"  # the spec's name in the working directory


def runtime_env(folder: Path) -> dict:
    """Put the wheels into `folder` and return a runtime environment that ships and installs them."""
    dists = [distribution("orchestrator"), *plugins()]
    wheels = [write_wheel(dist, folder / "wheels") for dist in dists]
    return {"working_dir": str(folder),
            "pip": {"packages": ["${RAY_RUNTIME_ENV_CREATE_WORKING_DIR}/" + str(w.relative_to(folder))
                                 for w in wheels],
                    "pip_install_options": ["--no-deps", "--disable-pip-version-check", "--no-cache-dir"]}}


def bundle_spec(spec: SweepSpec, folder: Path) -> Path:
    """Copy the local files `spec` names into `folder` and write the spec there, naming the copies."""
    moved: dict[str, str] = {}
    for ref in [*spec.topologies, *(w.file for w in spec.workloads)]:
        if is_path(ref) and ref not in moved:
            moved[ref] = f"files/{len(moved)}/{Path(ref).name}"
            (folder / moved[ref]).parent.mkdir(parents=True)
            shutil.copyfile(ref, folder / moved[ref])
    data = spec.model_dump(mode="json", exclude_unset=True)
    data["topologies"] = [moved.get(ref, ref) for ref in data["topologies"]]
    for workload in data["workloads"]:
        workload["file"] = moved.get(workload["file"], workload["file"])
    (folder / SPEC).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder / SPEC


def plugins() -> list[Distribution]:
    """The installed distributions other than orch that add strategies."""
    found = {ep.dist.name: ep.dist for ep in entry_points(group=GROUP) if ep.dist is not None}
    found.pop("orchestrator", None)
    return list(found.values())


def write_wheel(dist: Distribution, folder: Path) -> Path:
    """A wheel of an installed distribution: the top-level packages its entry points name (for
    orch, with its presets), its metadata and entry points."""
    files: dict[str, Path] = {}
    for module in sorted({ep.module.split(".")[0] for ep in dist.entry_points}):
        files.update(_module_files(module))
    if dist.name == "orchestrator":
        files.update(preset_files())  # in a checkout they live beside the package
    name = re.sub(r"[-_.]+", "_", dist.name).lower()
    info = f"{name}-{dist.version}.dist-info"
    contents = {arc: path.read_bytes() for arc, path in sorted(files.items())}
    metadata = cast(email.message.Message, dist.metadata)  # what PackageMetadata is at run time
    contents[f"{info}/METADATA"] = metadata.as_string().encode()  # also from a checkout's egg-info
    declared = dist.read_text("entry_points.txt")
    assert declared is not None  # every distribution bundled was found by its entry points
    contents[f"{info}/entry_points.txt"] = declared.encode()
    contents[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: orch\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = [f"{arc},sha256={_digest(data)},{len(data)}" for arc, data in contents.items()]
    contents[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,", ""]).encode()
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as wheel:
        for arc, data in contents.items():
            entry = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))  # no timestamps: same code, same bytes
            entry.external_attr = 0o644 << 16
            wheel.writestr(entry, data, zipfile.ZIP_DEFLATED)
    path = folder / hashlib.sha256(packed.getvalue()).hexdigest()[:16] / f"{name}-{dist.version}-py3-none-any.whl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(packed.getvalue())
    return path


def _module_files(module: str) -> dict[str, Path]:
    """The files of an importable top-level module or package, by their path in a wheel."""
    spec = importlib.util.find_spec(module)
    assert spec is not None, module  # an entry point names it
    if not spec.submodule_search_locations:
        assert spec.origin is not None, module  # a module, not a namespace package: its file
        return {Path(spec.origin).name: Path(spec.origin)}
    files = {}
    for root in map(Path, spec.submodule_search_locations):
        for path in root.rglob("*"):
            arc = path.relative_to(root.parent)
            if path.is_file() and "__pycache__" not in arc.parts:
                files[arc.as_posix()] = path
    return files


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
