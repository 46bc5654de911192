"""Engine semantics: locks as rwsem.c, cache-line costs, trees, determinism, invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.sim import layout, lines, locks, ops, state, trees
from orchestrator.sim.driver import CheckFailure, Driver, LockViolation
from orchestrator.sim.engine import Engine
from orchestrator.sim.locks import RWSEM
from orchestrator.sim.machine import Machine, cpu_order
from orchestrator.simulate import build, local_streams, simulate
from orchestrator.spec import Topology, validate
from orchestrator.spec.kernel import KernelSpec
from orchestrator.spec.strategy import StrategySpec
from orchestrator.strategies.base import FileDecl
from orchestrator.strategies.single import Single

from simhelp import run_spec

IDLE = (ops.DELAY, 10**13)

THREE_NODES = {
    "name": "three",
    "nodes": [{"cpus": "0-3"}, {"cpus": "4-7"}, {"cpus": "8-11"}],
    "distance": [[10, 16, 22], [16, 10, 22], [22, 22, 10]],
    "hierarchy": {"l3_groups": ["0-1", "2-3", "4-5", "6-7", "8-9", "10-11"],
                  "smt_siblings": ["0,1", "2,3", "4,5", "6,7", "8,9", "10,11"]},
    "latency_ns": {"smt": 10, "l3": 30, "node": 100, "remote": {16: 200, 22: 300}},
    "costs_ns": {"lock_op": 0, "wakeup": 5_000, "tree_level": 0, "smt_slowdown": 1.0},
    "home_node_effect": True,
}


def topology(**changes) -> Topology:
    return validate(Topology, {**THREE_NODES, **changes}, "test")


def scripted(scripts, kernel=None, topo=None, placement="compact", check=True, end_ns=10**9):
    """An engine whose slot i runs scripts[i] once, then idles; one rwsem on node 0. With check
    (the default), its run keeps a trace of the grants."""
    machine = Machine.build(topo or topology(), len(scripts), placement)
    engine = Engine(machine, KernelSpec(**(kernel or {})), check=check, end_ns=end_ns)
    lock = engine.lock("l", "test", RWSEM, 0)
    for script in scripts:
        engine.add_cpu(iter([list(script), [IDLE] * 4]))
    return engine, lock


def grants(measured) -> list[tuple[int, int, int]]:
    """(slot, mode, start) of every grant of a --check run, in the order the lock made them."""
    return [(slot, mode, start) for _, slot, mode, start in measured.grants]


W, R = ops.WRITE_MODE, ops.READ_MODE


def access(lock, mode, at, hold):
    return [(ops.DELAY, at), (ops.ACQUIRE, lock, mode), (ops.HOLD, hold), (ops.RELEASE, lock, mode)]


# ---- rwsem rules ------------------------------------------------------------------------

def test_woken_writer_finds_the_lock_stolen():
    engine, lock = scripted([access(0, W, 0, 10_000), access(0, W, 1_000, 10_000),
                             access(0, W, 12_000, 10_000)], kernel={"spin_rule": "fixed", "spin_limit_ns": 0})
    granted = grants(Driver(engine).run())
    # compact: slots 0, 1, 2 run on CPUs 0, 2, 1. Slot 1 sleeps; woken at 10.2 us it runs at
    # 15.2 us and retries (a cmpxchg on the count under wait_lock), but slot 2 took the lock at
    # 12 us (10 ns from its SMT sibling) and holds it until 22.01 us. Its release pulls the count
    # back from slot 1 (100 ns) and takes wait_lock from it (100 ns) to wake it; slot 1 runs after
    # the 5 us wakeup and takes wait_lock and the count from slot 2 (100 ns each).
    assert [g[0] for g in granted] == [0, 2, 1]
    assert granted[1][2] == 12_000 + 10
    assert granted[2][2] == 22_010 + 100 + 100 + 5_000 + 100 + 100


def test_readers_woken_together_past_a_writer():
    engine, lock = scripted([access(0, W, 0, 10_000), access(0, R, 1_000, 5_000),
                             access(0, W, 2_000, 5_000), access(0, R, 3_000, 5_000)],
                            kernel={"spin_rule": "fixed", "spin_limit_ns": 0})
    granted = grants(Driver(engine).run())
    assert [(g[0], g[1]) for g in granted] == [(0, W), (1, R), (3, R), (2, W)]
    assert granted[1][2] == granted[2][2]  # the readers are woken together
    assert granted[3][2] > granted[2][2] + 5_000  # the writer waits for both readers


def test_spinner_before_sleeper_unless_handoff():
    # slot 1 spins 15 us and sleeps at 16 us; slots 2 and 3 arrive at 30 and 31 us and spin.
    # Slot 0 releases at 32 us: the osq head (slot 2) takes the lock for 10 us and slot 1 is
    # woken, runs at 37 us and finds the lock taken.
    scripts = [access(0, W, 0, 32_000), access(0, W, 1_000, 1_000), access(0, W, 30_000, 10_000),
               access(0, W, 31_000, 1_000)]
    engine, _ = scripted(scripts, kernel={"spin_rule": "fixed", "spin_limit_ns": 15_000})
    measured = Driver(engine).run()
    assert [g[0] for g in grants(measured)] == [0, 2, 3, 1]  # slot 1 sleeps again: the spinners win
    assert measured.lock_classes["test"].stats[W].handoffs == 0
    engine, _ = scripted(scripts, kernel={"spin_rule": "fixed", "spin_limit_ns": 15_000, "handoff_ns": 20_000})
    measured = Driver(engine).run()
    # at 37 us slot 1 has waited 21 us >= 20 us: it reserves the lock and spins on the owner,
    # so slot 2's release goes to it although slot 3 spins on the osq
    assert [g[0] for g in grants(measured)] == [0, 2, 1, 3]
    stats = measured.lock_classes["test"].stats[W]
    assert stats.handoffs == 1 and stats.sleeps == 1


def test_reader_queues_behind_a_sleeping_writer_not_a_spinning_one():
    scripts = [access(0, R, 0, 20_000), access(0, W, 1_000, 1_000), access(0, R, 2_000, 1_000)]
    engine = scripted(scripts, kernel={"spin_rule": "fixed", "spin_limit_ns": 0})[0]
    # slot 2 could share the read lock, but a writer sleeps in the wait list: it queues too
    assert [g[0] for g in grants(Driver(engine).run())] == [0, 1, 2]
    engine = scripted(scripts, kernel={"spin_rule": "fixed", "spin_limit_ns": None})[0]
    # a spinning writer is not on the wait list: the reader joins the readers at once
    assert [g[0] for g in grants(Driver(engine).run())] == [0, 2, 1]


def test_writer_spin_on_reader_owned_lock_is_capped():
    engine, _ = scripted([access(0, R, 0, 100_000), access(0, W, 1_000, 1_000)],
                         kernel={"spin_rule": "fixed", "spin_limit_ns": None})
    stats = Driver(engine).run().lock_classes["test"].stats[W]
    assert stats.sleeps == 1  # spun (10 + 1/2) us on the reader-owned lock, then slept
    assert stats.wait_max >= 99_000 + 5_000  # and paid a wakeup


def test_spinlock_never_sleeps():
    machine = Machine.build(topology(), 3, "compact")
    engine = Engine(machine, KernelSpec(spin_rule="fixed", spin_limit_ns=0), check=True, end_ns=10**9)
    lock = engine.lock("s", "spin", "spinlock", 0)
    for at in (0, 100, 200):
        engine.add_cpu(iter([access(lock, W, at, 10_000), [IDLE] * 4]))
    stats = Driver(engine).run().lock_classes["spin"].stats[W]
    assert stats.acquisitions == 3 and stats.contentions == 2 and stats.sleeps == 0


def test_mutual_exclusion_violation_is_caught():
    """--check has teeth: granting a held write lock to a second writer is reported."""
    engine, lock = scripted([[], []])
    driver = Driver(engine)
    driver.call(locks.take, lock, 0, W, 0)
    with pytest.raises(LockViolation, match="writer 1 granted while held"):
        driver.call(locks.take, lock, 1, W, 10)


def test_release_without_holding_is_caught():
    engine, _ = scripted([[(ops.RELEASE, 0, W)]])
    with pytest.raises(LockViolation):
        Driver(engine).run()


# ---- cache lines ------------------------------------------------------------------------

class Lines:
    """The cache lines of a 12-CPU machine whose slot i runs on CPU i, called as the engine does."""

    def __init__(self, names=("x",), homes=(0,), **changes):
        machine = Machine.build(topology(**changes), 12, "compact")
        order = sorted(range(12), key=lambda slot: machine.cpus[slot])
        machine.latency = [[machine.latency[a][b] for b in order] for a in order]
        machine.to_node = [machine.to_node[a] for a in order]
        machine.node = [machine.node[a] for a in order]
        engine = Engine(machine, KernelSpec(), end_ns=1)
        self.ids = [engine.line(name, home) for name, home in zip(names, homes)]
        for _ in range(12):
            engine.add_cpu(iter(()))
        self.driver = Driver(engine)

    def __getattr__(self, name):  # lines.write(line, slot) -> sim.lines.write(state, line, slot)
        return lambda *args: self.driver.call(getattr(lines, name), *args)

    @property
    def counts(self) -> tuple[int, int]:
        return self.driver.reg(state.LOCAL), self.driver.reg(state.REMOTE)


def test_transfer_costs_by_tier():
    bank = Lines()
    line = bank.ids[0]
    assert bank.write(line, 0) == 100       # from memory on its own node
    assert bank.write(line, 0) == 0         # owned already
    assert bank.write(line, 1) == 10        # SMT sibling
    assert bank.write(line, 2) == 100       # same node, other L3
    assert bank.write(line, 4) == 200       # SLIT 16
    assert bank.write(line, 8) == 300       # SLIT 22
    assert bank.counts == (3, 2)


def test_home_node_effect():
    bank = Lines(homes=(2,))                 # homed on node 2
    bank.write(0, 0)
    # node 0 -> node 1 is SLIT 16 (200 ns), but both are away from node 2 (300 ns away)
    assert bank.write(0, 4) == 300
    symmetric = Lines(homes=(2,), home_node_effect=False)
    symmetric.write(0, 0)
    assert symmetric.write(0, 4) == 200


def test_reads_share_and_writes_invalidate():
    bank = Lines()
    bank.write(0, 0)
    assert bank.read(0, 8) == 300 and bank.read(0, 8) == 0
    assert bank.read(0, 4) == 200
    assert bank.write(0, 0) == 300       # invalidating the farthest sharer


def test_atomics_serialize_and_cmpxchg_retries_grow_with_contention():
    bank = Lines()
    bank.write(0, 0)
    assert bank.atomic(0, 4, 0) == 200
    assert bank.atomic(0, 8, 0) == 200 + 300  # waits for the first RMW, then transfers
    # cmpxchg loops started together: the n-th fails once per RMW in flight before it, each
    # failure one more transfer, so transfers per update grow with contenders, without a cap
    loop = Lines(names=("y",))
    loop.driver.S = layout.with_lockrefs(loop.driver.S, [0])  # as the encoder asks for a CMPXCHG's line
    transfers = []
    for slot in (2, 4, 8, 10, 6):
        before = sum(loop.counts)
        cost, done = loop.cmpxchg(0, slot, 0, 100)
        assert done
        transfers.append(sum(loop.counts) - before)
    assert transfers == [1, 2, 3, 4, 5]
    # past the retry limit the loop gives up after that many failures (lockref: take the spinlock)
    cost, done = loop.cmpxchg(0, 0, 0, 3)
    assert not done and cost >= 3 * 200


def test_placement_spread_and_compact():
    topo = topology()
    assert cpu_order(topo, "compact")[:4] == [0, 2, 1, 3]       # physical cores first
    assert cpu_order(topo, "spread")[:6] == [0, 4, 8, 2, 6, 10]  # round-robin over nodes


def test_smt_siblings_are_the_slots_sharing_a_core():
    topo = topology(costs_ns={"smt_slowdown": 1.5})
    assert Machine.build(topo, 2, "compact").siblings == [(), ()]       # CPUs 0 and 2: two cores
    assert Machine.build(topo, 3, "compact").siblings == [(2,), (), (0,)]  # CPU 1 is CPU 0's sibling


# ---- trees and i_mmap ops ---------------------------------------------------------------

interval = st.tuples(st.integers(0, 40), st.integers(0, 8)).map(lambda p: (p[0], p[0] + p[1]))


@st.composite
def imm_scripts(draw):
    """Per-CPU i_mmap op scripts over one file; each CPU owns its VMAs, like a process."""
    cpus = draw(st.integers(1, 4))
    scripts, alive_all = [], set()
    next_id = 1000
    for _cpu in range(cpus):
        alive: dict[int, tuple[int, int]] = {}
        script = []
        for _ in range(draw(st.integers(1, 25))):
            action = draw(st.sampled_from(["link", "link", "unlink", "split", "dup", "walk"]))
            script.append((ops.DELAY, draw(st.integers(0, 3_000))))
            if action == "link" or (action != "walk" and not alive):
                first, last = draw(interval)
                next_id += 1
                alive[next_id] = (first, last)
                script.append((ops.IMMAP, ops.LINK, 0, (next_id, first, last)))
            elif action == "unlink":
                victims = sorted(alive)[: draw(st.integers(1, 8))]
                script.append((ops.IMMAP, ops.UNLINK_BATCH, 0, tuple((v, *alive.pop(v)) for v in victims)))
            elif action == "split":
                vma = sorted(alive)[0]
                first, last = alive[vma]
                if last > first:
                    cut = first + 1
                    next_id += 1
                    alive[vma], alive[next_id] = (first, cut - 1), (cut, last)
                    script.append((ops.IMMAP, ops.SPLIT, 0, (vma, first, last), (vma, first, cut - 1),
                                   (next_id, cut, last)))
            elif action == "dup":
                parent = sorted(alive)[-1]
                next_id += 1
                alive[next_id] = alive[parent]
                script.append((ops.IMMAP, ops.DUP, 0, (parent, *alive[parent]), (next_id, *alive[parent])))
            else:
                first, last = draw(interval)
                script.append((ops.IMMAP, ops.RMAP_WALK, 0, first, last))
        scripts.append(script)
        alive_all |= set(alive.items())
    return scripts, alive_all


PRELOAD = [(v, v % 30, v % 30 + 3, v % 3, -1) for v in range(40)]


def run_single(scripts, check=True):
    """One file under mainline's design (slot i on node i % 3), each slot running its script:
    the run's driver, after the run, and what it measured."""
    machine = Machine.build(topology(), len(scripts), "spread")
    engine = Engine(machine, KernelSpec(), check=check, end_ns=10**10)
    strategy = Single(StrategySpec(name="single"), engine, machine)
    engine.expand = strategy.expand
    strategy.add_file(FileDecl("libc", 0, PRELOAD))
    for script in scripts:
        engine.add_cpu(iter([list(script), [IDLE] * 4]))
    driver = Driver(engine)
    return driver, driver.run()


