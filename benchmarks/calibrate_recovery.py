"""orch calibrate on a curve the model made itself, with known parameter values and a little
noise, on a machine a user imports: what is recovered, what is identified, and whether the bands
at held-out points hold the truth.

The machine: benchmarks/data/xeon-2s-128.numactl (a 2-socket, 32-core-per-socket SMT Xeon, 128
CPUs) through `orch topology import-numactl --threads-per-core 2`. The curve: single x execl at
1 - 128 copies (2 seeds each, the calibrate defaults' 10 ms after 2 ms) with workload.exec_ns,
kernel.cost_scale and kernel.handoff_line_transfers set to non-default values inside their
ranges, and +-2% noise; the fit (of those three) sees 1 - 32 copies, 64 and 128 are held out. Prints fitted against true
values, identified or not, the prediction and band at each held-out point with the true model
value (the model at the true values, the fit's seeds), and the wall time with the default budget.
Run: .venv/bin/python benchmarks/calibrate_recovery.py [--budget N] [--backend local|ray]
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

HERE = Path(__file__).resolve().parent
NUMACTL = HERE / "data" / "xeon-2s-128.numactl"
WORKLOAD = "execl"
COPIES = (1, 2, 4, 8, 16, 32, 64, 128)
HELD_OUT = (64, 128)
TRUTH = {"workload.exec_ns": 190_000, "kernel.cost_scale": 1.3, "kernel.handoff_line_transfers": 2.0}
NOISE = (1.02, 0.98, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01)


def curve(topology: str, seeds: tuple[int, ...]) -> list[tuple[int, float]]:
    from orchestrator.plan import compose_run
    from orchestrator.simulate import simulate

    overrides = [f"{k}={v}" for k, v in TRUTH.items()]
    points = []
    for copies in COPIES:
        values = [simulate(compose_run(topology, "single", WORKLOAD, copies=copies, seed=seed, duration_ms=10,
                                       warmup_ms=2, overrides=overrides)).metrics["steady_throughput_per_s"]
                  for seed in seeds]
        points.append((copies, sum(values) / len(values)))
    return points


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=int, default=None, help="evaluations (default: orch calibrate's)")
    parser.add_argument("--backend", default="local", choices=("local", "ray"))
    args = parser.parse_args()
    orch = str(Path(sys.executable).with_name("orch"))
    with tempfile.TemporaryDirectory() as folder:
        topology = Path(folder) / "xeon.yaml"
        subprocess.run([orch, "topology", "import-numactl", str(NUMACTL), "--threads-per-core", "2", "--out",
                        str(topology)], check=True, stderr=subprocess.DEVNULL)
        measured = curve(str(topology), (101, 102))  # other seeds than the fit's: the noise a real curve has
        truth = dict(curve(str(topology), (1, 2)))   # the model at the true values with the fit's seeds
        path = Path(folder) / "curve.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["copies", "throughput_per_s"])
            writer.writerows((c, v * noise) for (c, v), noise in zip(measured, NOISE))
        profile = Path(folder) / "profile.yaml"
        command = [orch, "calibrate", str(path), "-t", str(topology), "-w", WORKLOAD, "--backend", args.backend,
                   "--fit", ",".join(TRUTH),
                   "--holdout", ",".join(map(str, HELD_OUT)), "--out", str(profile),
                   *(["--budget", str(args.budget)] if args.budget else [])]
        began = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - began
        made = yaml.safe_load(profile.read_text())
    print(f"orch calibrate --backend {args.backend}: {len(COPIES)}-point model-made curve on an imported "
          f"2-socket 128-CPU Xeon, fitted on 1-32 copies: {wall:.0f} s wall, {made['evaluations']} evaluations, "
          f"{len(made['ensemble'])} ensemble members")
    print(f"{'parameter':<22} {'true':>10} {'fitted':>10} {'error':>8}  identified (rise / noise)")
    for p in made["parameters"]:
        true = TRUTH[p["name"]]
        edge = f", at {p['at_edge']} edge" if p["at_edge"] else ""
        print(f"{p['name']:<22} {true:>10,.6g} {p['value']:>10,.6g} {p['value'] / true - 1:>+8.1%}  "
              f"{'yes' if p['identified'] else 'no'} ({p['sensitivity']:+.3f} / {p['threshold']:.3f}){edge}")
    error = made["error"]
    print(f"RMS log error: fitted {error['fitted_rms_log']:.3f}, held out {error['held_out_rms_log']:.3f} "
          f"({error['verdict']})")
    for p in made["points"]:
        if p["held_out"]:
            inside = "inside" if p["low"] <= truth[p["copies"]] <= p["high"] else "OUTSIDE"
            print(f"held-out {p['copies']:>3} copies: model {p['model']:,.0f}, band {p['low']:,.0f} - {p['high']:,.0f};"
                  f" curve {p['measured']:,.0f} ({p['model'] / p['measured'] - 1:+.1%}); true model value "
                  f"{truth[p['copies']]:,.0f} ({inside} the band)")


if __name__ == "__main__":
    main()
