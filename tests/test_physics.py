"""The lock physics: when spinners sleep (need_resched, and model version 3's hazard rule), what
spinning costs, contended atomics, walkers as the kernel runs them, and exec's global locks by
release."""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path

import pytest

from orchestrator.generators.mm import percpu_allocations
from orchestrator.sim import locks, ops, rng
from orchestrator.sim.driver import Driver
from orchestrator.sim.engine import Engine
from orchestrator.sim.locks import RWSEM
from orchestrator.sim.machine import Machine
from orchestrator.simulate import simulate
from orchestrator.spec.kernel import KernelSpec
from orchestrator.spec.numactl import parse_numactl

from simhelp import run_spec
from test_engine import IDLE, R, W, access, grants, scripted, topology

# ---- the engine's generator --------------------------------------------------------------

def test_engine_generator_is_splitmix64():
    """Bit for bit the published splitmix64: seeded with 0 its first output is 0xE220A8397B1DCDAF
    (the reference implementation's state starts at the seed and adds the golden gamma)."""
    engine, _ = scripted([[], [], []], kernel={"spin_mean_ns": 1_000})
    driver = Driver(engine)
    driver.S.rng[0] = 0
    assert driver.call(rng.next_random, 0) == 0xE220A8397B1DCDAF
    assert len({int(driver.call(rng.next_random, slot)) for slot in range(3)}) == 3  # unrelated streams
    assert 0 < driver.call(locks.spin_time, 1) < 50_000


# ---- sleeping that depends on waiting -----------------------------------------------------

def closed_loop(topology_name: str, copies: int, kernel: dict, seed: int = 1):
    """A saturated lock: 10 us holds, 100 us think (saturation from about 11 copies)."""
    return simulate(run_spec(topology_name, copies=copies, seed=seed, duration_ms=20, warmup_ms=5,
                             kernel=kernel, workload={"think_ns": 100_000, "hold_ns": 10_000}))


def lock_busy_share(result) -> float:
    """Share of the measured time the lock was held."""
    held = sum(row["hold_total_ns"] for row in result.locks)
    return held / (result.spec.duration_ms * 1e6)


def mean_throughput(topology_name: str, copies: int, kernel: dict) -> float:
    return statistics.mean(closed_loop(topology_name, copies, kernel, seed).metrics["throughput_per_s"]
                           for seed in (1, 2, 3))


def test_one_task_per_cpu_spins_and_never_sleeps():
    """need_resched (the default rule): with one copy per CPU and nothing else runnable, the tick
    never asks a spinner to reschedule (kernel/sched/fair.c), so waiters never sleep and the wait
    goes into spinning; with a second task runnable on every CPU, spinners are asked once their
    slice is used up, and sleep."""
    alone = closed_loop("milan-2n-256", 256, {})
    assert alone.locks[0]["sleeps"] == 0 and alone.metrics["cpu_sleep_share"] == 0
    assert alone.metrics["cpu_spin_share"] > 0.5 and alone.locks[0]["spin_ns"] > 0
    crowded = closed_loop("milan-2n-256", 256, {"background_tasks": 1})
    assert crowded.locks[0]["sleeps"] > 100 and crowded.metrics["cpu_sleep_share"] > 0


def test_reschedule_comes_after_the_slice_at_a_tick():
    """Two runnable tasks on a CPU: the spinner has already used a uniform part of its slice, and
    need_resched is noticed at the next tick: never later than a slice and a tick."""
    from orchestrator.sim.layout import slice_ns

    assert slice_ns((6, 12), 128) == (3_000_000, 3_000_000)  # EEVDF: 0.75 ms x (1 + ilog2(8))
    assert slice_ns((6, 18), 128) == (2_800_000, 2_800_000)  # 0.70 ms from 6.15
    assert slice_ns((6, 5), 128) == (24_000_000, 3_000_000)  # CFS: 6 ms and 0.75 ms, x 4
    assert slice_ns((6, 5), 2) == (12_000_000, 1_500_000)
    engine, _ = scripted([[], []], kernel={"hz": 250})
    driver = Driver(engine)
    times = [driver.call(locks.resched_time, 0, 1) for _ in range(200)]
    assert all(0 < t <= 2_800_000 + 4_000_000 for t in times)
    assert len(set(times)) > 100  # drawn from the engine's generator


