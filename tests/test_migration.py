"""Copies that migrate at exec (placement migrate): a choice after sched_exec is made where the
task runs, and an iteration counts on the node it ended on. Also the preloaded VMAs, placed per
subtree with numpy, land where the per-VMA rule puts them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.generators.immap import IMAGE_IDS
from orchestrator.plan import compose_run
from orchestrator.sim import state
from orchestrator.sim.driver import Driver
from orchestrator.sim.encoder import Encoder
from orchestrator.sim.loop import vma_hash
from orchestrator.simulate import build, local_streams, simulate
from orchestrator.strategies.sharded import vma_hashes


def test_a_subtree_chosen_by_node_is_the_node_the_task_moved_to():
    """Copies move at exec (sched_exec) before they map the new image: under split-node every VMA
    they link goes to the tree of the node they run on then, which is where its vm_area_struct
    was allocated (its line's home), although the program was encoded before the move."""
    spec = compose_run("milan-2n-256", "split-node", "execl", copies=32, seed=1, warmup_ms=0, duration_ms=3)
    machine, engine, strategy, generator = build(spec)
    for slot in range(len(machine.cpus)):
        engine.add_cpu(local_streams(spec, generator)(slot))
    driver = Driver(engine)
    driver.run()
    S = driver.S
    assert driver.reg(state.MIGRATIONS) > 0
    tree_node = {tree: index for space in strategy.spaces for index, tree in enumerate(space.trees)}
    used = slice(0, driver.encoder.vmas)  # linked during the run: ids below the preloaded images'
    live = np.flatnonzero((S.v_tree[used] >= 0) & (S.v_orig[used] < IMAGE_IDS))
    assert len(live) > 100
    assert all(tree_node[int(S.v_tree[v])] == int(S.home[S.v_line[v]]) for v in live)


def test_an_iteration_counts_on_the_node_it_ended_on():
    """Two copies on the 12-node Hygon move between nodes at exec: their iterations spread over more
    nodes than there are copies, and the nodes' throughputs add up to the run's."""
    m = simulate(compose_run("hygon-12n-384", "single", "execl", copies=2, seed=1, warmup_ms=0,
                             duration_ms=20)).metrics
    assert m["migrations"] > 0
    assert sum(rate > 0 for rate in m["throughput_per_node"]) > 2
    assert sum(m["throughput_per_node"]) == pytest.approx(m["throughput_per_s"])


@given(st.lists(st.integers(0, 2**62), min_size=1, max_size=50), st.integers(1, 64))
def test_hashing_many_vmas_is_the_engines_hash_of_each(vmas, k):
    """The preload places VMAs with numpy, the engine's CHOOSE hashes one: the two agree."""
    assert vma_hashes(np.array(vmas, dtype=np.int64), k).tolist() == [vma_hash(v, k) for v in vmas]


def one_rule(choice: str, k: int, vma: int, node: int, cpu: int) -> int:
    """Where one preloaded VMA goes (the rule as written for a single VMA)."""
    if choice == "node":
        return node % k
    if choice == "hash":
        return vma_hash(vma, k)
    if choice == "cpu" and cpu >= 0:
        return cpu % k
    return vma % k


@pytest.mark.parametrize("design, choice", [("split-node", "node"), ("split-node", "hash"), ("inverted", "cpu"),
                                            ("split-cpu", None), ("inverted", "smallest")])
def test_preloaded_vmas_go_where_the_rule_for_one_puts_them(monkeypatch, design, choice):
    from orchestrator.simulate import build
    from orchestrator.strategies.sharded import Sharded

    declared = []
    add_space = Sharded.add_space
    monkeypatch.setattr(Sharded, "add_space", lambda self, decl, space: declared.append((decl, space))
                        or add_space(self, decl, space))
    spec = compose_run("milan-2n-256", design, "execl", copies=8, seed=1, warmup_ms=0, duration_ms=1,
                       overrides=[f"strategy.subtree_choice={choice}"] if choice else [])
    _, engine, strategy, _ = build(spec)
    placed = {int(vma): int(tree) for tree, vma, *_ in engine.preloads}
    assert len(placed) == len(engine.preloads) > 1000
    for decl, space in declared:
        for vma, _first, _last, node, cpu in decl.preload.tolist():
            index = one_rule(strategy.choice, strategy.k, vma, node, cpu)
            assert placed[vma] == space.trees[index]


def test_a_vma_preloaded_twice_is_named():
    encoder = Encoder([], None)
    with pytest.raises(ValueError, match="VMA 7 inserted twice"):
        encoder.preloaded(np.array([5, 7, 9, 7], dtype=np.int64))
