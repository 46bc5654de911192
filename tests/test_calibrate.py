"""orch calibrate: a curve the model made is fitted back with a band that holds the truth; what the
curve cannot identify is said; any topology works on any backend; worker errors reach the user."""

from __future__ import annotations

import math
import os
import pickle
from dataclasses import replace

import numpy as np
import pytest
import yaml
from perfhelp import needs_perf

from orchestrator import calibrate
from orchestrator.calibrate import (
    DEFAULT_NOISE,
    SPIN_SHARE_NOISE,
    Problem,
    choose_params,
    fit,
    objective,
    read_curve,
)
from orchestrator.plan import compose_run, load_parts
from orchestrator.simulate import simulate
from orchestrator.spec.profile import load_profile

from faults import crashing_point, hand_to_workers, refusing_point

TOPOLOGY, WORKLOAD = "laptop-1n-8", "execl"   # 8 CPUs: a curve of short runs stays cheap
COPIES = (1, 2, 4, 6, 8)
SEEDS = (1, 2)
DURATION_MS, WARMUP_MS = 6.0, 1.0
NOISE = (1.02, 0.98, 1.01, 0.99, 1.0)
TRUE_EXEC_NS = 200_000

# numactl --hardware of a small 2-node SMT box: 8 cores, 16 threads (siblings n and n + 8)
NUMACTL = """available: 2 nodes (0-1)
node 0 cpus: 0 1 2 3 8 9 10 11
node 0 size: 15000 MB
node 0 free: 14000 MB
node 1 cpus: 4 5 6 7 12 13 14 15
node 1 size: 15000 MB
node 1 free: 14000 MB
node distances:
node   0   1
  0:  10  21
  1:  21  10
"""


def model_curve(exec_ns: int, noise=NOISE) -> list[tuple[int, float]]:
    """The model's own execl curve at a known per-exec time, with a little measurement noise."""
    points = []
    for copies, factor in zip(COPIES, noise):
        values = [simulate(compose_run(TOPOLOGY, "single", WORKLOAD, copies=copies, seed=seed, duration_ms=DURATION_MS,
                                       warmup_ms=WARMUP_MS, overrides=[f"workload.exec_ns={exec_ns}"])
                           ).metrics["steady_throughput_per_s"] for seed in SEEDS]
        points.append((copies, factor * sum(values) / len(values)))
    return points


def problem(points, names=("workload.exec_ns",), held_out=(6,)) -> Problem:
    return Problem(load_parts(TOPOLOGY, "single", WORKLOAD), choose_params(list(names), "execl"),
                   tuple(p for p in points if p[0] not in held_out), tuple(p for p in points if p[0] in held_out),
                   SEEDS, DURATION_MS, WARMUP_MS)


def test_a_model_made_curve_is_fitted_back_with_a_band_that_holds_the_truth():
    truth = dict(model_curve(TRUE_EXEC_NS, noise=(1,) * len(COPIES)))  # the model at the true value, no noise
    measured = model_curve(TRUE_EXEC_NS)
    result = fit(problem(measured, names=("workload.exec_ns", "kernel.spin_mean_ns")), budget=12)
    assert result.values["workload.exec_ns"] == pytest.approx(TRUE_EXEC_NS, rel=0.10)
    low, high = calibrate.band(result, 6)
    assert low <= truth[6] <= high                           # the held-out point's band holds the truth
    everything = [e.model[6] for e in result.evaluations]
    assert high - low < max(everything) - min(everything)    # ... and is narrower than all evaluations
    assert 1 < len(result.members) < len(result.evaluations)
    identified = {p["name"]: p["identified"] for p in result.parameters}
    # the per-exec time sets the 1-copy point; 8 copies on 8 CPUs never contend long enough to spin
    assert identified == {"workload.exec_ns": True, "kernel.spin_mean_ns": False}


def test_a_fit_at_the_edge_of_a_range_says_so(orch, tmp_path):
    """A machine faster than the range allows: the per-exec time lands on the range's floor."""
    curve = tmp_path / "curve.csv"
    fast = [(c, v * 1.6) for c, v in model_curve(130_000, noise=(1,) * len(COPIES))][:3]
    curve.write_text("copies,throughput_per_s\n" + "".join(f"{c},{v}\n" for c, v in fast))
    out = tmp_path / "profile.yaml"
    result = orch("calibrate", curve, "-t", TOPOLOGY, "-w", WORKLOAD, "--fit", "workload.exec_ns", "--budget", "12",
                  "--seeds", "1", "--duration-ms", str(DURATION_MS), "--warmup-ms", str(WARMUP_MS), "--out", out)
    assert result.code == 0, result.err
    assert "workload.exec_ns fitted at 1.3e+05, at the low edge of its range" in result.err
    made = load_profile(str(out))
    assert made.parameters[0].at_edge == "low" and made.fitted["workload.exec_ns"] == 130_000