@settings(max_examples=60, deadline=None)
@given(imm_scripts())
def test_vmas_conserved_and_walks_exact(case):
    scripts, alive = case
    driver, _ = run_single(scripts)  # --check counts VMAs in and out of the trees
    expected = {(v, (lo, hi)) for v, lo, hi, _, _ in PRELOAD} | alive
    assert set(driver.tree_members(0).items()) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "remove", "query"]), interval), max_size=60))
def test_tree_queries_match_brute_force(actions):
    driver, _ = run_single([[]], check=False)
    reference: dict[int, tuple[int, int]] = {}
    for i, (action, (first, last)) in enumerate(actions):
        if action == "add":
            vma = 10_000 + i  # apart from the preloaded VMAs (0-39)
            driver.call(trees.insert, 0, driver.encoder.new_vma(0, vma), vma, first, last, 0, True)
            reference[vma] = (first, last)
        elif action == "remove" and reference:
            victim = sorted(reference)[first % len(reference)]
            driver.call(trees.remove, 0, driver.encoder.vma_ids.pop(victim), 0)
            del reference[victim]
        else:
            _, found = driver.call(trees.query, 0, first, last, 0)
            members = driver.tree_members(0).values()
            assert found == sum(1 for lo, hi in members if lo <= last and hi >= first)
    assert {v: span for v, span in driver.tree_members(0).items() if v >= 10_000} == reference


