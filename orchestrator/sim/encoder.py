"""The encoder: each CPU's operations (tuples, sim/ops.py) turned into rows of ROW integers, a
chunk at a time, when the CPU reaches the end of what it has.

i_mmap operations are expanded by the strategy here, ahead of simulated time, so an expansion
may not read the model's state; a choice that depends on it is a micro-op (SMALLEST,
SUBTREE_OF, TRY_ACQUIRE). The encoder also gives the workload's VMAs dense engine ids and
notes the lines that see cmpxchg loops; it touches no array of the state: the driver
(sim/driver.py) makes room for what it handed out and stores the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from orchestrator.sim import ops
from orchestrator.sim.ops import ROW

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


Batch = list[tuple] | np.ndarray  # ops, or rows already encoded (plain ops and ACQUIRE only)


@dataclass
class Cpu:
    batches: Iterator[Batch]
    pending: Batch = field(default_factory=list)  # the batch being encoded ...
    at: int = 0                                          # ... from here
    free_vmas: list[int] = field(default_factory=list)  # engine VMA ids this CPU's removals freed


class Encoder:
    def __init__(self, streams: list[Iterator[Batch]], expand: Callable[[int, tuple], list[tuple]] | None):
        self.cpus = [Cpu(batches) for batches in streams]
        self.expand = expand  # the strategy's expansion of an i_mmap op
        self.vma_ids: dict[int, int] = {}  # workload VMA id -> engine VMA id
        self.vmas = 0                      # engine VMA ids handed out
        self.lockrefs: dict[int, None] = {}  # lines that see cmpxchg loops, in the order met

    def next_rows(self, slot: int) -> tuple[np.ndarray, list[int]]:
        """The CPU's next program, about CHUNK rows, and the pool its rows point into."""
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
                if isinstance(batch, np.ndarray) and not np.isin(batch[:, 0], ENCODED).all():
                    raise ValueError("an encoded batch may hold plain ops and ACQUIRE only (sim/ops.py, ROW)")
                cpu.pending, cpu.at = batch, 0
            else:
                cpu.at = self.encode(slot, cpu.pending, rows, pool, cpu.at, CHUNK)
                if cpu.pending[cpu.at - 1][0] == ops.MIGRATE:
                    break  # what follows is expanded once the task runs where sched_exec put it
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
        """Append the rows of program[first:] (a strategy's expansion) to `rows`, a flat list
        of ROW integers per row; or, with a row `limit`, of a batch's ops until about that many
        rows are out (never stopping after an ACQUIRE whose HOLD its grant would fold in).
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
                if code == ops.MIGRATE and limit:
                    return i  # the rest is expanded once the task runs where sched_exec put it
            elif code == ops.ACQUIRE:
                fold = i < n and program[i][0] == ops.HOLD
                rows += (code, op[1], op[2], int(fold), caller_code(op, 3), 0, 0)
                if fold:
                    continue
            elif code == ops.IMMAP:
                assert self.expand is not None, "an i_mmap op, and no strategy to expand it"
                walk = op[1] == ops.RMAP_WALK
                if walk:
                    rows += WALK_BEGIN
                self.encode(slot, self.expand(slot, op), rows, pool)
                if walk:
                    rows += WALK_END
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
                after = self.vma_ids[op[4]]
                return (ops.WRITE_VMA, after, 0, 0, 0, 0, 0,
                        code, op[1], action, self.new_vma(slot, vma_id), lo, hi, vma_id)
            if action == ops.REMOVE:
                vma = self.vma_ids.pop(op[3])
                self.cpus[slot].free_vmas.append(vma)
                return (code, op[1], action, vma, 0, 0, 0)
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
            return (code, self.vma_ids[op[1]], op[2].number, 0, 0, 0, 0)
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

    def new_vma(self, slot: int, vma_id: int) -> int:
        """The engine's id for a VMA the workload inserts (ids of removed VMAs are reused by the
        CPU that removed them, after the removal in its program)."""
        if vma_id in self.vma_ids:
            raise ValueError(f"VMA {vma_id} inserted twice")
        free = self.cpus[slot].free_vmas
        if free:
            vma = free.pop()
        else:
            vma = self.vmas
            self.vmas += 1
        self.vma_ids[vma_id] = vma
        return vma
