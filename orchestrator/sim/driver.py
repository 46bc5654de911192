"""The driver: runs the compiled loop (sim/loop.py) over a run's state until the end, refilling
a CPU's program when it runs out of encoded operations and growing an array when one is full,
then reads out the measurements.

The loop pauses at an operation boundary for either; neither pause changes what the run
computes. Under --check, a broken invariant becomes an exception with names.
"""

from __future__ import annotations

import time as wallclock

import numpy as np
from numba import config, typeof

from orchestrator.sim import layout, measurements, state
from orchestrator.sim.encoder import ChainRows, Encoder, ProgramRows
from orchestrator.sim.engine import Engine
from orchestrator.sim.heap import push_event
from orchestrator.sim.iterate import DRAIN, REFILL
from orchestrator.sim.locks import close_all
from orchestrator.sim.loop import run as run_loop
from orchestrator.sim.measurements import Measurements
from orchestrator.sim.programs import REFILLS
from orchestrator.sim.state import State, compiled
from orchestrator.sim.trees import preload


class CheckFailure(AssertionError):
    """An engine invariant broke (--check)."""


class LockViolation(CheckFailure):
    """An invariant of mutual exclusion broke: a bug in the model, found by --check."""


ERRORS = {
    state.E_TIME_BACK: (CheckFailure, "time went back from {a} to {b}"),
    state.E_RELEASE_NOT_HELD: (LockViolation, "{lock}: CPU {b} released a lock it does not hold in that mode"),
    state.E_WRITER_BESIDE_HOLDERS: (LockViolation, "{lock}: writer {b} granted while held"),
    state.E_READER_BESIDE_WRITER: (LockViolation, "{lock}: reader {b} granted beside a writer"),
    state.E_HOLDS_ALREADY: (LockViolation, "{lock}: CPU {b} acquired a lock it holds"),
    state.E_NO_READ_MODE: (LockViolation, "{lock}: this kind of lock has no read mode"),
    state.E_HELD_TOO_MANY: (CheckFailure, "{lock}: CPU {b} holds too many sleeping locks"),
    state.E_INSERTED_TWICE: (ValueError, "{tree}: VMA {b} inserted twice"),
    state.E_NOT_IN_TREE: (ValueError, "{tree}: VMA {b} is not in this tree"),
    state.E_BAD_OP: (ValueError, "unknown op or run-time choice ({a}, {b})"),
    state.E_WALK_BESIDE_READERS: (LockViolation, "{lock}: walk granted with readers in flight"),
    state.E_READER_BESIDE_WALK: (LockViolation, "{lock}: reader {b} granted while a walker holds"),
}


def compile_loop(ref, end_ns: int) -> None:
    """Compile the run loop and its close for this state (numba loads them from the cache when it
    has them), so that a first run's compile is never counted as engine speed (wall_s)."""
    if config.DISABLE_JIT:  # type: ignore[attr-defined]  # set from the environment
        return
    run_loop.compile((typeof(ref),))
    close_all.compile((typeof(ref), typeof(end_ns)))