def test_hazard_rule_loses_throughput_as_waiters_grow():
    """Model version 3's rule (a random give-up time whatever runs on the CPU): past saturation,
    waits outgrow the spin time, waiters sleep, wait in line and come back through wakeups and
    handoffs. Kept selectable for comparison; the kernel does not do this with one task per CPU."""
    hazard = {"spin_rule": "hazard"}
    far = closed_loop("milan-2n-256", 256, hazard)
    row = far.locks[0]
    assert row["sleeps"] > 100 and row["handoffs"] > 100 and row["sleep_ns"] > row["spin_ns"] > 0
    assert far.metrics["cpu_sleep_share"] > 0.5
    assert lock_busy_share(far) < 0.97  # idle gaps between holders: handoff transfers, wakeups


def test_spinning_forever_without_spin_costs_plateaus():
    """The rule of model version 2 taken to its limit, on a machine where nothing costs:
    nobody sleeps and throughput stays at its saturation level."""
    forever = {"spin_rule": "fixed", "spin_limit_ns": None}
    far = closed_loop("ideal", 256, forever)
    assert far.locks[0]["sleeps"] == 0 and far.locks[0]["handoffs"] == 0
    assert lock_busy_share(far) > 0.995  # never idle while anyone waits
    assert mean_throughput("ideal", 256, forever) > 0.97 * mean_throughput("ideal", 16, forever)


def test_spin_times_come_from_the_engine_generator_and_repeat():
    spec = run_spec("ideal", copies=64, duration_ms=5, workload={"think_ns": 20_000, "hold_ns": 2_000},
                    kernel={"spin_mean_ns": 20_000})
    first, again = simulate(spec), simulate(spec)
    assert first.locks == again.locks and first.metrics["iterations"] == again.metrics["iterations"]
    other = simulate(spec.model_copy(update={"seed": 2}))
    assert other.locks != first.locks


def test_spinners_sleep_when_the_owner_sleeps():
    """owner_on_cpu is re-evaluated while spinning: slot 0 holds lock A and sleeps on lock B
    (reader-owned: its spin is capped at 10.5 us); slot 1, spinning on A, sleeps with it."""
    machine = Machine.build(topology(), 3, "compact")
    engine = Engine(machine, KernelSpec(spin_rule="fixed", spin_limit_ns=None), check=True, end_ns=10**9)
    a = engine.lock("a", "A", RWSEM, 0)
    b = engine.lock("b", "B", RWSEM, 0)
    scripts = [[(ops.ACQUIRE, a, W), (ops.DELAY, 1_000), (ops.ACQUIRE, b, W), (ops.RELEASE, b, W),
                (ops.RELEASE, a, W)],
               [(ops.DELAY, 2_000), (ops.ACQUIRE, a, W), (ops.RELEASE, a, W)],
               access(b, R, 0, 200_000)]
    for script in scripts:
        engine.add_cpu(iter([script, [IDLE] * 4]))
    a_stats = Driver(engine).run().lock_classes["A"].stats[W]
    assert a_stats.sleeps == 1
    # slot 1 spun from 2 us until slot 0 fell asleep at 1 + 10.5 us, then slept until woken
    assert a_stats.spin_ns == pytest.approx(9_500, abs=100)
    assert a_stats.sleep_ns > 180_000


def test_reader_batch_is_woken_with_one_atomic():
    engine, _ = scripted([access(0, W, 0, 20_000), access(0, R, 1_000, 1_000), access(0, R, 2_000, 1_000),
                          access(0, R, 3_000, 1_000)], kernel={"spin_rule": "fixed", "spin_limit_ns": 0})
    readers = [start for slot, mode, start in grants(Driver(engine).run()) if mode == R]  # a --check run
    assert len(readers) == 3 and len(set(readers)) == 1  # one count update: they all run together


# ---- what spinning costs -------------------------------------------------------------------

