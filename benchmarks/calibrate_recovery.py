"""orch calibrate on a curve the model made itself, with known parameter values and a little
noise: wall time with the default budget, fitted against true values, error on held-out points.

The curve: single x execl on icelake-2s-128 at 8 copy counts (2 seeds, the calibrate defaults'
10 ms after 2 ms), with workload.exec_ns, kernel.cost_scale and kernel.spin_mean_ns set inside
their ranges and +-2% noise; 64 copies are held out. Goal (issue 11): under 15 minutes on 2 cores.
Run: .venv/bin/python benchmarks/calibrate_recovery.py [--budget N]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from orchestrator.plan import compose_run
from orchestrator.simulate import simulate

TOPOLOGY, WORKLOAD = "icelake-2s-128", "execl"
COPIES = (1, 2, 4, 8, 16, 32, 64, 128)
HELD_OUT = 64
TRUTH = {"workload.exec_ns": 190_000, "kernel.cost_scale": 1.3, "kernel.spin_mean_ns": 600_000}
NOISE = (1.02, 0.98, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01)


def model_curve() -> list[tuple[int, float]]:
    overrides = [f"{k}={v}" for k, v in TRUTH.items()]
    curve = []
    for copies, noise in zip(COPIES, NOISE):
        values = [simulate(compose_run(TOPOLOGY, "single", WORKLOAD, copies=copies, seed=seed, duration_ms=10,
                                       warmup_ms=2, overrides=overrides)).metrics["steady_throughput_per_s"]
                  for seed in (101, 102)]  # other seeds than the fit's: the noise a real curve has
        curve.append((copies, noise * sum(values) / len(values)))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=int, default=None, help="evaluations (default: orch calibrate's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "curve.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["copies", "throughput_per_s"])
            writer.writerows(model_curve())
        profile = Path(folder) / "profile.yaml"
        command = [str(Path(sys.executable).with_name("orch")), "calibrate", str(path), "-t", TOPOLOGY, "-w",
                   WORKLOAD, "--holdout", str(HELD_OUT), "--out", str(profile),
                   *(["--budget", str(args.budget)] if args.budget else [])]
        began = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - began
        made = yaml.safe_load(profile.read_text())
    print(f"orch calibrate, {len(COPIES)}-point model-made curve on {TOPOLOGY}, 64 held out: {wall:.1f} s wall")
    print(f"{'parameter':<22} {'true':>12} {'fitted':>12} {'error':>8}")
    for name, true in TRUTH.items():
        fitted = made["fitted"][name]
        print(f"{name:<22} {true:>12,.6g} {fitted:>12,.6g} {fitted / true - 1:>+8.1%}")
    error = made["error"]
    held = [p for p in made["points"] if p["held_out"]]
    print(f"RMS log error: fitted {error['fitted_rms_log']:.3f}, held out {error['held_out_rms_log']:.3f} "
          f"({error['verdict']})")
    for p in held:
        print(f"held-out {p['copies']} copies: model {p['model']:,.0f} vs curve {p['measured']:,.0f} "
              f"({p['model'] / p['measured'] - 1:+.1%})")


if __name__ == "__main__":
    main()
