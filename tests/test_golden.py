"""The reference corpus computes what it computed when its digests were recorded (tests/golden.py).

A failure lists the runs whose outputs changed. After an intended change to the model, bump the
model version, say why in the commit, and record new digests with
`.venv/bin/python tests/golden.py --write`.
"""

from __future__ import annotations

import json

import golden


def test_every_run_of_the_corpus_matches_its_digest():
    recorded = json.loads(golden.DIGESTS.read_text())
    computed = golden.compute()
    assert computed.keys() == recorded.keys()
    changed = sorted(k for k in recorded if recorded[k] != computed[k])
    assert not changed, f"{len(changed)} of {len(recorded)} runs changed, e.g. {changed[:5]}"


def test_the_digest_sees_a_change_in_any_table():
    """A digest is not blind: one more lock acquisition, or one timeseries value, changes it."""
    from orchestrator.simulate import simulate
    result = simulate(golden.corpus()[0])
    before = golden.digest(result)
    result.locks[0]["acquisitions"] += 1
    assert golden.digest(result) != before
    result.locks[0]["acquisitions"] -= 1
    result.timeseries[-1]["iterations"] += 1
    assert golden.digest(result) != before
    result.timeseries[-1]["iterations"] -= 1
    result.metrics["wall_s"] += 1.0  # wall-clock is not a model output
    assert golden.digest(result) == before
