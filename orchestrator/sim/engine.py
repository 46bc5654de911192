"""The discrete-event engine: an integer-nanosecond clock, a heap of plain tuples, and one
interpreter loop that runs each CPU's operations until it has to wait.

Events are (time, seq, handler, arg); seq breaks ties in scheduling order, so a run is a pure
function of its inputs. A CPU whose next step is no later than every pending event goes on
inline instead of through the heap (at a tie it runs first): fewer heap operations, and still
one fixed order.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time as wallclock
from typing import Callable, Iterator

from orchestrator.sim import ops
from orchestrator.sim.cachelines import CacheLines
from orchestrator.sim.histogram import Histogram, bucket_of
from orchestrator.sim.locks import (BIG, IDLE, KINDS, PERCPU_RWSEM, RUNNING, SPINNING, Lock, LockClass,
                                    PercpuRwsem)
from orchestrator.sim.machine import Machine
from orchestrator.sim.rng import SlotRandom
from orchestrator.sim.streams import ENGINE
from orchestrator.sim.tree import Tree
from orchestrator.spec.kernel import KernelSpec


class CheckFailure(AssertionError):
    """An engine invariant broke (--check)."""


class Cpu:
    __slots__ = ("slot", "prog", "pc", "stack", "batches", "started", "iterations", "node", "contended")

    def __init__(self, slot: int, node: int, batches: Iterator[list[tuple]]):
        self.slot = slot
        self.node = node
        self.contended = False  # the walk under way gave up on a contended lock
        self.batches = batches
        self.prog: list[tuple] | tuple = ()
        self.pc = 0
        self.stack: list[tuple] = []
        self.started = 0
        self.iterations = 0


class Engine:
    def __init__(self, machine: Machine, kernel: KernelSpec, *, check: bool = False,
                 end_ns: int, warmup_ns: int = 0, windows: int = 100, seed: int = 0):
        self.machine = machine
        self.kernel = kernel
        self.costs = machine.topology.costs_ns
        self.check = check
        self.now = 0
        self.end_ns = end_ns
        self.warmup_ns = warmup_ns
        self.heap: list[tuple] = []
        self.seq = itertools.count()
        self.events = 0
        self.lines = CacheLines(machine)
        self.lock_classes: dict[str, LockClass] = {}
        self.locks: list[Lock] = []
        self.trees: list[Tree] = []
        self.cpus: list[Cpu] = []
        self.state: list[int] = []            # RUNNING, SPINNING, SLEEPING or IDLE, per slot
        self.held: list[list[Lock]] = []      # sleeping locks each slot owns for write
        self.random = SlotRandom(seed, ENGINE)
        # Weibull scale for the spin time: mean spin_mean_ns whatever the shape
        self.spin_scale = kernel.spin_mean_ns / math.gamma(1 + 1 / kernel.spin_shape)
        self.smt_slowdown = machine.topology.costs_ns.smt_slowdown
        self.fallback: dict[int, tuple] = {}  # lockref spinlock -> its fallback program
        self.expand: Callable[[int, tuple], list[tuple]] | None = None  # the strategy's expansion
        self.inserted = self.removed = 0  # VMAs the run linked and unlinked (conservation check)
        # measurements (reset at the end of warm-up)
        self.window_ns = max(1, end_ns // windows)
        self.window_iterations = [0] * (end_ns // self.window_ns + 1)
        self.window_response = [0] * len(self.window_iterations)
        self._reset_measurements()

    def _reset_measurements(self) -> None:
        """Steady-state figures count from here (the time series keeps the warm-up)."""
        self.response_hist = (Histogram(), Histogram())
        self.response_total = [0, 0]
        self.iterations = [0, 0]
        self.wait_total = 0
        self.walk_hist = Histogram()
        self.contended_walk_hist = Histogram()
        self.cpu_ns = [0, 0, 0, 0]  # in-window ns of the slots, by state (running: the rest)
        self.lockref_fallbacks = 0
        for cpu in self.cpus:
            cpu.iterations = 0

    # ---- building the world -------------------------------------------------------------

    def line(self, name: str, home: int) -> int:
        return self.lines.add(name, home)

    def in_window(self, start: int, end: int) -> int:
        """The part of [start, end) inside the measured window."""
        return max(0, min(end, self.end_ns) - max(start, self.warmup_ns))

    def spin_time(self, slot: int) -> int:
        """How long a new spinner spins before need_resched() (kernel.spin_rule hazard): Weibull
        with the kernel's mean and shape, from the slot's engine generator."""
        e = self.random.exponential(slot)
        shape = self.kernel.spin_shape
        return int(self.spin_scale * (e if shape == 1.0 else e ** (1 / shape)))

    def smt_factor(self, slot: int) -> float:
        """A CPU whose SMT sibling runs or spins shares its core: its work takes longer."""
        state = self.state
        for sibling in self.machine.siblings[slot]:
            if state[sibling] <= SPINNING:
                return self.smt_slowdown
        return 1.0

    def lock(self, name: str, cls: str, kind: str, home: int, line: int | None = None) -> int:
        """A lock of class `cls`; `line` puts its word on a line the layout already has
        (a struct that packs the lock beside other fields), else it gets a line of its own."""
        if kind not in KINDS:
            raise ValueError(f"unknown lock kind {kind!r}")
        lock_class = self.lock_classes.setdefault(cls, LockClass(cls, kind))
        word = self.line(f"{name}.word", home) if line is None else line
        if kind == PERCPU_RWSEM:
            counters = [self.line(f"{name}.count[{slot}]", node) for slot, node in enumerate(self.machine.node)]
            self.locks.append(PercpuRwsem(name, lock_class, word, counters, self))
        else:
            self.locks.append(Lock(name, lock_class, word, word if line is not None else
                                   self.line(f"{name}.wait_lock", home), self))
        return len(self.locks) - 1

    @property
    def preloaded(self) -> int:
        return sum(tree.preloaded for tree in self.trees)

    def tree(self, name: str, root_line: int, home: int) -> int:
        k = self.kernel
        self.trees.append(Tree(name, self.lines, root_line, home, k.tree_hot_levels, k.tree_neighbor_writes,
                               k.tree_root_writes, self.costs.tree_level, self.costs.rmap_vma))
        return len(self.trees) - 1

    def add_cpu(self, batches: Iterator[list[tuple]]) -> None:
        slot = len(self.cpus)
        self.cpus.append(Cpu(slot, self.machine.node[slot], batches))
        self.state.append(RUNNING)
        self.held.append([])
        self.random.add_slot()

    # ---- scheduling -----------------------------------------------------------------------

    def at(self, when: int, handler: Callable, arg) -> None:
        heapq.heappush(self.heap, (when, next(self.seq), handler, arg))

    def resume(self, slot: int, when: int, waited: int) -> None:
        """A lock granted `slot` after it waited; it goes on at `when`.

        A hold that follows at once touches no shared state, so it is folded into the same
        event (as a hand-written simulator would), saving one heap round trip per handoff.
        """
        self.wait_total += waited
        cpu = self.cpus[slot]
        prog, pc = cpu.prog, cpu.pc
        if pc < len(prog) and prog[pc][0] == ops.HOLD:
            when += int(prog[pc][1] * self.smt_factor(slot))
            cpu.pc = pc + 1
        heapq.heappush(self.heap, (when, next(self.seq), self._run, cpu))

    def run(self) -> float:
        """Run to end_ns; returns wall seconds."""
        began = wallclock.perf_counter()
        for cpu in self.cpus:
            self.at(0, self._run, cpu)
        if 0 < self.warmup_ns < self.end_ns:
            self.at(self.warmup_ns, self._end_warmup, None)
        heap, pop, end = self.heap, heapq.heappop, self.end_ns
        check = self.check
        while heap and heap[0][0] <= end:
            when, _, handler, arg = pop(heap)
            if check and when < self.now:
                raise CheckFailure(f"time went back from {self.now} to {when}")
            self.now = when
            self.events += 1
            handler(arg)
        self.now = end
        for lock in self.locks:
            lock.close(end)
        if check:
            self.check_trees()
        return wallclock.perf_counter() - began

    def check_trees(self) -> None:
        """VMAs are conserved: the trees hold what was preloaded plus inserted minus removed,
        and no VMA sits in two subtrees of a file."""
        held = sum(tree.size for tree in self.trees)
        expected = self.preloaded + self.inserted - self.removed
        if held != expected:
            raise CheckFailure(f"trees hold {held} VMAs, expected {expected}")
        seen: dict[str, set[int]] = {}
        for tree in self.trees:
            ids = seen.setdefault(tree.name.rsplit(".", 1)[0], set())
            if not ids.isdisjoint(tree.position):
                raise CheckFailure(f"{tree.name}: a VMA is in two subtrees")
            ids.update(tree.position)

    def _end_warmup(self, _) -> None:
        for cls in self.lock_classes.values():
            for stats in cls.stats:
                stats.reset()
        lines = self.lines
        lines.local = lines.remote = 0
        lines.transfers = [0] * len(lines.transfers)
        self._reset_measurements()

    # ---- the interpreter ------------------------------------------------------------------

    def _run(self, cpu: Cpu) -> None:
        """Execute cpu's operations from now until it waits on a lock or on the clock."""
        heap = self.heap
        t = self.now
        slot = cpu.slot
        lines = self.lines
        self.state[slot] = RUNNING
        prog, pc = cpu.prog, cpu.pc
        while True:
            if pc >= len(prog):
                if cpu.stack:
                    prog, pc, walk_began = cpu.stack.pop()
                    if walk_began >= 0:
                        hist = self.contended_walk_hist if cpu.contended else self.walk_hist
                        hist.counts[bucket_of(t - walk_began)] += 1
                        cpu.contended = False
                else:
                    prog, pc = next(cpu.batches), 0
                continue
            op = prog[pc]
            pc += 1
            code = op[0]
            if code == ops.DELAY or code == ops.HOLD:
                t += int(op[1] * self.smt_factor(slot))
            elif code == ops.IDLE:
                self.state[slot] = IDLE
                self.cpu_ns[IDLE] += self.in_window(t, t + op[1])
                t += op[1]
                cpu.prog, cpu.pc = prog, pc
                if t <= self.end_ns:  # through the heap: it runs again (RUNNING) from there
                    heapq.heappush(heap, (t, next(self.seq), self._run, cpu))
                return
            elif code == ops.ACQUIRE:
                cpu.prog, cpu.pc = prog, pc
                cost = self.locks[op[1]].acquire(slot, op[2], t)
                if cost < 0:
                    return  # parked: the lock resumes this CPU when it grants it
                t += cost
            elif code == ops.RELEASE:
                t += self.locks[op[1]].release(slot, op[2], t)
            elif code == ops.TRY_ACQUIRE:
                cost = self.locks[op[1]].try_acquire(slot, op[2], t)
                if cost >= 0:
                    t += cost
                else:  # give up: drop what was taken, skip the rest (folio_referenced's rwc->contended)
                    t += -1 - cost
                    for lock, mode in reversed(op[3]):
                        t += self.locks[lock].release(slot, mode, t)
                    cpu.contended = True
                    pc = len(prog)
            elif code == ops.START:
                cpu.started = t
            elif code == ops.END:
                self._iteration_done(cpu, op[1], t)
            elif code == ops.IMMAP:
                cpu.stack.append((prog, pc, t if op[1] == ops.RMAP_WALK else -1))
                prog, pc = self.expand(slot, op), 0
            elif code == ops.TREE:  # a critical section's work: a busy SMT sibling slows all of it
                t += int(self._tree_op(op, slot, t) * self.smt_factor(slot))
            elif code == ops.READ:
                t += lines.read(op[1], slot)
            elif code == ops.READ_ALL:
                t += lines.read_all(op[1], slot)
            elif code == ops.WRITE:
                t += lines.write(op[1], slot)
            elif code == ops.ATOMIC:
                t += lines.atomic(op[1], slot, t)
            elif code == ops.CMPXCHG:
                lock = op[2]
                if lock >= 0 and self.locks[lock].busy():
                    cost, done = 0, False  # the loop runs only while the spinlock is free
                else:
                    cost, done = lines.cmpxchg(op[1], slot, t, self.kernel.lockref_retry_limit if lock >= 0 else BIG)
                t += cost
                if not done:  # lockref falls back to its spinlock
                    self.lockref_fallbacks += 1
                    cpu.stack.append((prog, pc, -1))
                    prog, pc = self._fallback(lock), 0
            else:
                raise ValueError(f"unknown op {op!r}")
            if t != self.now:
                cpu.prog, cpu.pc = prog, pc
                if t > self.end_ns:
                    return
                if heap and t > heap[0][0]:
                    heapq.heappush(heap, (t, next(self.seq), self._run, cpu))
                    return
                self.now = t
                self.events += 1

    def _fallback(self, lock: int) -> tuple:
        program = self.fallback.get(lock)
        if program is None:
            program = self.fallback[lock] = ((ops.ACQUIRE, lock, ops.WRITE_MODE), (ops.RELEASE, lock, ops.WRITE_MODE))
        return program

    def _iteration_done(self, cpu: Cpu, cls: int, t: int) -> None:
        response = t - cpu.started
        cpu.iterations += 1
        self.iterations[cls] += 1
        self.response_total[cls] += response
        self.response_hist[cls].counts[bucket_of(response)] += 1
        window = t // self.window_ns
        self.window_iterations[window] += 1
        self.window_response[window] += response

    def _tree_op(self, op: tuple, slot: int, t: int) -> int:
        tree = self.trees[op[1]]
        action = op[2]
        if action == ops.INSERT:
            vma, first, last = op[3]
            self.inserted += 1
            return tree.insert(vma, first, last, slot)
        if action == ops.REMOVE:
            self.removed += 1
            return tree.remove(op[3], slot)
        first, last = op[3]
        found, cost = tree.query(first, last, slot)
        if self.check and found != tree.brute_force(first, last):
            raise CheckFailure(f"{tree.name}: query [{first}, {last}] returned {found}")
        return cost