def test_walk_latency_is_measured():
    scripts = [[(ops.IMMAP, ops.RMAP_WALK, 0, 0, 50)] * 3]
    _, measured = run_single(scripts)
    assert measured.walks.total == 3


def test_tree_cost_grows_with_remote_writers():
    """Unlinking VMAs that CPUs on other nodes linked costs more than unlinking local ones."""
    def unlink_cost(linker_slot):
        driver, _ = run_single([[]] * 3, check=False)
        for v in range(100):
            vma = driver.encoder.new_vma(linker_slot, 10_000 + v)
            driver.call(trees.insert, 0, vma, 10_000 + v, v, v + 1, linker_slot, True)
        return sum(driver.call(trees.remove, 0, driver.encoder.vma_ids.pop(10_000 + v), 0) for v in range(100))
    assert unlink_cost(2) > unlink_cost(0)  # spread: slot 2 is on node 2, slot 0 on node 0


# ---- whole runs -------------------------------------------------------------------------

def test_same_seed_same_result_other_seed_differs():
    spec = run_spec("hygon-12n-384", copies=48, duration_ms=2, workload={"read_fraction": 0.3})
    a, b = simulate(spec), simulate(spec)

    def strip(m):
        return repr({k: v for k, v in m.items() if k not in ("wall_s", "events_per_s")})
    assert strip(a.metrics) == strip(b.metrics) and a.locks == b.locks and a.timeseries == b.timeseries
    c = simulate(spec.model_copy(update={"seed": 2}))
    assert strip(c.metrics) != strip(a.metrics)


