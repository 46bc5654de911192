"""One engine, compiled or not: the same digests, state passed whole, and plugins outside the package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
from numba import types

from orchestrator.presets import resolve
from orchestrator.sim import ops, state
from orchestrator.sim.ops import RWSEM
from orchestrator.simulate import simulate
from orchestrator.spec import read_yaml
from orchestrator.strategies import register
from orchestrator.strategies.base import FileDecl, Strategy

import golden
from simhelp import run_spec

HERE = Path(__file__).resolve().parent
# one run of each strategy, with walkers and a fork-heavy workload, small enough for the interpreter
SUBSET = [f"genoa-1n-128/{workload}/{strategy}/4/1/{rule}" for workload in ("execl+reclaim", "sysexec")
          for strategy in ("single", "split-tree", "split-node", "split-cpu", "inverted", "writer-hold")
          for rule in ("need_resched",)] + ["milan-2n-256/spawn/single/48/1/hazard"]

INTERPRETED = """
import json, sys
sys.path.insert(0, {tests!r})
import golden
import numba
import numpy as np
from numba import types

from orchestrator.simulate import simulate
wanted = set(json.loads(sys.argv[1]))
print(json.dumps({{golden.key(s): golden.digest(simulate(s)) for s in golden.corpus() if golden.key(s) in wanted}}))
"""


def test_the_interpreted_engine_computes_the_same_digests():
    """NUMBA_DISABLE_JIT=1 runs the same source as plain Python: the debugging path agrees."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    out = subprocess.run([sys.executable, "-c", INTERPRETED.format(tests=str(HERE)), json.dumps(SUBSET)],
                         env=env, capture_output=True, text=True, check=True).stdout
    recorded = json.loads(golden.DIGESTS.read_text())
    computed = json.loads(out)
    assert sorted(computed) == sorted(SUBSET)
    assert {k: recorded[k] for k in SUBSET} == computed


def test_the_compiled_state_is_the_table():
    """state.compiled() hands the loop every array of state.FIELDS, with its dtype and dimensions."""
    sizes = {axis: 2 for field in state.FIELDS for axis in field.shape if isinstance(axis, str)}
    ref = state.compiled(state.new_state(sizes, {}))
    assert ref._numba_type_.field_dict == {
        field.name: types.Array(numba.from_dtype(np.dtype(field.dtype)), len(field.shape), "C")
        for field in state.FIELDS}


@register
class TwoTrees(Strategy):
    """A design written outside the package: two subtrees per file, each under its own rwsem; a
    new VMA goes to the smaller one (a run-time choice), an unlink finds it where it went."""

    name = "test-two-trees"
    summary = "two subtrees, the smaller one takes a new VMA"

    def __init__(self, spec, engine, machine):
        super().__init__(spec, engine, machine)
        self.files: list[tuple] = []

    def add_file(self, decl: FileDecl) -> int:
        eng = self.engine
        roots = [eng.line(f"{decl.name}.root{i}", decl.home) for i in range(2)]
        trees = eng.table([eng.tree(f"{decl.name}.tree{i}", roots[i], decl.home) for i in range(2)])
        locks = eng.table([eng.lock(f"{decl.name}.lock{i}", "two.rwsem", RWSEM, decl.home) for i in range(2)])
        for vma, first, last, node, _ in decl.preload:
            eng.preload(trees[vma % 2], vma, first, last, node)
        self.files.append((trees, eng.table(roots), locks))  # a file's subtrees, their root lines, their locks
        return len(self.files) - 1

    def locked(self, locks, changes: list[tuple], mode: int = ops.WRITE_MODE) -> list[tuple]:
        lock = locks[ops.SUBTREE]
        return [(ops.ACQUIRE, lock, mode), *changes, (ops.RELEASE, lock, mode)]

    def expand(self, op: tuple) -> list[tuple]:
        trees, lines, locks = self.files[op[2]]
        tree = trees[ops.SUBTREE]
        kind = op[1]
        if kind == ops.LINK:
            return [(ops.SMALLEST, trees, lines), *self.locked(locks, [(ops.TREE, tree, ops.INSERT, op[3])])]
        if kind == ops.UNLINK_BATCH:
            return [step for vma in op[3] for step in
                    [(ops.SUBTREE_OF, vma[0], trees), *self.locked(locks, [(ops.TREE, tree, ops.REMOVE, vma[0])])]]
        if kind == ops.MERGE:  # the VMA keeps its subtree; its interval changes
            old, new = op[3], op[4]
            return [(ops.SUBTREE_OF, old[0], trees),
                    *self.locked(locks, [(ops.TREE, tree, ops.REMOVE, old[0]), (ops.TREE, tree, ops.INSERT, new)])]
        if kind in (ops.SPLIT, ops.DUP):  # the new VMA joins its parent's subtree
            parent, new = op[3], (op[5] if kind == ops.SPLIT else op[4])
            changes = [(ops.TREE, tree, ops.INSERT, new)]
            if kind == ops.SPLIT:
                changes += [(ops.TREE, tree, ops.REMOVE, parent[0]), (ops.TREE, tree, ops.INSERT, op[4])]
            return [(ops.SUBTREE_OF, parent[0], trees), *self.locked(locks, changes)]
        walk = []
        for i in range(2):
            walk += [(ops.ACQUIRE, locks[i], ops.READ_MODE), (ops.TREE, trees[i], ops.QUERY, op[3:5]),
                     (ops.RELEASE, locks[i], ops.READ_MODE)]
        return walk

    def memory_per_inode(self) -> int:
        return 2 * (16 + 40)


def plugin_spec():
    return run_spec("milan-2n-256", copies=8, duration_ms=1, strategy={"name": "test-two-trees"},
                    workload=read_yaml(resolve("workloads", "execl-reclaim")))


PLUGIN_INTERPRETED = """
import sys
sys.path.insert(0, {tests!r})
import golden
import test_compiled  # registers the plugin
from orchestrator.simulate import simulate
print(golden.digest(simulate(test_compiled.plugin_spec(), check=True)))
"""


def test_a_strategy_defined_outside_the_package_runs_compiled_and_interpreted():
    """Its expansions are tabulated like the built-in designs', and the interpreter agrees."""
    result = simulate(plugin_spec(), check=True)  # --check: VMAs conserved, exclusion held
    classes = {row["lock_class"] for row in result.locks}
    assert "two.rwsem" in classes and result.metrics["iterations"] > 0
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    out = subprocess.run([sys.executable, "-c", PLUGIN_INTERPRETED.format(tests=str(HERE))],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == golden.digest(result)
