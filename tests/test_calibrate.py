"""orch calibrate: a curve the model made is fitted back; one it cannot make is reported as such."""

from __future__ import annotations

import pytest
import yaml

from orchestrator.calibrate import Problem, choose_params, fit, profile_overrides, read_curve
from orchestrator.plan import compose_run
from orchestrator.simulate import simulate

TOPOLOGY, WORKLOAD = "laptop-1n-8", "execl"   # 8 CPUs: a curve of short runs stays cheap
COPIES = (1, 2, 4, 6, 8)
SEEDS = (1, 2)
DURATION_MS, WARMUP_MS = 6.0, 1.0
NOISE = (1.02, 0.98, 1.01, 0.99, 1.0)


def model_curve(exec_ns: int) -> list[tuple[int, float]]:
    """The model's own execl curve at a known per-exec time, with a little measurement noise."""
    points = []
    for copies, noise in zip(COPIES, NOISE):
        values = [simulate(compose_run(TOPOLOGY, "single", WORKLOAD, copies=copies, seed=seed, duration_ms=DURATION_MS,
                                       warmup_ms=WARMUP_MS, overrides=[f"workload.exec_ns={exec_ns}"])
                           ).metrics["steady_throughput_per_s"] for seed in SEEDS]
        points.append((copies, noise * sum(values) / len(values)))
    return points


def problem(points, held_out=(6,)) -> Problem:
    return Problem(TOPOLOGY, WORKLOAD, "single", choose_params(["workload.exec_ns"], "execl"),
                   tuple(p for p in points if p[0] not in held_out), tuple(p for p in points if p[0] in held_out),
                   SEEDS, DURATION_MS, WARMUP_MS)


def test_a_model_made_curve_is_fitted_back():
    truth = 200_000
    result = fit(problem(model_curve(truth)), budget=12)
    assert result.values["workload.exec_ns"] == pytest.approx(truth, rel=0.10)
    measured = dict(model_curve(truth))
    assert result.model[6] == pytest.approx(measured[6], rel=0.10)  # the held-out point is predicted


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


def test_a_profile_feeds_runs_and_warns_on_another_machine(orch, tmp_path):
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump({"topology": TOPOLOGY, "fitted": {"workload.exec_ns": 123456}}))
    assert profile_overrides(str(path), TOPOLOGY) == (["workload.exec_ns=123456"], None)
    result = orch("run", "-t", "genoa-1n-128", "-w", WORKLOAD, "--copies", "1", "--duration-ms", "0.5",
                  "--profile", path, "--json")
    assert result.code == 0 and "fitted on laptop-1n-8, used on genoa-1n-128" in result.err


@pytest.mark.parametrize(("content", "args", "fragment"), [
    (None, (), "cannot read the curve"),
    ("copies,execs\n1,5\n", (), "needs the columns copies,throughput_per_s"),
    ("copies,throughput_per_s\n1,abc\n", (), "line 2"),
    ("copies,throughput_per_s\n1,5000\n", ("--fit", "kernel.nonsense"), "not an uncertain parameter"),
    ("copies,throughput_per_s\n1,5000\n", ("--holdout", "3"), "not a copy count of the curve"),
    ("copies,throughput_per_s\n1,5000\n", ("--holdout", "1"), "nothing is left to fit"),
    ("copies,throughput_per_s\n64,5000\n", (), "64 copies but laptop-1n-8 has 8 CPUs"),
    ("copies,throughput_per_s\n1,5000\n", ("--fit", "workload.think_ns"), "not an uncertain parameter"),
])
def test_bad_input_is_one_line_exit_2(orch, tmp_path, content, args, fragment):
    curve = tmp_path / "curve.csv"
    if content is not None:
        curve.write_text(content)
    result = orch("calibrate", curve, "-t", TOPOLOGY, "-w", WORKLOAD, *args)
    assert result.code == 2 and fragment in result.err and len(result.err.strip().splitlines()) == 1


def test_read_curve_averages_repeated_points(tmp_path):
    curve = tmp_path / "c.csv"
    curve.write_text("copies,throughput_per_s\n2,10\n1,5\n2,20\n")
    assert read_curve(str(curve)) == [(1, 5.0), (2, 15.0)]


def test_a_sweep_spec_profile_sets_every_run(tmp_path):
    from orchestrator.plan import expand_sweep
    from orchestrator.spec import validate
    from orchestrator.spec.sweep import SweepSpec

    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump({"topology": TOPOLOGY, "fitted": {"kernel.cost_scale": 1.5}}))
    spec = validate(SweepSpec, {"name": "p", "topologies": [TOPOLOGY], "strategies": [{"name": "single"}],
                                "workloads": [{"file": WORKLOAD}], "copies": [1, 2], "duration_ms": 1,
                                "profile": str(path), "set": ["kernel.spin_mean_ns=200000"]}, "test")
    runs = expand_sweep(spec, "test")
    assert {(r.kernel.cost_scale, r.kernel.spin_mean_ns) for r in runs} == {(1.5, 200_000)}


def test_a_measured_dataset_is_a_curve(orch, tmp_path):
    """orch measure's rows feed orch calibrate directly."""
    data = tmp_path / "measured"
    assert orch("measure", "spawn", "--copies", "1,2", "--duration-s", "0.2", "--repeats", "1", "--out", data).code == 0
    assert [c for c, _ in read_curve(str(data))] == [1, 2]
    result = orch("calibrate", data, "-t", TOPOLOGY, "-w", "spawn", "--fit", "workload.exec_ns", "--budget", "2",
                  "--seeds", "1", "--duration-ms", "1", "--warmup-ms", "0", "--json")
    assert result.code == 0 and "workload.exec_ns" in result.out


def test_evaluations_on_ray_fit_what_local_processes_fit(orch, tmp_path, monkeypatch):
    """The backend changes where runs go, not what they give: the same profile either way."""
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
    assert profiles["ray"]["fitted"] == profiles["local"]["fitted"]
    assert profiles["ray"]["points"] == profiles["local"]["points"]
    result = orch("calibrate", curve, "-t", TOPOLOGY, "-w", WORKLOAD, "--address", "127.0.0.1:1")
    assert result.code == 2 and "needs --backend ray" in result.err