def test_a_curve_the_model_cannot_make_is_a_poor_fit(orch, tmp_path):
    curve = tmp_path / "curve.csv"
    curve.write_text("copies,throughput_per_s\n1,5000\n2,500\n4,60000\n8,400\n")
    out = tmp_path / "profile.yaml"
    result = orch("calibrate", curve, "-t", TOPOLOGY, "-w", WORKLOAD, "--fit", "workload.exec_ns",
                  "--budget", "4", "--duration-ms", "2", "--warmup-ms", "0.5", "--out", out)
    assert result.code == 0
    assert "poor fit" in result.err
    made = yaml.safe_load(out.read_text())
    assert made["error"]["verdict"] == "poor" and made["error"]["fitted_rms_log"] > 0.5
    assert set(made["fitted"]) == {"workload.exec_ns"} and made["command"].startswith("orch calibrate")


def imported_topology(orch, folder) -> str:
    """The user's machine as `orch topology import-numactl` writes it (named `imported`)."""
    text = folder / "numactl.txt"
    text.write_text(NUMACTL)
    path = folder / "machine.yaml"
    result = orch("topology", "import-numactl", text, "--threads-per-core", "2", "--out", path)
    assert result.code == 0, result.err
    return str(path)


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_an_imported_topology_calibrates_on_every_backend_and_the_profile_applies(orch, tmp_path, monkeypatch,
                                                                                  backend):
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.chdir(tmp_path)
    topology = imported_topology(orch, tmp_path)
    curve = tmp_path / "curve.csv"
    curve.write_text("copies,throughput_per_s\n1,5000\n2,9800\n4,18000\n")
    for where in ("machine.yaml", topology):  # a relative and an absolute path
        out = tmp_path / "profile.yaml"
        result = orch("calibrate", curve, "-t", where, "-w", WORKLOAD, "--fit", "workload.exec_ns", "--budget", "3",
                      "--seeds", "1", "--duration-ms", "2", "--warmup-ms", "0.5", "--backend", backend, "--out", out,
                      "--json")
        assert result.code == 0, result.err
    made = load_profile(str(out))
    assert made.topology == "imported" and made.ensemble and made.parameters[0].name == "workload.exec_ns"
    result = orch("run", "-t", topology, "-w", WORKLOAD, "--copies", "2", "--duration-ms", "1", "--profile", out,
                  "--json")
    assert result.code == 0, result.err
    assert "fitted on" not in result.err  # the same machine: no warning, whatever its name


def test_both_backends_fit_the_same_profile(orch, tmp_path, monkeypatch):
    """The backend changes where runs go, not what they give."""
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    curve = tmp_path / "curve.csv"
    curve.write_text("copies,throughput_per_s\n1,5000\n2,9800\n")
    profiles = {}
    for backend in ("local", "ray"):
        out = tmp_path / f"{backend}.yaml"
        result = orch("calibrate", curve, "-t", TOPOLOGY, "-w", WORKLOAD, "--fit", "workload.exec_ns", "--budget", "3",
                      "--seeds", "1", "--duration-ms", "2", "--warmup-ms", "0.5", "--backend", backend, "--out", out)
        assert result.code == 0, result.err
        profiles[backend] = yaml.safe_load(out.read_text())
    for key in ("fitted", "points", "ensemble", "parameters"):
        assert profiles["ray"][key] == profiles["local"][key]
    result = orch("calibrate", curve, "-t", TOPOLOGY, "-w", WORKLOAD, "--address", "127.0.0.1:1")
    assert result.code == 2 and "needs --backend ray" in result.err


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_a_worker_side_user_error_is_one_line_exit_2(orch, tmp_path, monkeypatch, backend):
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    hand_to_workers(monkeypatch, calibrate, "simulate_point", refusing_point)
    curve = tmp_path / "curve.csv"
    curve.write_text("copies,throughput_per_s\n1,5000\n2,9800\n")
    result = orch("calibrate", curve, "-t", TOPOLOGY, "-w", WORKLOAD, "--fit", "workload.exec_ns", "--budget", "2",
                  "--seeds", "1", "--duration-ms", "1", "--backend", backend)
    assert result.code == 2, result.err
    assert result.err.strip() == "orch: error: workload.yaml: walkers.reclaim_file: no such file on this machine"


