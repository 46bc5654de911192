"""The six lock designs on the i_mmap workloads: invariants, memory, and the shape of results."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.generators import GENERATORS
from orchestrator.generators.base import Context
from orchestrator.sim.engine import Engine
from orchestrator.sim.machine import Machine
from orchestrator.sim.programs import as_ops
from orchestrator.sim.streams import WORKLOAD, stream
from orchestrator.simulate import simulate
from orchestrator.spec.kernel import KernelSpec
from orchestrator.spec.strategy import StrategySpec
from orchestrator.strategies import available

from simhelp import run_spec

DESIGNS = ["single", "split-tree", "split-node", "split-cpu", "inverted", "writer-hold"]
SMALL_FILES = [
    {"name": "binary", "segments_pages": [1, 2, 1, 2], "relro_pages": 1, "loader": "kernel"},
    {"name": "libc", "segments_pages": [4, 30, 8, 3], "relro_pages": 1, "loader": "ld.so", "background_vmas": 40},
]
WORKLOADS = {
    "execl": {"kind": "execl", "files": SMALL_FILES, "exec_ns": 20_000,
              "walkers": {"reclaim_per_node_per_s": 20_000, "reclaim_file": "libc"}},
    "spawn": {"kind": "spawn", "files": SMALL_FILES, "fork_ns": 5_000, "exit_ns": 2_000,
              "walkers": {"truncate_per_s": 50_000, "truncate_file": "libc", "reclaim_file": "libc"}},
    "sysexec": {"kind": "sysexec", "files": SMALL_FILES, "exec_ns": 20_000, "fork_ns": 5_000, "exit_ns": 2_000,
                "walkers": {"reclaim_per_node_per_s": 20_000, "truncate_per_s": 50_000}},
    "stress-ng-spawn": {"kind": "stress-ng-spawn", "files": SMALL_FILES, "exec_ns": 20_000, "spawn_ns": 2_000,
                        "exit_ns": 2_000, "walkers": {"truncate_per_s": 50_000}},
    "doexec": {"kind": "doexec", "exec_ns": 20_000},
    "mmap-churn": {"kind": "mmap-churn", "map_pages": 64,
                   "walkers": {"truncate_per_s": 100_000, "reclaim_per_node_per_s": 50_000}},
}


def test_all_six_designs_are_installed():
    assert set(DESIGNS) <= set(available())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(design=st.sampled_from(DESIGNS), workload=st.sampled_from(sorted(WORKLOADS)),
       topology=st.sampled_from(["laptop-1n-8", "rome-8n-256", "hygon-12n-384"]),
       copies=st.integers(1, 8), seed=st.integers(0, 10**6),
       spin=st.sampled_from([0, 20_000, None]), shards=st.sampled_from([None, 1, 3]),
       choice=st.sampled_from([None, "cpu", "hash", "node", "smallest"]))
def test_designs_keep_the_invariants(design, workload, topology, copies, seed, spin, shards, choice):
    """--check: mutual exclusion on every lock, walks equal to brute force, VMAs conserved."""
    strategy = {"name": design, "shards": None if design == "single" else shards,
                "subtree_choice": None if design == "single" else choice}
    spec = run_spec(topology, workload=WORKLOADS[workload], strategy=strategy, copies=copies, seed=seed,
                    duration_ms=0.6, kernel={"spin_rule": "fixed", "spin_limit_ns": spin, "handoff_ns": 100_000})
    result = simulate(spec, check=True)
    assert result.metrics["lock_acquisitions"] > 0


# ---- memory per inode, by hand -----------------------------------------------------------

def memory(design: str, topology: str = "hygon-12n-384", **params) -> int:
    spec = run_spec(topology, strategy={"name": design, **params}, copies=1, duration_ms=0.01)
    machine = Machine.build(spec.topology, 1, "spread")
    engine = Engine(machine, KernelSpec(), end_ns=1)
    return available()[design](StrategySpec(name=design, **params), engine, machine).memory_per_inode()


def test_memory_per_inode_by_hand():
    # x86_64: rb_root_cached 16, rw_semaphore 40, atomic_t 4, pointer 8, spinlock 4, mutex 32
    assert memory("single") == 16 + 40
    # the rwsem stays, a pointer to 12 + 1 pointers (104 -> kmalloc-128), 12 roots of kmalloc-16
    assert memory("split-tree") == 40 + 8 + 128 + 12 * 16
    # pointer + vma_count, the array (kmalloc-128), 12 i_mmap_tree of 60 -> kmalloc-64
    assert memory("split-node") == 8 + 4 + 128 + 12 * 64
    # K = ALIGN(384, 32) = 384: array of 385 pointers (3080 -> kmalloc-4096) and 384 trees
    assert memory("split-cpu") == 8 + 4 + 4096 + 384 * 64
    # the rwsem plus a static array of 16 {rb_root_cached, spinlock} padded to 24 bytes
    assert memory("inverted") == 40 + 16 * 24
    # an int per possible CPU, the same subtree array, a mutex for walkers
    assert memory("writer-hold") == 4 * 384 + 16 * 24 + 32
    assert memory("split-node", shards=4) == 8 + 4 + kmalloc(5 * 8) + 4 * 64
    assert memory("split-cpu", topology="laptop-1n-8") == 8 + 4 + 512 + 32 * 64  # ALIGN(8, 32) = 32


def kmalloc(size: int) -> int:
    return next(c for c in (8, 16, 32, 64, 96, 128, 192, 256, 512) if size <= c)


# ---- the operation streams --------------------------------------------------------------

class _Recorder:
    """A World that hands out handles in order, like the engine does."""

    def __init__(self):
        self.count = 0

    def _next(self, *_args, **_kwargs) -> int:
        self.count += 1
        return self.count - 1

    lock = line = file = _next


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_streams_are_pure_functions_of_seed_and_slot(kind):
    spec = run_spec(workload=WORKLOADS[kind], copies=4).workload

    def first(slot, seed=3):
        gen = GENERATORS[kind](spec, Context(4, 1, (0, 0, 0, 0), (0, 1, 2, 3)))
        gen.declare(_Recorder())
        return list(itertools.islice(as_ops(gen.batches(slot, stream(seed, WORKLOAD, slot))), 3))

    assert first(1) == first(1)
    assert first(1) != first(2) and first(1) != first(1, seed=4)


# ---- the shape of results ---------------------------------------------------------------

def execl(topology, design, copies, workload="execl", **extra):
    from orchestrator.presets import resolve
    from orchestrator.spec import read_yaml
    spec = run_spec(topology, workload=read_yaml(resolve("workloads", workload)), strategy=design,
                    copies=copies, duration_ms=4, warmup_ms=1, **extra)
    return simulate(spec).metrics


def test_single_scales_then_stops():
    runs = {c: execl("milan-2n-256", "single", c) for c in (1, 2, 16, 64)}
    x = {c: m["throughput_per_s"] for c, m in runs.items()}
    assert x[2] > 1.7 * x[1]          # scales while the lock is idle
    # then the lock saturates: four times the copies buy nothing, so each exec takes longer
    # (Little's law; the short window sees only the execs that finish), the extra time spent
    # waiting for locks
    assert 0.7 * x[16] < x[64] < 1.15 * x[16]
    assert runs[64]["response_mean_ns"] > 2 * runs[16]["response_mean_ns"]
    assert runs[64]["wait_mean_ns"] > 2 * runs[16]["wait_mean_ns"]


def test_split_node_slower_than_single_on_one_node():
    """One node, one tree: split-node is single plus two atomics per change, a lock round trip per
    unlinked VMA and two per split. Paired by seed (same ops), it loses every time, and by a
    bounded amount."""
    ratios = [execl("genoa-1n-128", "split-node", 32, seed=seed)["throughput_per_s"] /
              execl("genoa-1n-128", "single", 32, seed=seed)["throughput_per_s"] for seed in (1, 2, 3)]
    assert max(ratios) < 1.0
    assert sum(ratios) / 3 > 0.7  # a split takes two locks, an unlink batch one per VMA


def test_split_node_helps_on_the_seeds_machine():
    one = execl("hygon-12n-384", "single", 96)["throughput_per_s"]
    split = execl("hygon-12n-384", "split-node", 96)["throughput_per_s"]
    assert split > 2 * one


def test_reclaim_walks_pay_for_every_tree_lock():
    """A reclaim walk under split-node takes all eight trees' rwsems and descends eight trees."""
    light = {"kind": "execl", "walkers": {"reclaim_per_node_per_s": 2000},
             "files": [{**f, "background_vmas": 0} for f in SMALL_FILES]}

    def walk(design, copies):
        spec = run_spec("rome-8n-256", workload=light, strategy=design, copies=copies,
                        duration_ms=10, warmup_ms=1)
        metrics = simulate(spec).metrics
        assert metrics["walks"] + metrics["walks_contended"] > 20
        return metrics

    # one copy: nothing contends, yet the walk takes eight locks on eight nodes' lines, not one
    assert walk("split-node", 1)["walk_p50_ns"] > 2 * walk("single", 1)["walk_p50_ns"]
    # a copy per node: each of the eight locks is often busy with its node's changes, and the
    # walk (a try-lock walk, folio_referenced) gives up on the first busy one
    def gave_up(metrics):
        return metrics["walks_contended"] / (metrics["walks"] + metrics["walks_contended"])

    assert gave_up(walk("split-node", 8)) > gave_up(walk("split-node", 1)) + 0.1
