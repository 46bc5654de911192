"""Workloads as programs: an iteration is its program filled in, and that is exactly what the
generator would have made, op for op; the engine makes each iteration from its copy's chain
(sim/iterate.py), and its rows are those ops encoded, row for row."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from orchestrator.generators.immap import END, START
from orchestrator.presets import resolve
from orchestrator.sim import layout, ops, state
from orchestrator.sim.driver import Driver
from orchestrator.sim.encoder import Encoder
from orchestrator.sim.iterate import MADE, moved, next_iteration
from orchestrator.sim.programs import (
    DRAINS,
    NEW,
    REFILLS,
    REPEAT,
    REPEAT_END,
    Chain,
    Count,
    Iteration,
    Program,
    Work,
    as_iterations,
    concrete,
    worked,
)
from orchestrator.sim.rng import think_scale, think_scales
from orchestrator.sim.streams import WORKLOAD, stream
from orchestrator.simulate import build, local_streams
from orchestrator.spec import read_yaml

from simhelp import run_spec

KINDS = ["execl", "spawn", "sysexec", "stress-ng-spawn", "doexec"]


def world(kind: str, design: str = "split-node", copies: int = 3):
    spec = run_spec("milan-2n-256", workload=read_yaml(resolve("workloads", kind)), strategy={"name": design},
                    copies=copies, duration_ms=0.01, seed=5)
    machine, engine, strategy, generator = build(spec)
    return spec, engine, strategy, generator


def iterations(spec, generator, slot: int, count: int) -> list[Iteration]:
    return list(itertools.islice(as_iterations(generator.batches(slot, stream(spec.seed, WORKLOAD, slot))), count))


def zone_holds(kind: str, pages: int, counted: list[int]) -> int:
    """The page lists' arithmetic, written again as the reference (counted: allocated, freed,
    batch): a refill whenever the list runs empty (it starts empty), a drain per batch freed."""
    batch = counted[2]
    if kind == REFILLS:
        before = -(-counted[0] // batch)
        counted[0] += pages
        return -(-counted[0] // batch) - before
    before = counted[1] // batch
    counted[1] += pages
    return counted[1] // batch - before


class PageLists:
    """A copy's per-CPU page lists, counted as an iteration goes (not as a program's placeholders)."""

    def __init__(self, batch: int):
        self.counted = [0, 0, batch]

    def refills(self, pages: int) -> int:
        return zone_holds(REFILLS, pages, self.counted)

    def drains(self, pages: int) -> int:
        return zone_holds(DRAINS, pages, self.counted)


def driver_of(spec, engine, generator, streams: dict | None = None) -> Driver:
    """A driver of the run, its CPUs' streams the generator's (or `streams`, by slot)."""
    make = local_streams(spec, generator)
    for slot in range(len(engine.machine.cpus)):
        engine.add_cpu((streams or {}).get(slot) or make(slot))
    return Driver(engine)


# what a copy's next iteration changes: none of it may change when the engine asks for room first
WATCHED = ("it_base", "it_pages", "proc_ids", "proc_vmas", "freed", "freed_n", "ch_at", "think", "p_len", "pc",
           "reg")


def engine_made(driver: Driver, slot: int) -> tuple[list, list]:
    """The copy's next iteration as the engine makes it (room given as the driver would): its
    rows and its pool."""
    while True:
        before = {name: getattr(driver.S, name).copy() for name in WATCHED}
        status = driver.call(next_iteration, slot)
        if status == MADE:
            break
        asked = driver.S.reg[state.ERROR_B]  # the room it asks for: all that may change
        driver.S.reg[state.ERROR_B] = before["reg"][state.ERROR_B]
        assert all(np.array_equal(before[name], getattr(driver.S, name)) for name in WATCHED)
        driver.S.reg[state.ERROR_B] = asked
        driver._grow(status)
    S = driver.S
    return S.prog[slot, :S.p_len[slot]].tolist(), S.pool[slot].tolist()


@pytest.mark.parametrize("kind", KINDS)
def test_an_iteration_is_the_ops_the_generator_makes(kind):
    """The program filled in (concrete) against the generator run op by op, from the same draws;
    for a copy that uses the program another copy made (when they share their files)."""
    spec, _, _, generator = world(kind)
    iterations(spec, generator, 0, 2)
    slot = 1
    made = iterations(spec, generator, slot, 4)
    rng = stream(spec.seed, WORKLOAD, slot)
    copy = generator.new_copy(slot)
    copy.pcp = PageLists(spec.workload.shared.pcp_batch)  # type: ignore[assignment]
    process = generator.start(copy)
    program = None
    think = np.array([rng.bit_generator.random_raw()], dtype=np.uint64)  # the copy's think-time generator
    for it in made:
        program = it.program or program
        expected, process = generator.iteration(copy, process, think_scale(think, 0, generator.spec.think_cv))
        assert concrete(program, it) == [START, *expected, END]
    assert made[0].program is not None and all(it.program is None for it in made[1:])
    assert (made[0].program is iterations(spec, generator, 0, 1)[0].program) == (kind != "doexec")


def shrunk(monkeypatch) -> None:
    """Runs laid out with no room to spare for iterations: each array a copy's iteration needs
    grows (the engine asks, the driver grows it) before it is made."""
    sizes = layout.sizes

    def small(world):
        return {**sizes(world), "programs": 1, "code": 1, "steps": 1, "chain": 1, "olds": 1, "freed": 1,
                "program": 1, "vmas": len(world.preloads) + 1}

    monkeypatch.setattr(layout, "sizes", small)


@pytest.mark.parametrize("kind, design, small", [(k, "split-node", False) for k in KINDS] +
                         [("execl", d, False) for d in ("single", "split-cpu", "inverted", "writer-hold")] +
                         [("execl", "split-node", True), ("sysexec", "inverted", True)])
def test_a_programs_rows_filled_in_are_its_ops_encoded(kind, design, small, monkeypatch):
    """Row for row, with the same engine VMA ids: what the engine makes from each copy's chain
    against the concrete ops encoded, the copies taking turns; and the process each iteration
    leaves. With no room to spare, the same (and asking for room changes nothing first)."""
    if small:
        shrunk(monkeypatch)
    spec, engine, strategy, generator = world(kind, design)
    driver = driver_of(spec, engine, generator)
    encoded = Encoder([iter(())] * 3, strategy.expand)
    encoded.preloaded(engine.preloads[:, 1])
    for slot in range(3):
        driver._refill(slot)  # the copy's chain: the engine makes its iterations from here
        assert driver.S.ch_at[slot] == 0 and driver.S.p_len[slot] == 0
    expected = {slot: iterations(spec, generator, slot, 3) for slot in range(3)}
    program = {}
    for k in range(3):
        for slot in range(3):
            it = expected[slot][k]
            program[slot] = it.program or program[slot]
            rows, pool = engine_made(driver, slot)
            flat: list[int] = []
            want: list[int] = []
            encoded.encode(slot, concrete(program[slot], it), flat, want)
            assert rows == np.array(flat).reshape(-1, ops.ROW).tolist() and pool[:len(want)] == want
            leaves = program[slot].finals_of(it.base, it.old)
            assert driver.S.proc_ids[slot, :len(leaves)].tolist() == list(leaves)
    assert driver.reg(state.VMAS) == encoded.vmas
    assert len(driver.encoder.programs) == (3 if kind == "doexec" else 1)  # copies share a program, not a binary


def test_copies_share_a_program_and_a_copy_of_its_own_file_has_its_own():
    spec, _, _, generator = world("execl")
    assert iterations(spec, generator, 0, 1)[0].program is iterations(spec, generator, 2, 1)[0].program
    spec, _, _, generator = world("doexec")  # a binary per copy
    assert iterations(spec, generator, 0, 1)[0].program != iterations(spec, generator, 2, 1)[0].program


@given(st.integers(0, 10**8), st.floats(0.01, 20), st.floats(0, 1), st.integers(1, 9))
def test_a_delay_is_what_the_generators_arithmetic_makes(exec_ns, scale, share, files):
    delays: list[tuple] = []
    work = exec_ns * Work(delays)
    placeholder = int(work * share / files)
    assert worked(delays[0], scale) == int(exec_ns * scale * share / files)
    assert placeholder < -1


def test_a_program_that_computes_with_a_placeholder_is_refused():
    program = Program(((ops.DELAY, 2 * NEW),), 0, 0, (), (), ())
    with pytest.raises(ValueError, match="computed with a placeholder"):
        Encoder([iter(())], None).encoded(program, 0)


def test_a_program_naming_a_vma_it_does_not_have_is_refused():
    program = Program(((ops.TREE, 0, ops.REMOVE, NEW + 3),), 1, 0, (), (), ())
    with pytest.raises(ValueError, match="neither new nor its process's"):
        Encoder([iter(())], None).encoded(program, 0)


@pytest.mark.parametrize("design", ["single", "split-node", "inverted"])
@pytest.mark.parametrize("counts", [(0, 0), (1, 1), (3, 0), (2, 5)])
def test_a_trylock_in_a_program_jumps_where_its_ops_would(design, counts):
    """Walks that try-lock (their rows point into the pool and skip to the walk's end), after and
    between zone-lock holds repeated per iteration: the targets move with the repeats."""
    spec, engine, strategy, generator = world("execl", design)
    hold = [(ops.ACQUIRE, 0, ops.WRITE_MODE), (ops.HOLD, 5), (ops.RELEASE, 0, ops.WRITE_MODE)]
    walk = (ops.IMMAP, ops.RMAP_WALK, 0, 2, 9, True)
    program = Program(((ops.START,), (REPEAT, 0), *hold, (REPEAT_END,), walk, (REPEAT, 1), *hold, (REPEAT_END,),
                       walk, (ops.END, 0)), 0, 0, (), (), ((REFILLS, counts[0]), (REFILLS, counts[1])))
    chain = Chain((program,), (0,), 0, (), 1, 0.0, 0)  # pages a batch each: a hold per page
    driver = driver_of(spec, engine, generator, {0: iter([chain])})
    driver._refill(0)
    rows, pool = engine_made(driver, 0)
    flat: list[int] = []
    want: list[int] = []
    Encoder([iter(())], strategy.expand).encode(0, concrete(program, Iteration(program, 0, (), (), counts)), flat,
                                                want)
    assert rows == np.array(flat).reshape(-1, ops.ROW).tolist() and pool[:len(want)] == want
    assert any(row[0] == ops.TRY_ACQUIRE for row in rows)


def test_ids_freed_before_a_chain_are_the_copys():
    """A stream may run ops before its Chain: the engine VMA ids they freed are reused by the
    copy's iterations, last freed first, as the encoder would have."""
    spec, engine, _, generator = world("execl")
    file = generator.files[spec.workload.files[0].name]
    vma = (1 << 40, 0, 3)
    chain = next(generator.batches(0, stream(spec.seed, WORKLOAD, 0)))
    before = [(ops.IMMAP, ops.LINK, file, vma), (ops.IMMAP, ops.UNLINK_BATCH, file, (vma,))]
    driver = driver_of(spec, engine, generator, {0: iter([before, chain])})
    driver._refill(0)
    [freed] = driver.encoder.cpus[0].chain.freed
    assert driver.S.ch_at[0] == 0 and driver.S.freed_n[0] == 1 and driver.S.freed[0, 0] == freed
    assert driver.encoder.cpus[0].freed == 0


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(1, 4), st.integers(0, 3)), max_size=4),
       st.integers(0, 40))