def test_a_worker_crash_names_the_run(orch, tmp_path, monkeypatch):
    hand_to_workers(monkeypatch, calibrate, "simulate_point", crashing_point)
    curve = tmp_path / "curve.csv"
    curve.write_text("copies,throughput_per_s\n1,5000\n2,9800\n")
    result = orch("calibrate", curve, "-t", TOPOLOGY, "-w", WORKLOAD, "--fit", "workload.exec_ns", "--budget", "2",
                  "--seeds", "1", "--duration-ms", "1", "--workers", "2")
    assert result.code == 1
    assert len(result.err.strip().splitlines()) == 1
    assert "a worker died running copies=2 seed=1 with ['workload.exec_ns=" in result.err


def orch_exception_types() -> list[type]:
    import importlib
    import pkgutil

    import orchestrator

    for info in pkgutil.walk_packages(orchestrator.__path__, "orchestrator."):
        if not info.name.endswith((".__main__",)) and "_presets" not in info.name:
            importlib.import_module(info.name)
    found, todo = set(), [BaseException]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("orchestrator."):
                found.add(sub)
    return sorted(found, key=lambda t: t.__qualname__)


def example(kind: type) -> BaseException:
    import inspect

    arguments = [p for p in inspect.signature(kind.__init__).parameters.values()
                 if p.name != "self" and p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD]
    return kind(*[3 if p.name == "index" else ("field",) if p.name == "path" else f"{p.name} text"
                  for p in arguments])


@pytest.mark.parametrize("kind", orch_exception_types(), ids=lambda t: t.__qualname__)
def test_every_orch_exception_survives_pickling(kind):
    """A worker's exception crosses a process boundary as it was raised."""
    original = example(kind)
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is kind and str(copy) == str(original) and vars(copy) == vars(original)


def test_orch_has_the_exception_types_this_test_knows():
    names = {t.__qualname__ for t in orch_exception_types()}
    assert {"UserError", "FieldError", "RunCrashed", "ItemCrashed"} <= names


@pytest.mark.parametrize(("content", "args", "fragment"), [
    (None, (), "cannot read the curve"),
    ("copies,execs\n1,5\n", (), "needs the columns copies,throughput_per_s"),
    ("copies,throughput_per_s\n", (), "no data rows"),
    ("copies,throughput_per_s\n1,abc\n", (), "line 2"),
    ("copies,throughput_per_s\n1,nan\n", (), "positive finite number"),
    ("copies,throughput_per_s\n1,5000\n", ("--fit", "kernel.nonsense"), "not an uncertain parameter"),
    ("copies,throughput_per_s\n1,5000\n", ("--fit", "workload.exec_ns,workload.exec_ns"), "names a parameter twice"),
    ("copies,throughput_per_s\n1,5000\n", ("--holdout", "3"), "not a copy count of the curve"),
    ("copies,throughput_per_s\n1,5000\n", ("--holdout", "1"), "nothing is left to fit"),
    ("copies,throughput_per_s\n64,5000\n", (), "64 copies but laptop-1n-8 has 8 CPUs"),
    ("copies,throughput_per_s\n1,5000\n", ("--fit", "workload.think_ns"), "not an uncertain parameter"),
    ("copies,throughput_per_s\n1,5000\n", ("-t", "nowhere.yaml"), "nowhere.yaml: cannot read file"),
    ("copies,throughput_per_s\n1,5000\n", ("--target", "spin_share"), "one of throughput or throughput,spin_share"),
    ("copies,throughput_per_s\n1,5000\n", ("--target", "throughput,latency"), "one of throughput or"),
    ("copies,throughput_per_s\n1,5000\n", ("--target", "throughput,spin_share"), "needs a dataset orch measure"),
])
def test_bad_input_is_one_line_exit_2(orch, tmp_path, content, args, fragment):
    curve = tmp_path / "curve.csv"
    if content is not None:
        curve.write_text(content)
    result = orch("calibrate", curve, "-t", TOPOLOGY, "-w", WORKLOAD, *args)
    assert result.code == 2 and fragment in result.err and len(result.err.strip().splitlines()) == 1


