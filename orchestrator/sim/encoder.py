"""The encoder: each CPU's operations (tuples, sim/ops.py) turned into rows of ROW integers, a
chunk at a time, when the CPU reaches the end of what it has; and a copy's chain of iteration
programs (sim/programs.py) encoded once, for the engine to make its iterations from
(sim/iterate.py).

An i_mmap operation is expanded by the strategy once per shape (kind, file, VMA count, flags):
the expansion of an op made of placeholders is encoded into a Template, and every op of that
shape is encoded by putting its VMAs, pages and engine VMA ids into a copy of the template's
rows. So an expansion is a pure function of its op, ahead of simulated time, and a choice that
depends on where the CPU runs or on the model's state is a micro-op (CHOOSE, SMALLEST,
SUBTREE_OF, JOIN, TRY_ACQUIRE). The encoder also gives the workload's VMAs dense engine ids and
notes the lines that see cmpxchg loops; it touches no array of the state: the driver
(sim/driver.py) makes room for what it handed out and stores the rows and the programs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from orchestrator.sim import ops
from orchestrator.sim.iterate import INSERTS, NAMES, REMOVES
from orchestrator.sim.ops import ROW
from orchestrator.sim.programs import DELAY_AT, NEW, OLD, REPEAT, REPEAT_END, Chain, Program

CHUNK = 256  # rows encoded per refill: the rest of a batch waits, so buffers stay small
PLAIN = frozenset({ops.DELAY, ops.HOLD, ops.RELEASE, ops.READ, ops.WRITE, ops.ATOMIC, ops.START, ops.END,
                   ops.IDLE, ops.MIGRATE})  # ops whose tuple is already their row
ENCODED = np.array(sorted(PLAIN | {ops.ACQUIRE}))  # what a batch handed over as rows may hold
PAD = [(0,) * (ROW - k) for k in range(ROW + 1)]  # what fills a plain op's tuple to a row
WALK_BEGIN, WALK_END = (ops.WALK_BEGIN,) + PAD[1], (ops.WALK_END,) + PAD[1]
LOCKREF_CALLER = ops.CALLER_CODE["lockref_get_not_dead"]  # a lockref's spinlock fallback


def caller_code(op: tuple, at: int) -> int:
    """The code of the caller an ACQUIRE or TRY_ACQUIRE names at op[at] ("-" if none)."""
    if len(op) <= at:
        return 0
    try:
        return ops.CALLER_CODE[op[at]]
    except KeyError:
        raise ValueError(f"{op[at]!r} is not a caller orch knows (sim/ops.py, CALLERS)") from None


# ops, rows already encoded (plain ops and ACQUIRE only), or a copy's chain of programs (its last)
Batch = list[tuple] | np.ndarray | Chain

# Placeholders in a template: operand j of the op (its j-th integer, in order) is LEAF + j (in the
# check, AGAIN[0] + AGAIN[1] * j: other values, other gaps); the engine id of the k-th VMA the
# expansion names is MARK + k. No real operand is that negative.
LEAF, MARK = -(1 << 60), -(1 << 61)
AGAIN = (LEAF + 1_000_003, 3)


def shape(op: tuple) -> tuple[tuple, list[int]]:
    """An i_mmap op's shape (kind, file, VMA count of a batch, flags), and its integers in order
    (each VMA's id, first and last page; a walk's pages)."""
    try:
        parts = ops.OPERANDS[op[1]]
    except KeyError:
        raise ValueError(f"{op[1]!r} is not an i_mmap op kind (sim/ops.py, OPERANDS)") from None
    key = [op[1], op[2]]
    leaves: list[int] = []
    for part, x in zip(parts, op[3:]):
        if part == "v":
            leaves += x
        elif part == "b":
            key.append(len(x))
            for vma in x:
                leaves += vma
        elif part == "i":
            leaves.append(x)
        else:
            key.append(bool(x))
    return tuple(key), leaves


def placeholders(op: tuple, first: int = LEAF, stride: int = 1) -> tuple:
    """The op with its j-th integer (as shape orders them) replaced by first + stride * j."""
    count = itertools.count(first, stride)
    out = list(op[:3])
    for part, x in zip(ops.OPERANDS[op[1]], op[3:]):
        if part == "v":
            out.append(tuple(next(count) for _ in x))
        elif part == "b":
            out.append(tuple(tuple(next(count) for _ in vma) for vma in x))
        else:
            out.append(next(count) if part == "i" else x)
    return tuple(out)


@dataclass
class Template:
    """The encoded expansion of one shape of i_mmap op: rows (flat) and pool entries with
    placeholders, and what to put where."""

    rows: list[int]
    pool: list[int]
    events: list[tuple[int, int]]   # (INSERTS | NAMES | REMOVES, operand) per engine VMA id it names, in order
    puts: list[tuple[int, int]]     # (row field, source): operand j, or engine id k as len(operands) + k
    pool_fields: list[int]          # row fields that point into the pool (moved by where it starts)
    row_fields: list[int]           # row fields that name a row (moved by where the rows start)


@dataclass
class ProgramRows:
    """An iteration program (sim/programs.py) encoded: flat rows with placeholders, what to put
    where (values: the new VMA ids, the old ones, the DELAYs, then the engine ids of `events`),
    and the rows between (start, end) that run as many times as their count says. The engine
    makes iterations from it (sim/iterate.py) as the `index`-th program in its tables."""

    program: Program
    index: int
    rows: np.ndarray
    puts: tuple[np.ndarray, np.ndarray]  # (flat positions, value indices)
    events: np.ndarray                   # (INSERTS | NAMES | REMOVES, value index) per engine id it names
    repeats: list[tuple[int, int, int]]  # (start row, end row, count index)
    pool: list[int]                      # what its trylocks' and READ_ALLs' fields point at
    jumps: list[tuple[int, int]]         # (flat position, row) of a trylock's target, before repeats
    finals: np.ndarray                   # the value index of each VMA of the process it leaves
    removals: int                        # engine ids an iteration may free


@dataclass
class ChainRows:
    """A copy's chain, encoded: its programs, the engine ids of its process's VMAs, and the
    engine ids its CPU freed before its chain (the last one reused first)."""

    chain: Chain
    programs: list[ProgramRows]
    vmas: np.ndarray
    freed: np.ndarray


@dataclass
class Cpu:
    batches: Iterator[Batch]
    pending: list[tuple] | np.ndarray = field(default_factory=list)  # the batch being encoded ...
    at: int = 0                                          # ... from here
    chain: ChainRows | None = None  # the copy's iterations, which the engine makes from here on
    # engine VMA ids this CPU's removals freed: the first `freed`, the last one reused first
    free: np.ndarray = field(default_factory=lambda: np.zeros(8, dtype=np.int64))
    freed: int = 0


class Encoder:
    def __init__(self, streams: list[Iterator[Batch]], expand: Callable[[tuple], list[tuple]] | None):
        self.cpus = [Cpu(batches) for batches in streams]
        self.expand = expand  # the strategy's expansion of an i_mmap op
        self.templates: dict[tuple, Template] = {}  # by shape
        self.programs: dict[Program, ProgramRows] = {}
        self.vma_ids: dict[int, int] = {}  # workload VMA id -> engine VMA id
        self.vmas = 0                      # engine VMA ids handed out
        self.lockrefs: dict[int, None] = {}  # lines that see cmpxchg loops, in the order met

    def next_rows(self, slot: int) -> tuple[np.ndarray, list[int]]:
        """The CPU's next program, about CHUNK rows, and the pool its rows point into. After a
        Chain, the CPU's chain is set (cpu.chain): the engine makes its iterations from there."""
        cpu = self.cpus[slot]
        rows: list[int] = []
        pool: list[int] = []
        while len(rows) < CHUNK * ROW:
            if isinstance(cpu.pending, np.ndarray) and cpu.at < len(cpu.pending):
                if rows:
                    break
                return self._copy(cpu, cpu.pending), []
            if cpu.at == len(cpu.pending):
                batch = next(cpu.batches, None)
                if batch is None:  # a finite stream (tests): run what there is
                    if rows:
                        break
                    raise RuntimeError(f"the operation stream of CPU {slot} ended")
                if isinstance(batch, Chain):
                    cpu.chain = self.chained(batch, cpu)
                    break
                if isinstance(batch, np.ndarray) and not np.isin(batch[:, 0], ENCODED).all():
                    raise ValueError("an encoded batch may hold plain ops and ACQUIRE only (sim/ops.py, ROW)")
                cpu.pending, cpu.at = batch, 0
            else:
                cpu.at = self.encode(slot, cpu.pending, rows, pool, cpu.at, CHUNK)
        return np.array(rows, dtype=np.int64).reshape(-1, ROW), pool

    @staticmethod
    def _copy(cpu: Cpu, batch: np.ndarray) -> np.ndarray:
        """The next CHUNK rows of cpu's encoded batch (extended past an ACQUIRE that folds)."""
        end = min(cpu.at + CHUNK, len(batch))
        while end < len(batch) and batch[end - 1, 0] == ops.ACQUIRE and batch[end - 1, 3]:
            end += 1
        rows, cpu.at = batch[cpu.at:end], end
        return rows

    def encode(self, slot: int, program, rows: list, pool: list, first: int = 0, limit: int = 0) -> int:
        """Append the rows of program[first:] (a strategy's expansion, an iteration's program) to
        `rows`, a flat list of ROW integers per row; or, with a row `limit`, of a batch's ops
        until about that many rows are out (never stopping after an ACQUIRE whose HOLD its grant
        would fold in).
        Returns where it stopped."""
        jumps = []
        undo: tuple = ()  # the last trylock's undo list and where it starts in the pool
        undo_at = -1
        n = len(program)
        i = first
        limit *= ROW
        while i < n:
            op = program[i]
            i += 1
            code = op[0]
            if code in PLAIN:
                rows += op
                rows += PAD[len(op)]
            elif code == ops.ACQUIRE:
                fold = i < n and program[i][0] == ops.HOLD
                rows += (code, op[1], op[2], int(fold), caller_code(op, 3), 0, 0)
                if fold:
                    continue
            elif code == ops.IMMAP:
                self.put(slot, op, rows, pool)
            elif code == ops.TRY_ACQUIRE:
                if limit:
                    raise ValueError("a trylock belongs in a strategy's expansion, not in a workload's batch")
                # a walk's trylocks undo ever longer prefixes of one list: store it once
                grows = undo_at >= 0 and undo_at + 2 * len(undo) == len(pool) and op[3][:len(undo)] == undo
                start = undo_at if grows else len(pool)
                for lock, mode in op[3][len(undo) if grows else 0:]:
                    pool += (lock, mode)
                undo, undo_at = op[3], start
                jumps.append(len(rows) + 5)  # where its jump target goes
                rows += (code, op[1], op[2], start, len(op[3]), 0, caller_code(op, 4))
            else:
                rows += self._row(slot, op, pool)
            if limit and len(rows) >= limit:
                return i
        end = len(rows) // ROW  # a failed trylock skips to the end of its program
        for j in jumps:
            rows[j] = end
        return i

    # ---- i_mmap ops, through templates ------------------------------------------------------

    def put(self, slot: int, op: tuple, rows: list, pool: list) -> None:
        """Append the rows of an i_mmap op's expansion: its shape's template, filled in."""
        key, leaves = shape(op)
        template = self.templates.get(key)
        if template is None:
            template = self.templates[key] = self.tabulate(op, len(leaves))
        values = leaves
        for event, j in template.events:  # engine ids, given out in the order the expansion names them
            vma = leaves[j]
            values.append(self.new_vma(slot, vma) if event == INSERTS else
                          self.engine_id(vma) if event == NAMES else self.free_vma(slot, vma))
        out = template.rows.copy()
        for field_at, source in template.puts:
            out[field_at] = values[source]
        for field_at in template.pool_fields:
            out[field_at] += len(pool)
        for field_at in template.row_fields:
            out[field_at] += len(rows) // ROW
        pool += template.pool
        rows += out

    def tabulate(self, op: tuple, operands: int) -> Template:
        """The template of op's shape: its expansion made of placeholders, encoded. It is made
        twice, with placeholders of other values and other gaps between them: an expansion that
        computed with its op's values instead of passing them on (or that keeps state of its own)
        would most likely differ."""
        assert self.expand is not None, "an i_mmap op, and no strategy to expand it"
        template, again = (self._template(op, operands, first, stride) for first, stride in ((LEAF, 1), AGAIN))
        if template != again:
            raise ValueError(f"{self.expand.__qualname__} of a {op[1]} op depends on the op's values: an "
                             "expansion may only pass its op's VMAs and pages on (orch docs plugins)")
        return template

    def _template(self, op: tuple, operands: int, first: int, stride: int) -> Template:
        assert self.expand is not None
        name = self.expand.__qualname__

        def operand(value: int) -> int:
            """j if value is operand j's placeholder, else -1."""
            j, off = divmod(value - first, stride)
            return j if off == 0 and 0 <= j < operands else -1

        def source(vma: int) -> int:
            if operand(vma) < 0:
                raise ValueError(f"{name} named a VMA that is not in its op")
            return operand(vma)

        recorder = Recorder(self, source)
        rows: list[int] = []
        pool: list[int] = []
        walk = op[1] == ops.RMAP_WALK
        if walk:
            rows += WALK_BEGIN
        recorder.encode(0, self.expand(placeholders(op, first, stride)), rows, pool)
        if walk:
            rows += WALK_END
        puts = []
        for at, value in enumerate(rows):
            if (j := operand(value)) >= 0:
                puts.append((at, j))
            elif MARK <= value < MARK + len(recorder.events):
                puts.append((at, operands + value - MARK))
            else:
                continue
            rows[at] = 0  # filled in from the op
        if any(value < -1 for value in rows + pool):
            raise ValueError(f"{self.expand.__qualname__} of a {op[1]} op computed with the op's values: an "
                             "expansion may only pass its op's VMAs and pages on (orch docs plugins)")
        starts = range(0, len(rows), ROW)
        pool_fields = ([at + 3 for at in starts if rows[at] == ops.TRY_ACQUIRE] +
                       [at + 1 for at in starts if rows[at] == ops.READ_ALL])
        row_fields = [at + 5 for at in starts if rows[at] == ops.TRY_ACQUIRE]
        return Template(rows, pool, recorder.events, puts, pool_fields, row_fields)

    # ---- iterations, through programs ---------------------------------------------------------

    def chained(self, chain: Chain, cpu: Cpu) -> ChainRows:
        """A copy's chain for the engine: its programs encoded (once per program), its process's
        VMAs (preloaded) with their engine ids, and the ids its CPU freed before (theirs now)."""
        programs = []
        for program in chain.programs:
            if program not in self.programs:
                self.programs[program] = self.encoded(program, len(self.programs))
            programs.append(self.programs[program])
        vmas = [self.vma_ids.pop(vma) for vma in chain.old]
        freed, cpu.freed = cpu.free[:cpu.freed].copy(), 0
        return ChainRows(chain, programs, np.array(vmas, dtype=np.int64), freed)

    def encoded(self, program: Program, index: int) -> ProgramRows:
        """Encode a program once: its rows with placeholders, strategy expansions included."""
        new, olds, delays = program.new_ids, program.olds, len(program.delays)

        def source(vma: int) -> int:  # where a VMA's id is among the values
            if NEW <= vma < NEW + new:
                return vma - NEW
            if OLD <= vma < OLD + olds:
                return new + vma - OLD
            raise ValueError(f"a program names VMA {vma}, which is neither new nor its process's")

        recorder = Recorder(self, source)
        flat: list[int] = []
        pool: list[int] = []
        recorder.encode(0, list(program.ops), flat, pool)
        kept: list[int] = []
        repeats: list[tuple[int, int, int]] = []
        row_of: list[int] = []  # the kept row of each encoded row (marks removed)
        for at in range(0, len(flat), ROW):
            row_of.append(len(kept) // ROW)
            code = flat[at]
            if code == REPEAT:
                repeats.append((len(kept) // ROW, -1, flat[at + 1]))
            elif code == REPEAT_END:
                repeats[-1] = (repeats[-1][0], len(kept) // ROW, repeats[-1][2])
            else:
                kept += flat[at:at + ROW]
        row_of.append(len(kept) // ROW)
        rows = np.array(kept, dtype=np.int64)
        jumps = [(at + 5, row_of[rows[at + 5]]) for at in range(0, len(rows), ROW) if rows[at] == ops.TRY_ACQUIRE]
        source_of = np.full(len(rows), -1, dtype=np.int64)
        events = np.array(recorder.events, dtype=np.int64).reshape(-1, 2)
        for base, count, first in ((NEW, new, 0), (OLD, olds, new), (DELAY_AT, delays, new + olds),
                                   (MARK, len(events), new + olds + delays)):
            inside = (rows >= base) & (rows < base + count)
            source_of[inside] = rows[inside] - base + first
        put_at = np.flatnonzero(source_of >= 0)
        if (rows[source_of < 0] < -1).any():
            raise ValueError("a program's op computed with a placeholder (sim/programs.py)")
        rows[put_at] = 0
        finals = np.array([source(vma) for vma in program.finals], dtype=np.int64)
        return ProgramRows(program, index, rows, (put_at, source_of[put_at]), events, repeats, pool, jumps,
                           finals, int((events[:, 0] == REMOVES).sum()))

    # ---- rows of single ops ------------------------------------------------------------------

    def _row(self, slot: int, op: tuple, pool: list) -> tuple:
        """The row (or rows, flat) of an op that names VMAs, lines or tables."""
        code = op[0]
        if code == ops.TREE:
            action = op[2]
            if action == ops.INSERT:
                vma_id, lo, hi = op[3]
                return (code, op[1], action, self.new_vma(slot, vma_id), lo, hi, vma_id)
            if action == ops.INSERT_AFTER:  # linking under the VMA it follows writes that VMA's node
                vma_id, lo, hi = op[3]
                after = self.engine_id(op[4])
                return (ops.WRITE_VMA, after, 0, 0, 0, 0, 0,
                        code, op[1], action, self.new_vma(slot, vma_id), lo, hi, vma_id)
            if action == ops.REMOVE:
                return (code, op[1], action, self.free_vma(slot, op[3]), 0, 0, 0)
            return (code, op[1], action, op[3][0], op[3][1], 0, 0)
        if code == ops.READ_ALL:
            pool_at = len(pool)
            pool += op[1]
            return (code, pool_at, len(op[1]), 0, 0, 0, 0)
        if code == ops.CMPXCHG:
            line, lock = op[1], op[2]
            self.lockrefs[line] = None
            if lock >= 0:  # the fallback: take the spinlock (lockref_get's slow path)
                return (code, line, lock, 2, 0, 0, 0, ops.ACQUIRE, lock, ops.WRITE_MODE, 0, LOCKREF_CALLER, 0, 0,
                        ops.RELEASE, lock, ops.WRITE_MODE, 0, 0, 0, 0)
            return (code, line, lock, 0, 0, 0, 0)
        if code == ops.SUBTREE_OF:
            return (code, self.engine_id(op[1]), op[2].number, 0, 0, 0, 0)
        if code == ops.CHOOSE:
            return (code, op[1], op[2], op[3] if op[1] == ops.BY_HASH else 0, 0, 0, 0)
        if code == ops.JOIN:  # the choice it would make, then how many rows to skip
            if op[1][0] not in (ops.SUBTREE_OF, ops.CHOOSE):
                raise ValueError(f"a JOIN compares with a SUBTREE_OF or a CHOOSE, not {op[1]!r}")
            return (code, *self._row(slot, op[1], pool)[:4], op[2], 0)
        if code == ops.SMALLEST:
            return (code, op[1].number, op[2].number, 0, 0, 0, 0)
        raise ValueError(f"unknown op {op!r}")

    def preloaded(self, vma_ids: np.ndarray) -> np.ndarray:
        """Engine ids for the VMAs mapped before the run, in order (before any other VMA)."""
        assert not self.vma_ids, "VMAs are preloaded before the run"
        self.vma_ids = dict(zip(vma_ids.tolist(), range(len(vma_ids))))
        if len(self.vma_ids) < len(vma_ids):
            ids, counts = np.unique(vma_ids, return_counts=True)
            twice = ids[counts > 1][0]
            raise ValueError(f"VMA {int(twice)} inserted twice")
        self.vmas = len(vma_ids)
        return np.arange(len(vma_ids), dtype=np.int64)

    def engine_id(self, vma_id: int) -> int:
        try:
            return self.vma_ids[vma_id]
        except KeyError:
            raise ValueError(f"VMA {vma_id} is not mapped") from None

    def free_vma(self, slot: int, vma_id: int) -> int:
        """A removed VMA's engine id, which the CPU that removed it reuses next."""
        vma = self.engine_id(vma_id)
        del self.vma_ids[vma_id]
        cpu = self.cpus[slot]
        if cpu.freed == len(cpu.free):
            cpu.free = np.concatenate([cpu.free, np.zeros(len(cpu.free), dtype=np.int64)])
        cpu.free[cpu.freed] = vma
        cpu.freed += 1
        return vma

    def new_vma(self, slot: int, vma_id: int) -> int:
        """The engine's id for a VMA the workload inserts (ids of removed VMAs are reused by the
        CPU that removed them, after the removal in its program; sim/iterate.py does the same)."""
        if vma_id in self.vma_ids:
            raise ValueError(f"VMA {vma_id} inserted twice")
        cpu = self.cpus[slot]
        if cpu.freed:
            cpu.freed -= 1
            vma = int(cpu.free[cpu.freed])
        else:
            vma = self.vmas
            self.vmas += 1
        self.vma_ids[vma_id] = vma
        return vma


class Recorder(Encoder):
    """Encodes ops made of placeholders: notes what they do with each VMA (by `source`, the
    placeholder's index among the values filled in) instead of giving out engine ids."""

    def __init__(self, encoder: Encoder, source: Callable[[int], int]):
        super().__init__([], encoder.expand)
        self.lockrefs = encoder.lockrefs  # the encoder's: lines are noted once, when a template is made
        self.templates = encoder.templates
        self.source = source
        self.events: list[tuple[int, int]] = []

    def _event(self, event: int, vma_id: int) -> int:
        self.events.append((event, self.source(vma_id)))
        return MARK + len(self.events) - 1

    def new_vma(self, slot: int, vma_id: int) -> int:
        return self._event(INSERTS, vma_id)

    def engine_id(self, vma_id: int) -> int:
        return self._event(NAMES, vma_id)

    def free_vma(self, slot: int, vma_id: int) -> int:
        return self._event(REMOVES, vma_id)

    def _row(self, slot: int, op: tuple, pool: list) -> tuple:
        if op[0] == REPEAT:  # marks, removed once the program is encoded
            return (REPEAT, op[1], 0, 0, 0, 0, 0)
        if op[0] == REPEAT_END:
            return (REPEAT_END, 0, 0, 0, 0, 0, 0)
        return super()._row(slot, op, pool)