@example([(2, 3, 3)], 5)  # at a block's end: after it, which counts 3 times
@example([(2, 3, 0)], 2)  # at a block's start: the block does not count before it
def test_a_row_moves_by_the_repeats_that_end_at_or_before_it(blocks, row):
    """moved(): where a program's row is once its zone-lock blocks are repeated (a trylock and its
    target move so): each block that ends at or before it counts as many times as its count."""
    repeats, at = [], 0
    for gap, length, _ in blocks:
        repeats.append((at + gap, at + gap + length, len(repeats)))
        at += gap + length
    counts = [count for _, _, count in blocks]
    expected = row + sum((counts[i] - 1) * (end - start) for start, end, i in repeats if end <= row)
    assert moved(row, np.array(repeats, dtype=np.int64).ravel(), np.array(counts, dtype=np.int64)) == expected


def test_a_chain_goes_round_and_its_page_counts_carry_over():
    """A chain of two programs whose second leads back to itself, counting zone-lock holds as
    the per-CPU lists fill and drain."""
    hold = [(ops.ACQUIRE, 0, ops.WRITE_MODE), (ops.HOLD, 5), (ops.RELEASE, 0, ops.WRITE_MODE)]
    first = Program(((ops.START,), (ops.DELAY, 1), (ops.END, 0)), 0, 0, (), (), ())
    second = Program(((ops.START,), (REPEAT, 0), *hold, (REPEAT_END,), (REPEAT, 1), *hold, (REPEAT_END,),
                      (ops.END, 0)), 0, 0, (), (), ((REFILLS, 40), (DRAINS, 50)))
    chain = Chain((first, second), (1, 1), 0, (), 63, 0.0, 0)
    spec, engine, _, generator = world("execl", "single")
    driver = driver_of(spec, engine, generator, {0: iter([chain])})
    driver._refill(0)
    counted = [0, 0, 63]
    assert len(engine_made(driver, 0)[0]) == 3
    for _ in range(100):
        refills, drains = zone_holds(REFILLS, 40, counted), zone_holds(DRAINS, 50, counted)
        assert len(engine_made(driver, 0)[0]) == 2 + 3 * (refills + drains)
    assert counted[:2] == [4000, 5000] and driver.S.ch_at[0] == 1