def test_a_curve_from_stdin_or_a_fifo_is_refused(orch, tmp_path):
    assert orch("calibrate", "-", "-t", TOPOLOGY, "-w", WORKLOAD).code == 2
    fifo = tmp_path / "curve.csv"
    os.mkfifo(fifo)
    result = orch("calibrate", fifo, "-t", TOPOLOGY, "-w", WORKLOAD)
    assert result.code == 2 and "not a regular file" in result.err


def test_read_curve_averages_repeated_points_and_takes_a_spreadsheets_bom(tmp_path):
    curve = tmp_path / "c.csv"
    curve.write_text("\ufeffcopies,throughput_per_s\n2,10\n1,5\n2,20\n", encoding="utf-8")
    assert read_curve(str(curve)) == [(1, 5.0), (2, 15.0)]
    assert calibrate.repeat_noise({2: [10.0, 20.0], 1: [5.0]}) == pytest.approx(np.log(2) / np.sqrt(2))
    assert calibrate.repeat_noise({1: [5.0]}) is None


def write_profile(path, **fields) -> str:
    path.write_text(yaml.safe_dump({"topology": TOPOLOGY, **fields}))
    return str(path)


def test_a_profile_warns_on_a_machine_of_another_shape_not_another_name(orch, tmp_path):
    from orchestrator.presets import resolve
    from orchestrator.spec.topology import Topology, shape_digest

    digest = shape_digest(Topology.model_validate(load_parts(TOPOLOGY, "single", WORKLOAD)["topology"])
                          .model_dump(mode="json"))
    path = write_profile(tmp_path / "profile.yaml", topology_digest=digest, fitted={"workload.exec_ns": 123456})
    renamed = tmp_path / "renamed.yaml"
    data = yaml.safe_load(resolve("topologies", TOPOLOGY).read_text())
    renamed.write_text(yaml.safe_dump({**data, "name": "my-laptop"}))
    result = orch("run", "-t", renamed, "-w", WORKLOAD, "--copies", "1", "--duration-ms", "0.5", "--profile", path,
                  "--json")
    assert result.code == 0 and "another shape" not in result.err  # (a 0.5 ms run: the short-run warning)
    result = orch("run", "-t", "genoa-1n-128", "-w", WORKLOAD, "--copies", "1", "--duration-ms", "0.5",
                  "--profile", path, "--json")
    assert result.code == 0 and "fitted on laptop-1n-8, a machine of another shape" in result.err


def test_a_bad_value_in_a_profile_names_the_profile(orch, tmp_path):
    path = write_profile(tmp_path / "profile.yaml", fitted={"kernel.cost_scale": 1000})
    result = orch("run", "-t", TOPOLOGY, "-w", WORKLOAD, "--copies", "1", "--duration-ms", "0.5", "--profile", path)
    assert result.code == 2 and result.err.startswith(f"orch: error: {path}: kernel.cost_scale:")
    path = write_profile(tmp_path / "other.yaml", fitted={"workload.exec_ns": 1},
                         ensemble=[{"values": {"kernel.cost_scale": 1.0}, "rms_log": 0.1}])
    result = orch("run", "-t", TOPOLOGY, "-w", WORKLOAD, "--profile", path)
    assert result.code == 2 and "ensemble.0.values: must set exactly the fitted parameters" in result.err


ENSEMBLE = {"fitted": {"workload.exec_ns": 150_000},
            "ensemble": [{"values": {"workload.exec_ns": v}, "rms_log": 0.01 * i}
                         for i, v in enumerate((150_000, 140_000, 170_000))]}


def test_an_ensemble_profile_gives_orch_run_a_band(orch, tmp_path):
    path = write_profile(tmp_path / "profile.yaml", **ENSEMBLE)
    result = orch("run", "-t", TOPOLOGY, "-w", WORKLOAD, "--copies", "1", "--duration-ms", "2", "--profile", path,
                  "--json")
    assert result.code == 0, result.err
    import json

    shown = json.loads(result.out)
    alone = [simulate(compose_run(TOPOLOGY, "single", WORKLOAD, copies=1, duration_ms=2,
                                  overrides=[f"workload.exec_ns={v}"])).metrics["steady_throughput_per_s"]
             for v in (150_000, 140_000, 170_000)]
    assert shown["band"] == {"low": min(alone), "high": max(alone), "members": 3}
    assert shown["steady_throughput_per_s"] == alone[0]  # the best member's run


