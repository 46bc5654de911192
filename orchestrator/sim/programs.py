"""Iteration programs: a copy's iteration made once with placeholders, then filled in per iteration.

A workload whose iterations repeat (each exec, fork or spawn does what the one before did, to
new VMAs) runs its generator once per shape of process, with placeholders for what changes from
one iteration to the next: the ids of the VMAs the iteration creates (NEW + j, in the order it
creates them) and of those the process had (OLD + k, in the process's order), the think time
(a Work: its arithmetic is replayed on each iteration's draw, so a DELAY is what the generator
would have made) and the page allocator's zone-lock holds (ops between REPEAT and REPEAT_END,
as many times as the iteration's count says). The encoder encodes a program once, strategy
expansions included, and the engine fills its rows in for every iteration (sim/iterate.py):
the rows are exactly those of the ops the generator would have made (`concrete`,
tests/test_programs.py).

A copy hands the engine its whole Chain once: the programs its process's shapes lead through
(a shape's program leaves a process of the next shape, until a shape comes back), its first VMA
ids and its think-time generator (sim/rng.py). From then on the compiled loop makes every
iteration itself; Chain.iterations is the same arithmetic in Python, for tests and for reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

SPAN = 1 << 40  # each kind of placeholder has a range of this many values
NEW, OLD, DELAY_AT = -(1 << 58), -(1 << 57), -(1 << 56)
REPEAT, REPEAT_END = -10, -11  # (REPEAT, count index) ... (REPEAT_END,): only in a Program's ops
REFILLS, DRAINS = "refills", "drains"  # what a count asks the copy's per-CPU page lists


class Work:
    """The think-time scale of an iteration not drawn yet, and arithmetic on it: int() of it
    notes the steps and stands for the DELAY they make (a placeholder)."""

    def __init__(self, delays: list[tuple], steps: tuple = ()):
        self.delays = delays  # where the program's DELAYs are noted
        self.steps = steps

    def __mul__(self, x: float) -> Work:
        return Work(self.delays, self.steps + (("*", x),))

    def __rmul__(self, x: float) -> Work:
        return Work(self.delays, self.steps + (("r*", x),))

    def __truediv__(self, x: float) -> Work:
        return Work(self.delays, self.steps + (("/", x),))

    def __int__(self) -> int:
        self.delays.append(self.steps)
        return DELAY_AT + len(self.delays) - 1


def worked(steps: tuple, scale: float) -> int:
    """The DELAY the generator would have made: its steps on `scale`, in the same order."""
    value = scale
    for how, x in steps:
        value = x * value if how == "r*" else value * x if how == "*" else value / x
    return int(value)


def repeated(ops: list[tuple], count) -> list[tuple]:
    """`ops` count times; a count that is a program's placeholder (Count) is decided per iteration."""
    if isinstance(count, Count):
        return [(REPEAT, count.index), *ops, (REPEAT_END,)]
    return ops * count


class Count:
    """A count of zone-lock holds decided per iteration: the index of its (REFILLS | DRAINS,
    pages). It is no number: what a program does with one other than `repeated` fails."""

    def __init__(self, index: int):
        self.index = index


@dataclass(frozen=True)
class Program:
    """One iteration's ops with placeholders, and how to make each iteration's values."""

    ops: tuple[tuple, ...]
    new_ids: int                      # VMA ids an iteration hands out
    olds: int                         # VMAs of the process it starts from (OLD + k)
    finals: tuple[int, ...]           # the process it leaves: NEW + j or OLD + k, in the process's order
    delays: tuple[tuple, ...]         # the steps of each DELAY placeholder
    counts: tuple[tuple[str, int], ...]  # (REFILLS | DRAINS, pages) of each count, in the order made
    # the hash of the rest, made once (a program is a dict key of the encoder's); it travels with
    # the program, so the same program made in two processes may be two keys, never a wrong one
    key: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", hash((self.ops, self.new_ids, self.olds, self.finals, self.delays,
                                              self.counts)))

    def __hash__(self) -> int:
        return self.key

    def finals_of(self, base: int, old: tuple[int, ...]) -> tuple[int, ...]:
        """The real ids of the process an iteration leaves."""
        return tuple(base + 1 + x - NEW if x < OLD else old[x - OLD] for x in self.finals)


@dataclass
class Iteration:
    """One iteration of a Program, as Chain.iterations makes it (its program given the first
    time, None while it is the one before): the ids it gives out start after `base`; `old` are its
    process's VMAs; `delays` and `counts` fill the placeholders of the same index."""

    program: Program | None
    base: int
    old: tuple[int, ...]
    delays: tuple[int, ...]
    counts: tuple[int, ...]


def concrete(program: Program, it: Iteration) -> list[tuple]:
    """The ops the generator would have made for this iteration."""
    def real(x):
        if type(x) is tuple:
            return tuple(real(y) for y in x)
        if type(x) is not int or x >= -1 or x < NEW:
            return x
        if x < OLD:
            return it.base + 1 + x - NEW
        return it.old[x - OLD] if x < DELAY_AT else it.delays[x - DELAY_AT]

    out: list[tuple] = []
    ops = program.ops
    i = 0
    while i < len(ops):
        if ops[i][0] == REPEAT:
            end = ops.index((REPEAT_END,), i)
            out += [real(op) for op in ops[i + 1:end]] * it.counts[ops[i][1]]
            i = end + 1
        else:
            out.append(real(ops[i]))
            i += 1
    return out


@dataclass
class Chain:
    """All of a copy's iterations, for the engine to make: the programs its process's shapes lead
    through (then[i]: the one after programs[i]; the last leads back to one before it), the last
    VMA id it gave out, its process's VMA ids, the page lists' batch, and the coefficient of
    variation of its think times and their generator's state (sim/rng.py)."""

    programs: tuple[Program, ...]
    then: tuple[int, ...]
    base: int
    old: tuple[int, ...]
    pcp_batch: int
    think_cv: float
    think_state: int

    def iterations(self) -> Iterator[Iteration]:
        """The iterations the engine makes (sim/iterate.py), in Python: for tests and for reading."""
        # the engine's own functions; numba loads when a run needs it, not for orch --help
        from orchestrator.sim.iterate import DRAIN, REFILL, holds
        from orchestrator.sim.rng import think_scale

        base, old, counted = self.base, self.old, np.zeros(2, dtype=np.int64)
        think = np.array([self.think_state], dtype=np.uint64)
        step, last = 0, None
        while True:
            with np.errstate(over="ignore"):  # uint64 arithmetic wraps (numpy warns of it with the JIT off)
                scale = think_scale(think, 0, self.think_cv)
            program = self.programs[step]
            delays = tuple(worked(steps, scale) for steps in program.delays)
            counts = tuple(int(holds(REFILL if kind == REFILLS else DRAIN, pages, counted, self.pcp_batch))
                           for kind, pages in program.counts)
            yield Iteration(program if program is not last else None, base, old, delays, counts)
            last, old = program, program.finals_of(base, old)
            base += program.new_ids
            step = self.then[step]


def as_iterations(batches: Iterable) -> Iterator:
    """A stream with each Chain as its Iterations (for tests and for reading)."""
    for batch in batches:
        if isinstance(batch, Chain):
            yield from batch.iterations()
        else:
            yield batch


def as_ops(batches: Iterable) -> Iterator:
    """A stream with each Chain's iterations made concrete: lists of ops (for tests and for reading)."""
    program = None
    for batch in as_iterations(batches):
        if isinstance(batch, Iteration):
            program = batch.program or program
            assert program is not None
            yield concrete(program, batch)
        else:
            yield batch

