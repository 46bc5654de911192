"""The engine's Python side: the world a run declares, the encoder, and the driver of the
compiled loop (sim/loop.py).

Strategies and workload generators declare cache lines, locks, trees and tables here, then each
CPU's operation batches (plain tuples, sim/ops.py) are encoded into integer rows when the CPU
reaches the end of what it has: i_mmap operations are expanded by the strategy at that moment,
ahead of simulated time, so an expansion may not read the model's state; a choice that depends
on it is a micro-op (SMALLEST, SUBTREE_OF, TRY_ACQUIRE).
"""

from __future__ import annotations

import math
import time as wallclock
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from orchestrator.sim import ops, state
from orchestrator.sim.histogram import BUCKETS, Histogram
from orchestrator.sim.heap import push_event
from orchestrator.sim.locks import close_all
from orchestrator.sim.ops import KINDS, PERCPU_RWSEM
from orchestrator.sim.loop import run as run_loop
from orchestrator.sim.machine import Machine
from orchestrator.sim.rng import seed_state
from orchestrator.sim.ops import ROW
from orchestrator.sim.state import BIG, MEMORY, State, compiled, filled, grown, hist_rows, zeros
from orchestrator.sim.streams import ENGINE
from orchestrator.sim.trees import preload as preload_vmas
from orchestrator.spec.kernel import KernelSpec


class CheckFailure(AssertionError):
    """An engine invariant broke (--check)."""


class LockViolation(CheckFailure):
    """An invariant of mutual exclusion broke: a bug in the model, found by --check."""


@dataclass
class LockStats:
    """One row of /proc/lock_stat: a lock class in one mode, plus where waiters spent their wait."""

    acquisitions: int = 0
    contentions: int = 0
    acq_bounces: int = 0
    con_bounces: int = 0
    wait_total: int = 0
    wait_min: int = BIG
    wait_max: int = 0
    hold_total: int = 0
    hold_min: int = BIG
    hold_max: int = 0
    holds: int = 0
    sleeps: int = 0
    handoffs: int = 0
    spin_ns: int = 0
    sleep_ns: int = 0
    wait_hist: Histogram = field(default_factory=Histogram)


STAT_FIELDS = ("acquisitions", "contentions", "acq_bounces", "con_bounces", "wait_total", "wait_min", "wait_max",
               "hold_total", "hold_min", "hold_max", "holds", "sleeps", "handoffs", "spin_ns", "sleep_ns")


@dataclass
class LockClass:
    """Locks of one class share statistics, as lockdep classes do in /proc/lock_stat."""

    name: str
    kind: str
    index: int
    stats: tuple[LockStats, LockStats] = (LockStats(), LockStats())  # by mode, filled after the run


class Table(list):
    """Per-subtree handles (trees, locks, lines) that a run-time choice can index:
    `table[ops.SUBTREE]` is the entry the CPU's subtree register names when the op runs."""

    def __init__(self, values, index: int):
        super().__init__(values)
        self.index = index

    def __getitem__(self, key):
        if isinstance(key, ops.RunTime):
            return ops.INDIRECT + self.index
        return super().__getitem__(key)


@dataclass
class LockDecl:
    name: str
    cls: int
    kind: int
    line: int
    wait_lock: int
    counters: list[int]


SLEEPING = (KINDS.index("rwsem"), KINDS.index("mutex"))  # kinds whose write holders owner_on_cpu tracks
CHUNK = 256  # rows encoded per refill: the rest of a batch waits, so buffers stay small
PLAIN = frozenset({ops.DELAY, ops.HOLD, ops.RELEASE, ops.READ, ops.WRITE, ops.ATOMIC, ops.START, ops.END,
                   ops.IDLE})  # ops whose tuple is already their row
ENCODED = np.array(sorted(PLAIN | {ops.ACQUIRE}))  # what a batch handed over as rows may hold
PAD = [(0,) * (ROW - k) for k in range(ROW + 1)]  # what fills a plain op's tuple to a row
WALK_BEGIN, WALK_END = (ops.WALK_BEGIN,) + PAD[1], (ops.WALK_END,) + PAD[1]


@dataclass
class Cpu:
    batches: Iterator[list[tuple]]
    pending: list[tuple] = field(default_factory=list)  # the batch being encoded ...
    at: int = 0                                          # ... from here
    free_vmas: list[int] = field(default_factory=list)  # engine VMA ids this CPU's removals freed


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