def sweep_spec(profile: str, **extra):
    from orchestrator.spec import validate
    from orchestrator.spec.sweep import SweepSpec

    return validate(SweepSpec, {"name": "p", "topologies": [TOPOLOGY], "strategies": [{"name": "single"}],
                                "workloads": [{"file": WORKLOAD}], "copies": [1, 2], "duration_ms": 1,
                                "seeds": [1], "profile": profile, **extra}, "test")


def test_a_sweep_runs_an_ensemble_profiles_members_as_samples(tmp_path):
    from orchestrator.plan import expand_sweep

    path = write_profile(tmp_path / "profile.yaml", **ENSEMBLE)
    runs = expand_sweep(sweep_spec(path, set=["kernel.spin_mean_ns=200000"]), "test")
    assert {(r.sample, r.workload.exec_ns) for r in runs} == {(None, 150_000), (0, 150_000), (1, 140_000),
                                                               (2, 170_000)}
    assert {r.kernel.spin_mean_ns for r in runs} == {200_000}
    runs = expand_sweep(sweep_spec(path, uncertainty={"samples": 5, "parameters": ["kernel.cost_scale"]}), "test")
    drawn = {r.sample: (r.workload.exec_ns, r.kernel.cost_scale) for r in runs if r.copies == 1}
    assert [drawn[i][0] for i in range(5)] == [150_000, 140_000, 170_000, 150_000, 140_000]  # member i mod 3
    assert len({drawn[i][1] for i in range(5)}) == 5 and drawn[None] == (150_000, 1.0)


def test_a_sweep_notes_a_profile_fitted_on_another_shape(tmp_path):
    from orchestrator.plan import expand_sweep

    path = write_profile(tmp_path / "profile.yaml", topology_digest="0" * 16, fitted={"workload.exec_ns": 150_000})
    notes: list[str] = []
    expand_sweep(sweep_spec(path), "test", notes)
    assert any("a machine of another shape" in note for note in notes)


def test_a_measured_dataset_is_a_curve(orch, tmp_path):
    """orch measure's rows feed orch calibrate directly."""
    data = tmp_path / "measured"
    assert orch("measure", "spawn", "--copies", "1,2", "--duration-s", "0.2", "--repeats", "1", "--out", data).code == 0
    assert [c for c, _ in read_curve(str(data))] == [1, 2]
    result = orch("calibrate", data, "-t", TOPOLOGY, "-w", "spawn", "--fit", "workload.fork_ns", "--budget", "2",
                  "--seeds", "1", "--duration-ms", "1", "--warmup-ms", "0", "--json")
    assert result.code == 0 and "workload.fork_ns" in result.out


def test_spin_share_joins_the_error_in_units_of_one_measurements_spread():
    base = problem(((1, 100.0), (2, 150.0)), held_out=())
    model, spin = {1: 100.0, 2: 150.0}, {1: 0.10, 2: 0.30}
    assert objective(model, spin, base) == 0.0  # throughput only: the spin share does not count
    both = replace(base, spin=((1, 0.10), (2, 0.30 - SPIN_SHARE_NOISE)))
    assert both.residuals == 4
    # one spin share one spread off weighs as much as a throughput DEFAULT_NOISE off
    assert objective(model, spin, both) == pytest.approx(math.sqrt(DEFAULT_NOISE ** 2 / 4))


@needs_perf
def test_a_perf_dataset_fits_throughput_and_spin_share(orch, tmp_path):
    data = tmp_path / "measured"
    result = orch("measure", "spawn", "--copies", "1,2", "--duration-s", "0.3", "--repeats", "1", "--perf",
                  "--out", data)
    assert result.code == 0, result.err
    result = orch("calibrate", data, "-t", TOPOLOGY, "-w", "spawn", "--fit", "workload.fork_ns", "--budget", "2",
                  "--seeds", "1", "--duration-ms", "1", "--warmup-ms", "0", "--target", "throughput,spin_share",
                  "--out", tmp_path / "profile.yaml")
    assert result.code == 0, result.err
    made = yaml.safe_load((tmp_path / "profile.yaml").read_text())
    assert made["error"]["spin_share_rms"] >= 0 and made["error"]["objective"] >= 0
    assert "--target throughput,spin_share" in made["command"]
