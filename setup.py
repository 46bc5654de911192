"""The wheel carries the preset folders that live at the top of the repository (topologies/,
workloads/, reports/quick/) inside the package, as orchestrator/_presets/<folder>, where
orchestrator.presets finds them when no checkout surrounds the package; and the C source of
orch measure's execl benchmark, compiled on the user's machine; and orch validate's table of
published measurements with the results its model card is written from. Everything else is in
pyproject.toml."""

from setuptools import find_packages, setup

FOLDERS = ["topologies", "workloads", "reports/quick"]  # orchestrator.presets.FOLDERS
DATA = {"orchestrator._presets." + folder.replace("/", "."): folder for folder in FOLDERS}

setup(
    packages=find_packages(include=["orchestrator*"]) + list(DATA),
    package_dir=DATA,
    package_data={**{package: ["*.yaml"] for package in DATA}, "orchestrator.measure": ["*.c"],
                  "orchestrator.validation": ["*.yaml", "*.json"]},
)
