"""The strategy plugin interface: one file per lock design.

A strategy lays out each file's address_space (locks, tree roots and counters on named cache
lines, each with its home node), chooses the subtree of a new VMA, and expands every i_mmap
operation into lock, tree and cache-line micro-ops. An expansion is made once per shape of op
and reused, so it is a pure function of the op; choices are micro-ops (docs/plugins.md).
Register it under the entry point group `orch.strategies` (see pyproject.toml).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from orchestrator.sim import ops
from orchestrator.sim.machine import Machine
from orchestrator.spec.strategy import StrategySpec

if TYPE_CHECKING:  # the engine (and its compiler) loads only when a run needs it
    from orchestrator.sim.engine import Engine

# struct sizes on x86_64 without lock debugging, in bytes
RB_ROOT_CACHED = 16     # struct rb_root_cached: rb_node pointer + leftmost pointer
RW_SEMAPHORE = 40       # count 8, owner 8, osq 4 (+4 pad), wait_lock 4 (+4 pad), wait_list 16 ... = 40
ATOMIC_T = 4
POINTER = 8
SPINLOCK_T = 4          # arch_spinlock_t, no lockdep
MUTEX = 32              # struct mutex: owner 8, wait_lock 4, osq 4, wait_list 16
CACHE_LINE = 64


def kmalloc_size(size: int) -> int:
    """Bytes a kmalloc of `size` really takes: the next kmalloc cache (8, 16, 32, 64, 96, 128, 192, 256...)."""
    for cache in (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192):
        if size <= cache:
            return cache
    return -(-size // 4096) * 4096


@dataclass
class FileDecl:
    """A file whose i_mmap the workload uses, with VMAs mapped before the run starts."""

    name: str
    home: int  # node the inode was allocated on
    # rows of (vma, first, last, node, cpu): VMAs present before the run; cpu -1 = a process of the
    # past (an int64 array: thousands of rows, which a strategy places with numpy or row by row)
    preload: np.ndarray = field(default_factory=lambda: np.empty((0, 5), dtype=np.int64))


def trying(op: tuple) -> bool:
    """An rmap walk that only try-locks (reclaim's folio_referenced)."""
    return op[1] == ops.RMAP_WALK and len(op) > 5 and bool(op[5])


def held(ns: int) -> list[tuple]:
    """Work inside the critical section, if any."""
    return [(ops.HOLD, ns)] if ns else []


class Strategy(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]

    @classmethod  # noqa: B027 - a hook, not abstract: by default a design takes any parameters
    def check(cls, spec: StrategySpec, source: str) -> None:
        """Reject parameters this design cannot take, before any run starts."""

    def __init__(self, spec: StrategySpec, engine: Engine, machine: Machine):
        self.spec = spec
        self.engine = engine
        self.machine = machine
        self.release = engine.kernel.version  # (major, minor), read for every i_mmap op

    @abstractmethod
    def add_file(self, decl: FileDecl) -> int:
        """Lay out one file's address_space; returns its index, used by the ops."""

    @abstractmethod
    def expand(self, op: tuple) -> list[tuple]:
        """Micro-ops for one i_mmap op (ops.IMMAP, kind, file, ...): a pure function of the op,
        made once per shape of op and reused with each op's VMAs and pages (sim/encoder.py)."""

    def caller(self, op: tuple) -> str:
        """The kernel function that takes the lock for an i_mmap op, in the run's release."""
        return ops.immap_caller(op[1], self.release, trying(op))

    def under_lock_ns(self, op: tuple) -> int:
        """What mainline's critical section holds for an i_mmap op besides the interval tree
        (mm/vma.c: vma_prepare .. vma_complete): the maple-tree store of a split or merge, and of
        a plain mmap before 6.6 (6852c46c783d moved it out); the anon_vma lock and its tree
        update for a VMA with anonymous pages. A design puts it inside whatever lock its patch
        holds there."""
        kernel = self.engine.kernel
        kind = op[1]
        if kind in (ops.SPLIT, ops.MERGE):
            anon = kind == ops.SPLIT and len(op) > 6 and op[6]
            return kernel.maple_store_ns + (kernel.anon_vma_ns if anon else 0)
        if kind == ops.LINK and self.release < (6, 6):
            return kernel.maple_store_ns
        return 0

    def walk_under(self, locks: list[tuple[int, int]], body: list[tuple], op: tuple) -> list[tuple]:
        """An rmap walk: take `locks` ((lock, mode), in order), run `body`, drop them. A walk that
        must not block (op[5]: reclaim's folio_referenced) only try-locks, and gives up at the
        first contended lock, dropping those it took."""
        caller = self.caller(op)
        take: list[tuple]
        if trying(op):
            take = [(ops.TRY_ACQUIRE, lock, mode, tuple(locks[:i]), caller) for i, (lock, mode) in enumerate(locks)]
        else:
            take = [(ops.ACQUIRE, lock, mode, caller) for lock, mode in locks]
        return [*take, *body, *((ops.RELEASE, lock, mode) for lock, mode in locks)]

    @abstractmethod
    def memory_per_inode(self) -> int:
        """Bytes per inode this design adds for i_mmap (trees, locks, counters, pointers)."""