class Engine:
    def __init__(self, machine: Machine, kernel: KernelSpec, *, check: bool = False,
                 end_ns: int, warmup_ns: int = 0, windows: int = 100, seed: int = 0, trace_grants: int = 0):
        self.machine = machine
        self.trace_grants = trace_grants  # how many grants to keep for grants() (tests, debugging)
        self.kernel = kernel
        self.costs = machine.topology.costs_ns
        self.check = check
        self.end_ns = end_ns
        self.warmup_ns = warmup_ns
        self.seed = seed
        self.window_ns = max(1, end_ns // windows)
        self.lock_classes: dict[str, LockClass] = {}
        self.line_homes: list[int] = []
        self.locks: list[LockDecl] = []
        self.tree_names: list[str] = []
        self.tree_roots: list[int] = []
        self.tree_tops: list[list[int]] = []
        self.tables: list[list[int]] = []
        self.preloads: list[tuple[int, int, int, int, int]] = []  # (tree, vma, first, last, node)
        self.cpus: list[Cpu] = []
        self.expand: Callable[[int, tuple], list[tuple]] | None = None  # the strategy's expansion
        self.vma_ids: dict[int, int] = {}  # workload VMA id -> engine VMA id
        self.next_vma = 0
        self.S: State | None = None  # the arrays, once the run starts
        self.ref = None               # ... as the compiled code takes them (state.compiled)
        self.events = 0

    # ---- building the world -------------------------------------------------------------

    def line(self, name: str, home: int) -> int:
        self.line_homes.append(home)
        return len(self.line_homes) - 1

    def lock(self, name: str, cls: str, kind: str, home: int, line: int | None = None) -> int:
        """A lock of class `cls`; `line` puts its word on a line the layout already has
        (a struct that packs the lock beside other fields), else it gets a line of its own."""
        if kind not in KINDS:
            raise ValueError(f"unknown lock kind {kind!r}")
        lock_class = self.lock_classes.setdefault(cls, LockClass(cls, kind, len(self.lock_classes)))
        word = self.line(f"{name}.word", home) if line is None else line
        counters: list[int] = []
        if kind == PERCPU_RWSEM:
            counters = [self.line(f"{name}.count[{slot}]", node) for slot, node in enumerate(self.machine.node)]
            wait_lock = word
        else:
            wait_lock = word if line is not None else self.line(f"{name}.wait_lock", home)
        self.locks.append(LockDecl(name, lock_class.index, KINDS.index(kind), word, wait_lock, counters))
        return len(self.locks) - 1

    def tree(self, name: str, root_line: int, home: int) -> int:
        self.tree_names.append(name)
        self.tree_roots.append(root_line)
        self.tree_tops.append([self.line(f"{name}.level{i + 1}", home) for i in range(self.kernel.tree_hot_levels)])
        return len(self.tree_names) - 1

    def table(self, values: list[int]) -> Table:
        """Handles one run-time choice picks from (see ops.SMALLEST, ops.SUBTREE_OF)."""
        self.tables.append(list(values))
        return Table(values, len(self.tables) - 1)

    def preload(self, tree: int, vma: int, first: int, last: int, node: int) -> None:
        """A VMA mapped on `node` before the run: no cost, its line still in memory."""
        self.preloads.append((tree, vma, first, last, node))

    def add_cpu(self, batches: Iterator[list[tuple]]) -> None:
        self.cpus.append(Cpu(batches))

    @property
    def preloaded(self) -> int:
        return len(self.preloads)

    # ---- the state arrays -----------------------------------------------------------------

    def _allocate(self) -> State:
        m, k, costs = self.machine, self.kernel, self.costs
        slots, nodes = len(self.cpus), m.nodes
        words = -(-slots // state.BITS)
        lines = len(self.line_homes) + len(self.preloads) + 64 * slots + 1024
        locks = len(self.locks)
        classes = len(self.lock_classes)
        trees = len(self.tree_names)
        per_tree = np.bincount([p[0] for p in self.preloads], minlength=trees).astype(np.int64)
        capacity = per_tree * 2 + 64
        reg = zeros(state.NREG)
        reg[state.END_NS], reg[state.WARMUP_NS], reg[state.WINDOW_NS] = self.end_ns, self.warmup_ns, self.window_ns
        reg[state.LOCK_OP], reg[state.WAKEUP] = costs.lock_op, costs.wakeup
        reg[state.RETRY_LIMIT] = k.lockref_retry_limit
        reg[state.SPIN_FIXED] = k.spin_rule == "fixed"
        reg[state.SPIN_LIMIT] = -1 if k.spin_limit_ns is None else k.spin_limit_ns
        reg[state.RSPIN_BASE], reg[state.RSPIN_PER] = k.reader_owned_spin_base_ns, k.reader_owned_spin_per_reader_ns
        reg[state.RSPIN_MAX], reg[state.MAX_WOKEN] = k.reader_owned_spin_max_ns, k.max_readers_woken
        reg[state.HANDOFF_NS] = k.handoff_ns
        reg[state.HOME_EFFECT] = m.home_node_effect
        reg[state.CHECK] = self.check
        reg[state.NLINES] = len(self.line_homes)
        reg[state.LEVEL_NS], reg[state.RMAP_VMA_NS] = costs.tree_level, costs.rmap_vma
        reg[state.NEIGHBOR_WRITES], reg[state.ROOT_WRITES] = k.tree_neighbor_writes, k.tree_root_writes
        reg[state.RESUME_SLOT] = -1
        fparam = np.zeros(state.NFPARAM)
        fparam[state.SMT_SLOWDOWN] = costs.smt_slowdown
        fparam[state.SPIN_SCALE] = k.spin_mean_ns / math.gamma(1 + 1 / k.spin_shape)
        fparam[state.SPIN_SHAPE] = k.spin_shape
        fparam[state.HANDOFF_TRANSFERS] = k.handoff_line_transfers
        fparam[state.COST_SCALE] = k.cost_scale
        siblings = filled(-1, slots, max([len(s) for s in m.siblings] + [1]))
        for slot, group in enumerate(m.siblings):
            siblings[slot, :len(group)] = group
        home = zeros(lines)
        home[:len(self.line_homes)] = self.line_homes
        counters = [c for lock in self.locks for c in lock.counters]
        counter_start = np.cumsum([0] + [len(lock.counters) for lock in self.locks])[:-1]
        tables = filled(-1, max(len(self.tables), 1), max([len(t) for t in self.tables] + [1]))
        for i, values in enumerate(self.tables):
            tables[i, :len(values)] = values
        stats = zeros(classes * 2, state.NSTAT)
        stats[:, state.ST_WAIT_MIN] = stats[:, state.ST_HOLD_MIN] = BIG
        heap = 8 * slots + 64
        windows = self.end_ns // self.window_ns + 1
        vmas = len(self.preloads) + 64 * slots + 1024
        return State(
            reg=reg, fparam=fparam,
            node=np.array(m.node, dtype=np.int64), latency=np.array(m.latency, dtype=np.int64),
            to_node=np.array(m.to_node, dtype=np.int64).reshape(slots, nodes), siblings=siblings,
            home=home, owner=filled(MEMORY, lines), busy=zeros(lines), transfers=zeros(lines),
            sharers=zeros(lines, words), cx_of=filled(-1, lines), cx_end=zeros(0, slots + 1),
            cx_slot=zeros(0, slots + 1), cx_n=zeros(0), free=zeros(lines),
            lk_kind=np.array([lock.kind for lock in self.locks], dtype=np.int64).reshape(locks),
            lk_cls=np.array([lock.cls for lock in self.locks], dtype=np.int64).reshape(locks),
            lk_line=np.array([lock.line for lock in self.locks], dtype=np.int64).reshape(locks),
            lk_wait=np.array([lock.wait_lock for lock in self.locks], dtype=np.int64).reshape(locks),
            lk_writer=filled(-1, locks), lk_readers=zeros(locks), lk_handoff=filled(-1, locks),
            lk_handoff_ns=np.array([k.handoff_ns if lock.kind == KINDS.index("rwsem") else 0
                                    for lock in self.locks], dtype=np.int64).reshape(locks),
            lk_sp_head=filled(-1, locks), lk_sp_tail=filled(-1, locks), lk_sp_n=zeros(locks),
            lk_sl_head=filled(-1, locks), lk_sl_tail=filled(-1, locks), lk_sl_n=zeros(locks),
            lk_draining=zeros(locks), lk_counters=np.asarray(counter_start, dtype=np.int64).reshape(locks),
            pc_lines=np.array(counters, dtype=np.int64).reshape(len(counters)),
            hold_mode=filled(-1, locks, slots), hold_since=zeros(locks, slots), lk_holders=zeros(locks),
            held=filled(-1, slots, max(1, sum(lock.kind in SLEEPING for lock in self.locks))), held_n=zeros(slots),
            stats=stats, stats_hist=hist_rows(classes * 2), grants=zeros(self.trace_grants, 4),
            w_lock=filled(-1, slots), w_mode=zeros(slots), w_arrived=zeros(slots), w_state=zeros(slots),
            w_since=zeros(slots), w_deadline=filled(BIG, slots), w_queued=filled(-1, slots), w_gen=zeros(slots),
            q_next=filled(-1, slots), q_prev=filled(-1, slots),
            tr_root=np.array(self.tree_roots, dtype=np.int64).reshape(trees),
            tr_top=np.array(self.tree_tops, dtype=np.int64).reshape(trees, k.tree_hot_levels),
            tr_start=np.concatenate([[0], np.cumsum(capacity)[:-1]]).astype(np.int64), tr_cap=capacity,
            tr_size=zeros(trees), tr_preloaded=zeros(trees), members=filled(-1, int(capacity.sum())),
            v_orig=zeros(vmas), v_tree=filled(-1, vmas), v_pos=zeros(vmas), v_line=zeros(vmas),
            v_first=zeros(vmas), v_last=zeros(vmas), tables=tables,
            state=zeros(slots), prog=zeros(slots, 256, ROW), p_len=zeros(slots), pc=zeros(slots),
            pool=zeros(slots, 64), started=zeros(slots), iters=zeros(slots), walk_began=zeros(slots),
            contended=zeros(slots), subtree=zeros(slots),
            rng=np.array([seed_state(self.seed, ENGINE, s) for s in range(slots)], dtype=np.uint64),
            h_time=zeros(heap), h_seq=zeros(heap), h_kind=zeros(heap), h_arg=zeros(heap),
            win_iter=zeros(windows), win_resp=zeros(windows), resp_hist=hist_rows(2), resp_total=zeros(2),
            iters_cls=zeros(2), walk_hist=zeros(BUCKETS), cwalk_hist=zeros(BUCKETS),
            cpu_ns=zeros(4),
        )

    def _new_vma(self, slot: int, vma_id: int) -> int:
        """The engine's id for a VMA the workload inserts (ids of removed VMAs are reused by the
        CPU that removed them, after the removal in its program)."""
        if vma_id in self.vma_ids:
            raise ValueError(f"VMA {vma_id} inserted twice")
        free = self.cpus[slot].free_vmas if slot >= 0 else []
        if free:
            vma = free.pop()
        else:
            vma = self.next_vma
            self.next_vma += 1
            if vma >= len(self.S.v_orig):
                self._grow_vmas()
        self.vma_ids[vma_id] = vma
        return vma

    # ---- growing --------------------------------------------------------------------------

    def _grow_vmas(self) -> None:
        S = self.S
        size = 2 * len(S.v_orig)
        self.S = S._replace(v_orig=grown(S.v_orig, size), v_tree=grown(S.v_tree, size, -1),
                            v_pos=grown(S.v_pos, size), v_line=grown(S.v_line, size),
                            v_first=grown(S.v_first, size), v_last=grown(S.v_last, size))

    def _grow(self, what: int, tree: int) -> None:
        S = self.S
        if what == state.GROW_HEAP:
            size = 2 * len(S.h_time)
            self.S = S._replace(h_time=grown(S.h_time, size), h_seq=grown(S.h_seq, size),
                                h_kind=grown(S.h_kind, size), h_arg=grown(S.h_arg, size))
        elif what == state.GROW_LINES:
            size = 2 * len(S.owner)
            self.S = S._replace(home=grown(S.home, size), owner=grown(S.owner, size, MEMORY),
                                busy=grown(S.busy, size), transfers=grown(S.transfers, size),
                                sharers=grown(S.sharers, size), cx_of=grown(S.cx_of, size, -1),
                                free=grown(S.free, size))
        elif what == state.GROW_TREE:  # move the tree's members to the end, with twice the room
            start, size, cap = S.tr_start[tree], S.tr_size[tree], 2 * S.tr_cap[tree]
            members = grown(S.members, len(S.members) + cap, -1)
            members[len(S.members):len(S.members) + size] = S.members[start:start + size]
            S.tr_start[tree], S.tr_cap[tree] = len(S.members), cap
            self.S = S._replace(members=members)

    # ---- encoding -------------------------------------------------------------------------

    def _lockref_line(self, line: int) -> None:
        """Give a line that sees cmpxchg loops its list of RMWs in flight."""
        S = self.S
        if S.cx_of[line] < 0:
            S.cx_of[line] = len(S.cx_n)
            self.S = S._replace(cx_end=np.vstack([S.cx_end, zeros(1, S.cx_end.shape[1])]),
                                cx_slot=np.vstack([S.cx_slot, zeros(1, S.cx_slot.shape[1])]),
                                cx_n=np.append(S.cx_n, 0))

    def _encode(self, slot: int, program, rows: list, pool: list, first: int = 0, limit: int = 0) -> int:
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
            elif code == ops.ACQUIRE:
                fold = i < n and program[i][0] == ops.HOLD
                rows += (code, op[1], op[2], int(fold), 0, 0, 0)
                if fold:
                    continue
            elif code == ops.IMMAP:
                walk = op[1] == ops.RMAP_WALK
                if walk:
                    rows += WALK_BEGIN
                self._encode(slot, self.expand(slot, op), rows, pool)
                if walk:
                    rows += WALK_END
            elif code == ops.TREE:
                action = op[2]
                if action == ops.INSERT:
                    vma_id, lo, hi = op[3]
                    rows += (code, op[1], action, self._new_vma(slot, vma_id), lo, hi, vma_id)
                elif action == ops.REMOVE:
                    vma = self.vma_ids.pop(op[3])
                    self.cpus[slot].free_vmas.append(vma)
                    rows += (code, op[1], action, vma, 0, 0, 0)
                else:
                    rows += (code, op[1], action, op[3][0], op[3][1], 0, 0)
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
                rows += (code, op[1], op[2], start, len(op[3]), 0, 0)
            elif code == ops.READ_ALL:
                rows += (code, len(pool), len(op[1]), 0, 0, 0, 0)
                pool += op[1]
            elif code == ops.CMPXCHG:
                line, lock = op[1], op[2]
                self._lockref_line(line)
                if lock >= 0:  # the fallback: take the spinlock (lockref_get's slow path)
                    rows += (code, line, lock, 2, 0, 0, 0, ops.ACQUIRE, lock, ops.WRITE_MODE, 0, 0, 0, 0,
                             ops.RELEASE, lock, ops.WRITE_MODE, 0, 0, 0, 0)
                else:
                    rows += (code, line, lock, 0, 0, 0, 0)
            elif code == ops.SUBTREE_OF:
                rows += (code, self.vma_ids[op[1]], op[2].index, 0, 0, 0, 0)
            elif code == ops.SMALLEST:
                rows += (code, op[1].index, op[2].index, 0, 0, 0, 0)
            else:
                raise ValueError(f"unknown op {op!r}")
            if limit and len(rows) >= limit:
                return i
        end = len(rows) // ROW  # a failed trylock skips to the end of its program
        for j in jumps:
            rows[j] = end
        return i

    def _refill(self, slot: int) -> None:
        """Encode the CPU's next ops, about CHUNK rows."""
        cpu = self.cpus[slot]
        rows: list[int] = []
        pool: list[int] = []
        while len(rows) < CHUNK * ROW:
            if isinstance(cpu.pending, np.ndarray) and cpu.at < len(cpu.pending):
                if rows:
                    break
                self._load(slot, cpu)
                return
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
                cpu.at = self._encode(slot, cpu.pending, rows, pool, cpu.at, CHUNK)
        self._store(slot, np.array(rows, dtype=np.int64).reshape(-1, ROW), pool)

    def _load(self, slot: int, cpu: Cpu) -> None:
        """Copy the next CHUNK rows of an encoded batch (extended past an ACQUIRE that folds)."""
        batch = cpu.pending
        end = min(cpu.at + CHUNK, len(batch))
        while end < len(batch) and batch[end - 1, 0] == ops.ACQUIRE and batch[end - 1, 3]:
            end += 1
        self._store(slot, batch[cpu.at:end], [])
        cpu.at = end

    def _store(self, slot: int, rows, pool: list) -> None:
        """Make `rows` (and the lists they point into) the CPU's program."""
        S = self.S
        if len(rows) > S.prog.shape[1]:
            prog = zeros(S.prog.shape[0], 2 * len(rows), ROW)
            prog[:, :S.prog.shape[1]] = S.prog
            self.S = S = S._replace(prog=prog)
        if len(pool) > S.pool.shape[1]:
            self.S = S = S._replace(pool=np.hstack([S.pool, zeros(S.pool.shape[0], 2 * len(pool))]))
        S.prog[slot, :len(rows)] = rows
        S.pool[slot, :len(pool)] = pool
        S.p_len[slot] = len(rows)
        S.pc[slot] = 0

    # ---- running --------------------------------------------------------------------------

    def start(self) -> None:
        """Lay out the state and schedule every CPU at time 0 (run() does this first)."""
        self.S = self._allocate()
        rows = [(tree, self._new_vma(-1, vma_id), vma_id, first, last, node)
                for tree, vma_id, first, last, node in self.preloads]
        preload_vmas(compiled(self.S), np.array(rows, dtype=np.int64).reshape(len(rows), 6))
        self.ref = compiled(self.S)
        for slot in range(len(self.cpus)):
            push_event(self.ref, 0, state.EV_RUN, slot)
        if 0 < self.warmup_ns < self.end_ns:
            push_event(self.ref, self.warmup_ns, state.EV_END_WARMUP, 0)

    def call(self, function, *args):
        """Call a compiled engine function on this run's state, as the loop would; a broken
        invariant becomes its exception (CheckFailure, LockViolation, ValueError)."""
        try:
            with np.errstate(over="ignore"):
                return function(self.ref, *args)
        except AssertionError:
            self._raise()

    def run(self) -> float:
        """Run to end_ns; returns wall seconds."""
        began = wallclock.perf_counter()
        if self.S is None:
            self.start()
        while True:
            status = self.call(run_loop)
            if status == state.DONE:
                break
            arrays = self.S
            if status == state.NEED_OPS:
                self._refill(int(self.S.reg[state.RESUME_SLOT]))
            else:
                self._grow(int(self.S.reg[state.ERROR_A]), int(self.S.reg[state.ERROR_B]))
            if self.S is not arrays:  # an array was replaced by a larger one
                self.ref = compiled(self.S)
        self.call(close_all, self.end_ns)
        self.events = int(self.S.reg[state.EVENTS])
        if self.check:
            self.check_trees()
        return wallclock.perf_counter() - began

    def grants(self) -> list[tuple[int, int, int, int]]:
        """(lock, slot, mode, start) of the first trace_grants grants, in the order made."""
        return [tuple(row) for row in self.S.grants[:self.reg(state.GRANTS_N)].tolist()]

    def _raise(self) -> None:
        reg = self.S.reg
        kind, template = ERRORS[int(reg[state.ERROR])]
        a, b = int(reg[state.ERROR_A]), int(reg[state.ERROR_B])
        lock = self.locks[a].name if 0 <= a < len(self.locks) else a
        tree = self.tree_names[a] if 0 <= a < len(self.tree_names) else a
        raise kind(template.format(a=a, b=b, lock=lock, tree=tree))

    def check_trees(self) -> None:
        """VMAs are conserved: the trees hold what was preloaded plus inserted minus removed."""
        S = self.S
        held = int(S.tr_size.sum())
        expected = self.preloaded + int(S.reg[state.INSERTED]) - int(S.reg[state.REMOVED])
        if held != expected:
            raise CheckFailure(f"trees hold {held} VMAs, expected {expected}")

    # ---- what the run measured ------------------------------------------------------------

    def tree_members(self, tree: int) -> dict[int, tuple[int, int]]:
        """The VMAs in a tree: workload id -> (first, last pgoff)."""
        S = self.S
        start = S.tr_start[tree]
        return {int(S.v_orig[v]): (int(S.v_first[v]), int(S.v_last[v]))
                for v in S.members[start:start + S.tr_size[tree]]}

    def lock_stats(self) -> dict[str, LockClass]:
        S = self.S
        for cls in self.lock_classes.values():
            rows = []
            for mode in (0, 1):
                row = cls.index * 2 + mode
                values = {name: int(S.stats[row, i]) for i, name in enumerate(STAT_FIELDS)}
                rows.append(LockStats(**values, wait_hist=self._hist(S.stats_hist[row])))
            cls.stats = tuple(rows)
        return self.lock_classes

    @staticmethod
    def _hist(counts: np.ndarray) -> Histogram:
        hist = Histogram()
        hist.counts = counts.tolist()
        return hist

    @property
    def response_hist(self) -> tuple[Histogram, Histogram]:
        return self._hist(self.S.resp_hist[0]), self._hist(self.S.resp_hist[1])

    @property
    def walk_hist(self) -> Histogram:
        return self._hist(self.S.walk_hist)

    @property
    def contended_walk_hist(self) -> Histogram:
        return self._hist(self.S.cwalk_hist)

    def reg(self, index: int) -> int:
        return int(self.S.reg[index])