def test_streams_do_not_depend_on_strategy_or_timing():
    from orchestrator.generators.base import Context
    from orchestrator.generators.closed_loop import ClosedLoop
    from orchestrator.sim.streams import WORKLOAD, stream
    spec = run_spec(copies=4, workload={"read_fraction": 0.5}).workload

    class Recorder:
        def lock(self, *a):
            return 0

    def first_batch(slot):
        gen = ClosedLoop(spec, Context(4, 1, (0, 0, 0, 0), (0, 1, 2, 3)))
        gen.declare(Recorder())
        return next(gen.batches(slot, stream(7, WORKLOAD, slot)))

    assert np.array_equal(first_batch(2), first_batch(2))
    assert not np.array_equal(first_batch(2), first_batch(3))

    # a run consumes exactly these ops, whatever the lock timing: the batches slot 0 executes in
    # a contended and an uncontended run agree, though its timing differs
    def consumed(copies):
        spec = run_spec(copies=copies, duration_ms=2, workload={"think_ns": 100})
        _, _, _, generator = build(spec)
        seen = []

        def streams(slot):
            for batch in local_streams(spec, generator)(slot):
                if slot == 0:
                    seen.append(batch)
                yield batch

        return simulate(spec, streams=streams), seen

    contended, busy_ops = consumed(16)
    calm, calm_ops = consumed(1)
    assert contended.metrics["response_mean_ns"] > 2 * calm.metrics["response_mean_ns"]
    shared = min(len(busy_ops), len(calm_ops))
    assert shared >= 1 and all(np.array_equal(a, b) for a, b in zip(busy_ops[:shared], calm_ops[:shared]))


def test_check_mode_passes_on_mixed_closed_loop():
    spec = run_spec("hygon-12n-384", copies=96, duration_ms=3, kernel={"handoff_ns": 50_000},
                    workload={"read_fraction": 0.4, "locks": 3, "lock_choice": "random"})
    result = simulate(spec, check=True)
    assert result.metrics["iterations"] > 0
    assert {row["mode"] for row in result.locks} == {"read", "write"}


def test_time_going_back_is_caught():
    engine, _ = scripted([access(0, W, 0, 10)])
    driver = Driver(engine)
    driver.S.reg[state.NOW] = 100  # as if an event had been processed out of order
    with pytest.raises(CheckFailure, match="time went back"):
        driver.run()
