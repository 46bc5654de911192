"""Workloads as programs: an iteration is its program filled in, and that is exactly what the
generator would have made, op for op and row for row."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.generators.immap import END, START, think_scale
from orchestrator.presets import resolve
from orchestrator.sim import ops
from orchestrator.sim.encoder import Encoder
from orchestrator.sim.programs import (
    NEW,
    REFILLS,
    REPEAT,
    REPEAT_END,
    Count,
    Iteration,
    Program,
    Work,
    concrete,
    worked,
)
from orchestrator.sim.streams import WORKLOAD, stream
from orchestrator.simulate import build
from orchestrator.spec import read_yaml

from simhelp import run_spec

KINDS = ["execl", "spawn", "sysexec", "stress-ng-spawn", "doexec"]


def world(kind: str, design: str = "split-node", copies: int = 3):
    spec = run_spec("milan-2n-256", workload=read_yaml(resolve("workloads", kind)), strategy={"name": design},
                    copies=copies, duration_ms=0.01, seed=5)
    machine, engine, strategy, generator = build(spec)
    return spec, engine, strategy, generator


def iterations(spec, generator, slot: int, count: int) -> list[Iteration]:
    return list(itertools.islice(generator.batches(slot, stream(spec.seed, WORKLOAD, slot)), count))


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
    state = generator.start(copy)
    program = None
    for it in made:
        program = it.program or program
        [scale] = think_scale(rng, generator.spec.think_cv, 1)
        expected, state = generator.iteration(copy, state, scale)
        assert concrete(program, it) == [START, *expected, END]
    assert made[0].program is not None and all(it.program is None for it in made[1:])
    assert (made[0].program is iterations(spec, generator, 0, 1)[0].program) == (kind != "doexec")


@pytest.mark.parametrize("kind, design", [(k, "split-node") for k in KINDS] +
                         [("execl", d) for d in ("single", "split-cpu", "inverted", "writer-hold")])
def test_a_programs_rows_filled_in_are_its_ops_encoded(kind, design):
    """Row for row, with the same engine VMA ids: the encoded program against the concrete ops."""
    spec, engine, strategy, generator = world(kind, design)
    preloads = engine.preloads
    filled, encoded = Encoder([iter(())] * 3, strategy.expand), Encoder([iter(())] * 3, strategy.expand)
    for e in (filled, encoded):
        e.preloaded(preloads[:, 1])
    program = None
    for slot in range(3):
        for it in iterations(spec, generator, slot, 3):
            program = it.program or program
            got = filled.iteration(slot, filled.cpus[slot], it)
            flat: list[int] = []
            encoded.encode(slot, concrete(program, it), flat, [])
            assert isinstance(got, np.ndarray) and got.tolist() == np.array(flat).reshape(-1, ops.ROW).tolist()
    assert filled.vmas == encoded.vmas
    assert len(filled.programs) == (3 if kind == "doexec" else 1)  # copies share a program, not a binary


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
        Encoder([iter(())], None).encoded(program)


def test_a_program_naming_a_vma_it_does_not_have_is_refused():
    program = Program(((ops.TREE, 0, ops.REMOVE, NEW + 3),), 1, 0, (), (), ())
    with pytest.raises(ValueError, match="neither new nor its process's"):
        Encoder([iter(())], None).encoded(program)


@pytest.mark.parametrize("design", ["single", "split-node", "inverted"])
@pytest.mark.parametrize("counts", [(0, 0), (1, 1), (3, 0), (2, 5)])
def test_a_trylock_in_a_program_jumps_where_its_ops_would(design, counts):
    """Walks that try-lock (their rows point into the pool and skip to the walk's end), after and
    between zone-lock holds repeated per iteration: the targets move with the repeats."""
    spec, engine, strategy, generator = world("execl", design)
    hold = [(ops.ACQUIRE, 0, ops.WRITE_MODE), (ops.HOLD, 5), (ops.RELEASE, 0, ops.WRITE_MODE)]
    walk = (ops.IMMAP, ops.RMAP_WALK, 0, 2, 9, True)
    program = Program(((ops.START,), (REPEAT, 0), *hold, (REPEAT_END,), walk, (REPEAT, 1), *hold, (REPEAT_END,),
                       walk, (ops.END, 0)), 0, 0, (), (), ((REFILLS, 1), (REFILLS, 1)))
    it = Iteration(program, 0, (), (), counts)
    filled, encoded = Encoder([iter(())], strategy.expand), Encoder([iter(())], strategy.expand)
    rows = filled.iteration(0, filled.cpus[0], it)
    flat: list[int] = []
    pool: list[int] = []
    encoded.encode(0, concrete(program, it), flat, pool)
    assert rows.tolist() == np.array(flat).reshape(-1, ops.ROW).tolist() and filled.cpus[0].whole_pool == pool
    assert any(row[0] == ops.TRY_ACQUIRE for row in rows.tolist())


def test_a_count_is_no_number():
    """What a program does with a zone-lock count other than repeating ops fails, not gives 0."""
    with pytest.raises(TypeError):
        [(ops.HOLD, 1)] * Count(0)
