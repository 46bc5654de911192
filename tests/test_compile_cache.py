"""One compile cache per machine: a second install of orch at another path (as a submitted job's
virtualenv is) runs from what the first compiled, writing nothing; an edit to the engine is
another digest, so it never runs stale code."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

from orchestrator.sim import jit
from orchestrator.sim.cache import COMPILING

RUN = ("orch", "run", "-t", "ideal", "-w", "closed-loop", "--copies", "2", "--duration-ms", "0.1", "--json")


def cache_files(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in folder.rglob("*") if p.is_file()}


def test_a_second_install_elsewhere_compiles_nothing(orch_wheel, tmp_path):
    from wheelenv import fresh_venv

    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR", "NUMBA_DISABLE_JIT")}
    env["XDG_CACHE_HOME"] = str(cache)

    def run(bin_dir: Path) -> subprocess.CompletedProcess:
        done = subprocess.run([bin_dir / RUN[0], *RUN[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr
        return done

    first = run(fresh_venv(tmp_path / "first", orch_wheel))
    compiled = cache_files(cache)
    assert COMPILING in first.stderr
    assert [Path(name).parts[:2] for name in compiled] == [("orch", "numba")] * len(compiled)
    assert any(name.endswith(".nbi") for name in compiled) and any(name.endswith(".nbc") for name in compiled)
    second = run(fresh_venv(tmp_path / "second", orch_wheel))  # another path, newer files
    assert COMPILING not in second.stderr
    assert cache_files(cache) == compiled  # nothing compiled, nothing rewritten
    assert json.loads(second.stdout)["iterations"] == json.loads(first.stdout)["iterations"] > 0


def test_the_cache_folder_is_named_by_the_engine_sources(tmp_path, monkeypatch):
    monkeypatch.setattr(jit, "HERE", tmp_path)
    (tmp_path / "loop.py").write_text("x = 1\n")
    before = jit.engine_digest()
    (tmp_path / "locks.py").write_text("y = 2\n")
    added = jit.engine_digest()
    (tmp_path / "loop.py").write_text("x = 3\n")
    assert len({before, added, jit.engine_digest()}) == 3


def test_only_the_engines_functions_use_its_folder():
    from orchestrator.sim.loop import run

    assert run._cache._cache_path == str(jit.FOLDER)
    assert jit.EngineCache.from_function(cache_files, __file__) is None


def test_a_runs_wall_time_starts_once_the_loop_is_compiled(monkeypatch):
    """A first run compiles the engine for tens of seconds: that is not engine speed (wall_s,
    events_per_s), so the clock starts after the loop is compiled or loaded from the cache."""
    from orchestrator.plan import compose_run
    from orchestrator.sim import driver
    from orchestrator.simulate import simulate

    order = []
    compile_loop, clock = driver.compile_loop, driver.wallclock.perf_counter
    monkeypatch.setattr(driver, "compile_loop", lambda *args: order.append("compile") or compile_loop(*args))
    # the driver's clock only: time.perf_counter stays as it is for everything else
    monkeypatch.setattr(driver, "wallclock", SimpleNamespace(perf_counter=lambda: order.append("clock") or clock()))
    simulate(compose_run("ideal", "single", "closed-loop", copies=1, seed=1, warmup_ms=0, duration_ms=0.01))
    assert order == ["compile", "clock", "clock"]
