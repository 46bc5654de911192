"""The first run on a machine compiles the engine for tens of seconds: orch says so, once, and
says nothing when the compiled code is cached. Decided from the cache, without compiling."""

from __future__ import annotations

import pytest
import yaml

from orchestrator.sim import cache
from orchestrator.sim.cache import COMPILING, loop_index, say_if_compiling


def test_a_missing_index_is_a_compile_and_a_present_one_is_not(tmp_path, capsys):
    index = tmp_path / "loop.run-289.py311.nbi"
    say_if_compiling(index)
    assert capsys.readouterr().err == COMPILING + "\n"
    index.touch()
    say_if_compiling(index)
    assert capsys.readouterr().err == ""


def test_the_index_is_numbas_for_the_loop_and_exists_after_a_run():
    from orchestrator.plan import load_parts, run_from
    from orchestrator.simulate import simulate

    index = loop_index()
    assert index is not None and index.name.startswith("loop.run-") and index.suffix == ".nbi"
    simulate(run_from(load_parts("ideal", "single", "closed-loop"), [], copies=1, seed=1, duration_ms=0.1,
                      warmup_ms=0, placement="migrate"))
    assert index.exists()


@pytest.fixture
def cold(monkeypatch, tmp_path):
    """This machine as if the engine were not compiled yet (it is: runs start at once)."""
    monkeypatch.setattr(cache, "loop_index", lambda: tmp_path / "absent.nbi")


def test_run_says_it_compiles(orch, cold):
    result = orch("run", "-t", "ideal", "-w", "closed-loop", "--copies", "1", "--duration-ms", "0.1")
    assert result.code == 0 and result.err.count(COMPILING) == 1


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_sweep_says_it_compiles_once(orch, cold, tmp_path, backend):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump({"name": "first", "topologies": ["ideal"], "strategies": [{"name": "single"}],
                                    "workloads": [{"file": "closed-loop"}], "copies": [1, 2], "duration_ms": 0.1,
                                    "replications": 1}))
    result = orch("sweep", spec, "--backend", backend, "--workers", "1", "--out", tmp_path / "out")
    assert result.code == 0 and result.err.count(COMPILING) == 1, result.err


def test_a_warm_cache_says_nothing(orch):
    args = ("run", "-t", "ideal", "-w", "closed-loop", "--copies", "1", "--duration-ms", "0.1")
    orch(*args)  # compiles, if nothing before did
    result = orch(*args)
    assert result.code == 0 and COMPILING not in result.err