def test_a_spinning_sibling_costs_less_than_a_busy_one():
    """Slot 0 (CPU 0) holds lock `a` for 10 us from 100 ns; slot 2 (CPU 1, its SMT sibling) either
    works, or waits on lock `b` (which slot 1 holds) spinning or asleep. A working sibling slows
    the critical section by smt_slowdown, a PAUSE-spinning one by smt_spin_slowdown, a sleeping
    one not at all."""
    def hold_of_a(sibling: str):
        machine = Machine.build(topology(costs_ns={"smt_slowdown": 1.5, "smt_spin_slowdown": 1.1}), 3, "compact")
        assert machine.siblings[0] == (2,)
        kernel = KernelSpec(spin_rule="fixed", spin_limit_ns=0 if sibling == "asleep" else None)
        engine = Engine(machine, kernel, check=True, end_ns=10**9)
        a = engine.lock("a", "A", RWSEM, 0)
        b = engine.lock("b", "B", RWSEM, 0)
        third = [(ops.DELAY, 50_000)] if sibling == "works" else access(b, W, 0, 1_000)
        for script in (access(a, W, 100, 10_000), access(b, W, 0, 50_000), third):
            engine.add_cpu(iter([script, [IDLE] * 4]))
        return Driver(engine).run().lock_classes["A"].stats[W].hold_max

    assert hold_of_a("works") == 15_000
    assert hold_of_a("spins") == 11_000
    assert hold_of_a("asleep") == 10_000


def test_cpu_time_shares_add_up_and_show_spinning():
    spec = run_spec("laptop-1n-8", copies=8, duration_ms=5, warmup_ms=1,
                    workload={"think_ns": 2_000, "hold_ns": 1_000}, kernel={"spin_rule": "fixed",
                                                                            "spin_limit_ns": None})
    m = simulate(spec).metrics
    shares = [m[f"cpu_{k}_share"] for k in ("work", "spin", "sleep", "idle")]
    assert sum(shares) == pytest.approx(1.0, abs=1e-9)
    assert m["cpu_spin_share"] > 0.3 and m["cpu_sleep_share"] == 0


# ---- both outcomes of one CPU model: collapse past the peak, or holding near it -----------

XEON = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "xeon-2s-128.numactl"


def xeon(scale: float):
    """2 sockets x 32 cores x 2 threads from numactl text, latencies scaled within their range."""
    topo = parse_numactl(XEON.read_text(), str(XEON), "xeon-2s-128", threads_per_core=2)
    lat = topo.latency_ns
    scaled = lat.model_copy(update={"smt": round(lat.smt * scale), "node": round(lat.node * scale),
                                    "remote": {d: round(v * scale) for d, v in lat.remote.items()}})
    return topo.model_copy(update={"latency_ns": scaled})


def execl_curve(topo, kernel: dict, costs: dict, copies=(8, 16, 32, 128)) -> dict[int, float]:
    topo = topo.model_copy(update={"costs_ns": topo.costs_ns.model_copy(update=costs)})
    curve = {}
    for c in copies:
        runs = [simulate(run_spec("ideal", copies=c, seed=seed, duration_ms=15, warmup_ms=5, kernel=kernel,
                                  workload={"kind": "execl"}).model_copy(update={"topology": topo}))
                for seed in (1, 2, 3)]
        curve[c] = statistics.mean(r.metrics["throughput_per_s"] for r in runs)
    return curve


def test_single_execl_falls_past_its_peak_when_lines_and_handoffs_are_dear():
    """One end of the ranges: line transfers at 1.3x the latency tiers, three lock-word transfers
    per handoff, a PAUSE-spinning sibling costing 1.2x. Nobody sleeps (one copy per CPU); once
    copies fill every core and their siblings, each handoff and each critical section costs
    more, and throughput falls past the peak, with most CPU time spent spinning."""
    curve = execl_curve(xeon(1.3), {"handoff_line_transfers": 3}, {"smt_spin_slowdown": 1.2})
    assert curve[128] <= 0.8 * max(curve.values())


def test_single_execl_holds_near_its_peak_when_lines_and_handoffs_are_cheap():
    """The other end: transfers at 0.7x, one lock-word transfer per handoff, spinning siblings
    free: the lock stays as busy past the peak as at it."""
    curve = execl_curve(xeon(0.7), {"handoff_line_transfers": 1}, {"smt_spin_slowdown": 1.0})
    assert curve[128] >= 0.95 * max(curve.values())


# ---- contended atomics ---------------------------------------------------------------------

def execl_run(topology_name, copies, kernel=None, workload=None, strategy="single", seed=1, duration_ms=4):
    return simulate(run_spec(topology_name, copies=copies, seed=seed, duration_ms=duration_ms, warmup_ms=1,
                             strategy=strategy, kernel=kernel or {}, workload={"kind": "execl", **(workload or {})}))