def test_a_process_that_never_comes_back_to_a_shape_is_refused():
    """A chain ends where a shape comes back; a generator whose process changes shape every
    iteration (here: its mm's pages grow) is told so, not run out of memory."""
    spec, _, _, generator = world("execl")
    iteration = generator.iteration

    def growing(copy, process, scale):
        ops_, result = iteration(copy, process, scale)
        result.pages = process.pages + 1
        return ops_, result

    generator.iteration = growing
    with pytest.raises(ValueError, match="changes shape more than 16 times"):
        next(generator.batches(1, stream(spec.seed, WORKLOAD, 1)))


@pytest.mark.parametrize("cv", [0.1, 0.5, 2.0])
def test_think_times_are_gamma_with_mean_1_and_the_cv(cv):
    """The engine's think-time draws (sim/rng.py) against numpy's gamma: mean, coefficient of
    variation and deciles, from fixed seeds (so the figures are the same on every run)."""
    n = 40_000
    drawn = think_scales(np.array([12345], dtype=np.uint64), 0, cv, n)
    shape = 1 / cv**2
    reference = np.random.default_rng(1).gamma(shape, 1 / shape, n)
    assert abs(drawn.mean() - 1) < 5 * cv / n**0.5 and abs(drawn.std() / drawn.mean() - cv) < 0.1 * cv
    deciles = np.arange(0.1, 1, 0.1)
    assert np.allclose(np.quantile(drawn, deciles), np.quantile(reference, deciles), rtol=0.05, atol=1e-3)
    assert (drawn > 0).all() and think_scale(np.array([1], dtype=np.uint64), 0, 0.0) == 1.0


def test_a_count_is_no_number():
    """What a program does with a zone-lock count other than repeating ops fails, not gives 0."""
    with pytest.raises(TypeError):
        [(ops.HOLD, 1)] * Count(0)
