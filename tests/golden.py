"""Digests of what every run of the reference corpus computes (tests/golden/corpus.yaml).

A digest covers the model's outputs only: every metric of the runs table but wall-clock ones and
the engine's event count (an implementation detail), and every row of the locks, timeseries and
histograms tables. Run ids are left out too (they change with the model version); runs are keyed
by topology/workload/strategy/copies/seed/spin rule.

  .venv/bin/python tests/golden.py --write   record the digests (after an intended model change)
  .venv/bin/python tests/golden.py           print the runs whose digest differs
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "golden"
CORPUS, DIGESTS = HERE / "corpus.yaml", HERE / "digests.json"
NOT_MODEL = {"wall_s", "events_per_s", "events"}


def corpus():
    from orchestrator.plan import expand_sweep
    from orchestrator.spec import read_yaml, validate
    from orchestrator.spec.sweep import SweepSpec
    return expand_sweep(validate(SweepSpec, read_yaml(CORPUS), str(CORPUS)), str(CORPUS))


def key(spec) -> str:
    return (f"{spec.topology.name}/{spec.workload.name}/{spec.strategy.display}/{spec.copies}/{spec.seed}"
            f"/{spec.kernel.spin_rule}")


def digest(result) -> str:
    outputs = {"metrics": {k: v for k, v in result.metrics.items() if k not in NOT_MODEL},
               "locks": result.locks, "timeseries": result.timeseries, "histograms": result.histograms}
    return hashlib.sha256(json.dumps(outputs, sort_keys=True).encode()).hexdigest()


def compute() -> dict[str, str]:
    from orchestrator.simulate import simulate
    return {key(spec): digest(simulate(spec)) for spec in corpus()}


def main() -> None:
    digests = compute()
    if "--write" in sys.argv:
        DIGESTS.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(digests)} digests to {DIGESTS}")
        return
    recorded = json.loads(DIGESTS.read_text())
    changed = sorted(k for k in recorded.keys() | digests.keys() if recorded.get(k) != digests.get(k))
    print("\n".join(changed) or f"all {len(digests)} digests match")


if __name__ == "__main__":
    main()
