"""The strategy plugin interface (DESIGN 4.5): one file per lock design.

A strategy lays out each file's address_space (locks, tree roots and counters on named cache
lines, each with its home node), chooses the subtree of a new VMA, and expands every i_mmap
operation into lock, tree and cache-line micro-ops. Register it under the entry point group
`orch.strategies` (see pyproject.toml).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from orchestrator.sim import ops
from orchestrator.sim.engine import Engine
from orchestrator.sim.machine import Machine
from orchestrator.spec.strategy import StrategySpec

# struct sizes on x86_64 without lock debugging, in bytes
RB_ROOT_CACHED = 16     # struct rb_root_cached: rb_node pointer + leftmost pointer
RW_SEMAPHORE = 40       # count 8, owner 8, osq 4 (+4 pad), wait_lock 4 (+4 pad), wait_list 16 ... = 40
ATOMIC_T = 4
POINTER = 8


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
    home: int                                   # node the inode was allocated on
    preload: list[tuple[int, int, int, int]] = field(default_factory=list)  # (vma, first, last, node)


class Strategy(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]

    def __init__(self, spec: StrategySpec, engine: Engine, machine: Machine):
        self.spec = spec
        self.engine = engine
        self.machine = machine

    @abstractmethod
    def add_file(self, decl: FileDecl) -> int:
        """Lay out one file's address_space; returns its index, used by the ops."""

    @abstractmethod
    def expand(self, slot: int, op: tuple) -> list[tuple]:
        """Micro-ops for one i_mmap op (ops.IMMAP, kind, file, ...) executed by `slot`."""

    @abstractmethod
    def memory_per_inode(self) -> int:
        """Bytes per inode this design adds for i_mmap (trees, locks, counters, pointers)."""

    # ---- helpers shared by designs ---------------------------------------------------------

    @staticmethod
    def tree_changes(op: tuple, tree_of) -> list[tuple]:
        """TREE micro-ops of a modify op; `tree_of(vma)` gives the tree holding an existing VMA
        and `tree_of(vma, parent)` the tree for a new one."""
        kind = op[1]
        if kind == ops.LINK:
            vma = op[3]
            return [(ops.TREE, tree_of(vma[0], None), ops.INSERT, vma)]
        if kind == ops.UNLINK_BATCH:
            return [(ops.TREE, tree_of(vma[0]), ops.REMOVE, vma[0]) for vma in op[3]]
        if kind == ops.SPLIT:  # __split_vma: the VMA shrinks (remove + insert) and a new one appears
            old, shrunk, new = op[3], op[4], op[5]
            tree = tree_of(old[0])
            return [(ops.TREE, tree, ops.REMOVE, old[0]), (ops.TREE, tree, ops.INSERT, shrunk),
                    (ops.TREE, tree_of(new[0], old[0]), ops.INSERT, new)]
        if kind == ops.DUP:  # dup_mmap: the child's VMA goes next to the parent's
            parent, child = op[3], op[4]
            return [(ops.TREE, tree_of(child[0], parent[0]), ops.INSERT, child)]
        raise ValueError(f"not a modify op: {op!r}")


def preload(engine: Engine, tree: int, decl: FileDecl, pick_tree=None) -> None:
    """Insert a file's background VMAs at no cost, their lines left in memory."""
    for vma, first, last, node in decl.preload:
        engine.trees[pick_tree(node) if pick_tree else tree].insert_quiet(vma, first, last)
