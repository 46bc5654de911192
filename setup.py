"""The wheel carries the data folders that live at the top of the repository inside the
package, as orchestrator/_presets/<folder>, where orchestrator.presets finds them when no
checkout surrounds the package: the presets (topologies/, workloads/), every study's sweep
specs (reports/NAME/*.yaml, not the reports generated from them) and the docs (docs/*.md, for
orch docs); the C source of orch measure's execl benchmark, compiled on the user's machine;
and orch validate's table of published measurements with the results its model card is written
from. Everything else is in pyproject.toml."""

from pathlib import Path

from setuptools import find_packages, setup

# folder -> the files of it the wheel carries (orchestrator.presets.data_files lists the same)
STUDIES = sorted(path.parent.as_posix() for path in Path("reports").glob("*/sweep.yaml"))
FOLDERS = {"topologies": "*.yaml", "workloads": "*.yaml", "docs": "*.md", **{study: "*.yaml" for study in STUDIES}}
DATA = {"orchestrator._presets." + folder.replace("/", "."): folder for folder in FOLDERS}

setup(
    packages=find_packages(include=["orchestrator*"]) + list(DATA),
    package_dir=DATA,
    package_data={**{package: [FOLDERS[folder]] for package, folder in DATA.items()}, "orchestrator.measure": ["*.c"],
                  "orchestrator.validation": ["*.yaml", "*.json"]},
)