class Driver:
    """One run of what an Engine declared: Driver(engine).run() -> Measurements. Tests call
    compiled functions on its state (call) before or after the run."""

    def __init__(self, world: Engine):
        """Lay out the state, preload the trees and schedule every CPU at time 0; the clock of
        the run's wall time starts once the loop is compiled (or loaded from the cache)."""
        self.world = world
        self.encoder = Encoder(world.streams, world.expand)
        self._S = S = layout.allocate(world)
        self.ref = compiled(S)
        loaded = world.preloads
        rows = np.column_stack([loaded[:, 0], self.encoder.preloaded(loaded[:, 1]), loaded[:, 1:]])
        self.call(preload, rows)
        S.reg[state.VMAS] = self.encoder.vmas
        self.programs = self.code = self.steps = 0  # iteration programs laid out, and the room they take
        for slot in range(len(world.streams)):
            self.call(push_event, 0, state.EV_RUN, slot)
        if 0 < world.warmup_ns < world.end_ns:
            self.call(push_event, world.warmup_ns, state.EV_END_WARMUP, 0)
        compile_loop(self.ref, world.end_ns)
        self.began = wallclock.perf_counter()

    @property
    def S(self) -> State:
        """The state's arrays (self.ref: the same, as the compiled code takes them)."""
        return self._S

    @S.setter
    def S(self, S: State) -> None:
        if S is not self._S:  # some arrays were replaced by larger ones
            self._S, self.ref = S, compiled(S)

    def call(self, function, *args):
        """Call a compiled engine function on this run's state, as the loop would; a broken
        invariant becomes its exception (CheckFailure, LockViolation, ValueError)."""
        try:
            with np.errstate(over="ignore"):
                return function(self.ref, *args)
        except AssertionError:
            self._raise()

    def run(self) -> Measurements:
        """Run to end_ns, then read out what the run measured."""
        while (status := self.call(run_loop)) != state.DONE:
            if status == state.NEED_OPS:
                self._refill(self.reg(state.RESUME_SLOT))
            else:
                self._grow(self.reg(state.ERROR_A))
        self.call(close_all, self.world.end_ns)
        if self.world.check:
            self.check_trees()
        return measurements.read(self.S, self.world, wallclock.perf_counter() - self.began)

    def _refill(self, slot: int) -> None:
        """Make the CPU's next encoded operations its program."""
        assert self.S.ch_at[slot] < 0, "the engine makes this copy's iterations"
        self.encoder.vmas = self.reg(state.VMAS)
        rows, pool = self.encoder.next_rows(slot)
        S = layout.with_room(self.S, program=len(rows), pool=len(pool), vmas=self.encoder.vmas)
        self.S = S = layout.with_lockrefs(S, self.encoder.lockrefs)
        S.prog[slot, :len(rows)] = rows
        S.pool[slot, :len(pool)] = pool
        S.p_len[slot] = len(rows)
        S.pc[slot] = 0
        S.reg[state.VMAS] = self.encoder.vmas
        chain = self.encoder.cpus[slot].chain
        if chain is not None:
            self._hand_over(slot, chain)

    def _hand_over(self, slot: int, chain: ChainRows) -> None:
        """From here the engine makes the copy's iterations (sim/iterate.py): lay out the
        programs it has not seen yet, then the copy's chain, process, page lists and think-time
        generator."""
        for program in chain.programs:
            if program.index == self.programs:
                self._lay_out(program)
        programs, first = chain.programs, chain.chain
        olds = max(max(p.program.olds, len(p.finals)) for p in programs)
        self.S = S = layout.with_room(self.S, chain=len(programs), olds=olds, freed=len(chain.freed),
                                      pool=max(len(p.pool) for p in programs))
        S.ch_program[slot, :len(programs)] = [p.index for p in programs]
        S.ch_then[slot, :len(programs)] = first.then
        S.ch_at[slot] = 0
        S.it_base[slot] = first.base
        S.it_pages[slot] = 0
        S.proc_ids[slot, :len(first.old)] = first.old
        S.proc_vmas[slot, :len(first.old)] = chain.vmas
        S.freed[slot, :len(chain.freed)] = chain.freed
        S.freed_n[slot] = len(chain.freed)
        S.think[slot] = first.think_state
        # a run has one workload: every copy has the same page lists' batch and think-time CV
        S.reg[state.PCP_BATCH], S.fparam[state.THINK_CV] = first.pcp_batch, first.think_cv

    def _lay_out(self, program: ProgramRows) -> None:
        """Write a program's tables into the state's (sim/iterate.py): its sections, in pg_code."""
        steps = [(float(how == "/"), x) for delay in program.program.delays for how, x in delay]
        starts = np.cumsum([0] + [len(delay) for delay in program.program.delays])
        sections = {
            state.SEC_ROWS: program.rows, state.SEC_PUT_AT: program.puts[0],
            state.SEC_PUT_SOURCE: program.puts[1], state.SEC_EVENTS: program.events.ravel(),
            state.SEC_REPEATS: np.array(program.repeats, dtype=np.int64).ravel(),
            state.SEC_JUMPS: np.array(program.jumps, dtype=np.int64).ravel(),
            state.SEC_FINALS: program.finals,
            state.SEC_DELAYS: np.column_stack([self.steps // 2 + starts[:-1], np.diff(starts)]).ravel(),
            state.SEC_COUNTS: np.array([(REFILL if kind == REFILLS else DRAIN, pages)
                                        for kind, pages in program.program.counts], dtype=np.int64).ravel(),
            state.SEC_POOL: np.array(program.pool, dtype=np.int64),
            state.SEC_SIZES: np.array([program.program.new_ids, program.program.olds, program.removals]),
        }
        used = self.code + sum(len(values) for values in sections.values())
        self.S = S = layout.with_room(self.S, programs=self.programs + 1, code=used,
                                      steps=self.steps + 2 * len(steps))
        for which, values in sections.items():
            S.pg_at[self.programs, which] = self.code, len(values)
            S.pg_code[self.code:self.code + len(values)] = values
            self.code += len(values)
        S.pg_steps[self.steps:self.steps + 2 * len(steps)] = np.array(steps, dtype=np.float64).ravel()
        self.steps += 2 * len(steps)
        self.programs += 1

    def _grow(self, what: int) -> None:
        """Make room where the loop ran out of it: the event heap, the lines, a tree's members,
        or what a copy's next iteration needs (VMAs, program rows, freed VMA ids)."""
        S = self.S
        if what == state.GROW_HEAP:
            self.S = layout.with_room(S, heap=len(S.h_time) + 1)
        elif what == state.GROW_LINES:
            self.S = layout.with_room(S, lines=len(S.owner) + 1)
        elif what == state.GROW_TREE:
            self.S = layout.with_tree_moved(S, self.reg(state.ERROR_B))
        else:
            axis = {state.GROW_VMAS: "vmas", state.GROW_PROGRAM: "program", state.GROW_FREED: "freed"}[what]
            self.S = layout.with_room(S, **{axis: self.reg(state.ERROR_B)})

    def _raise(self) -> None:
        kind, template = ERRORS[self.reg(state.ERROR)]
        a, b = self.reg(state.ERROR_A), self.reg(state.ERROR_B)
        locks, trees = self.world.locks, self.world.tree_names
        lock = locks[a].name if 0 <= a < len(locks) else a
        tree = trees[a] if 0 <= a < len(trees) else a
        raise kind(template.format(a=a, b=b, lock=lock, tree=tree))

    def check_trees(self) -> None:
        """VMAs are conserved: the trees hold what was preloaded plus inserted minus removed."""
        held = int(self.S.tr_size.sum())
        expected = len(self.world.preloads) + self.reg(state.INSERTED) - self.reg(state.REMOVED)
        if held != expected:
            raise CheckFailure(f"trees hold {held} VMAs, expected {expected}")

    def tree_members(self, tree: int) -> dict[int, tuple[int, int]]:
        """The VMAs in a tree: workload id -> (first, last pgoff)."""
        S = self.S
        start = S.tr_start[tree]
        return {int(S.v_orig[v]): (int(S.v_first[v]), int(S.v_last[v]))
                for v in S.members[start:start + S.tr_size[tree]]}

    def reg(self, index: int) -> int:
        return int(self.S.reg[index])