def test_lockref_falls_back_to_its_spinlock_past_the_retry_limit():
    """Eight CPUs update one lockref at once with a retry limit of 3: the first three loop
    (0, 1, 2 failures), the fourth gives up after 3 and takes d_lock; the rest find d_lock
    held and take it at once, as lib/lockref.c's loop runs only while the spinlock is free."""
    machine = Machine.build(topology(), 8, "compact")
    engine = Engine(machine, KernelSpec(lockref_retry_limit=3), check=True, end_ns=10**9)
    line = engine.line("dentry.lockref", 0)
    d_lock = engine.lock("dentry.d_lock", "dentry->d_lock", "spinlock", 0, line=line)
    for _ in range(8):
        engine.add_cpu(iter([[(ops.CMPXCHG, line, d_lock)], [IDLE] * 4]))
    measured = Driver(engine).run()
    assert measured.lockref_fallbacks == 5
    assert measured.lock_classes["dentry->d_lock"].stats[W].acquisitions == 5


# ---- walkers as the kernel runs them -------------------------------------------------------

RECLAIM = {"walkers": {"reclaim_per_node_per_s": 20_000}}


def test_a_contended_reclaim_walk_gives_up_and_never_blocks():
    result = execl_run("milan-2n-256", 64, workload=RECLAIM)
    assert result.metrics["walks_contended"] > 0
    assert execl_run("milan-2n-256", 1, workload=RECLAIM).metrics["walks"] > 0  # uncontended: it walks
    read = [row for row in result.locks if row["lock_class"] == "i_mmap_rwsem" and row["mode"] == "read"]
    assert not any(row["contentions"] for row in read)  # a trylock never queues


def test_truncate_waits_for_the_lock():
    result = simulate(run_spec("milan-2n-256", copies=64, duration_ms=4, warmup_ms=1,
                               workload={"kind": "mmap-churn", "walkers": {"truncate_per_s": 50_000}}))
    assert result.metrics["walks_contended"] == 0
    read = [row for row in result.locks if row["lock_class"] == "i_mmap_rwsem" and row["mode"] == "read"]
    assert read[0]["contentions"] > 0


def test_walkers_take_free_cpus_and_share_when_copies_fill_the_machine():
    topo = topology()
    free = Machine.build(topo, 6, "spread", helpers=(0, 1, 2))
    assert free.walker_cpus == "free" and not set(free.cpus[6:]) & set(free.cpus[:6])
    full = Machine.build(topo, 12, "spread", helpers=(0, 1, 2))
    assert full.walker_cpus == "shared"
    assert [full.node[slot] for slot in (12, 13, 14)] == [0, 1, 2]  # each on its own node
    assert Machine.build(topo, 4, "spread").walker_cpus == "none"


# ---- exec's other global serialization -----------------------------------------------------

def test_percpu_allocations_follow_the_kernel_release():
    assert percpu_allocations("5.15") == (0, 0)   # rss_stat were not per-CPU yet
    assert percpu_allocations("6.2") == (4, 4)    # four percpu_counter_init, no mm_cid yet
    assert percpu_allocations("6.5") == (5, 4)    # + mm_cid's alloc_percpu
    assert percpu_allocations("6.18") == (2, 1)   # grouped: percpu_counter_init_many


@pytest.mark.parametrize("release, mutex_per_exec", [("5.15", 0), ("6.5", 5), ("6.18", 2)])
def test_exec_takes_the_allocator_mutex_per_release(release, mutex_per_exec):
    result = execl_run("laptop-1n-8", 2, kernel={"release": release})
    classes: Counter = Counter()
    for row in result.locks:  # a class's rows, one per caller
        classes[row["lock_class"]] += row["acquisitions"]
    execs = result.metrics["iterations"]
    assert classes["pgd_lock"] == pytest.approx(2 * execs, rel=0.1)  # pgd_alloc and pgd_free
    assert classes.get("pcpu_alloc_mutex", 0) == pytest.approx(mutex_per_exec * execs, rel=0.1)


def test_bad_release_is_a_user_error(orch, tmp_path):
    result = orch("run", "-t", "laptop-1n-8", "-w", "execl", "--set", "kernel.release=six", "--duration-ms", "1")
    assert result.code == 2 and "kernel.release" in result.err and "Traceback" not in result.err
