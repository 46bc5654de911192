"""What the split designs share: subtrees per file, the subtree a VMA goes to, and where it is.

Subtree choice: `node` = numa_node_id() of the CPU mapping it, `cpu` = smp_processor_id(),
`hash` = a hash of the VMA pointer, `smallest` = the subtree with the fewest VMAs (reading the
subtrees' counters up to the first empty one). Each is made by the engine when the CPU gets
there (ops.CHOOSE, ops.SMALLEST), so an expansion does not depend on where the CPU runs. A VMA
remembers its subtree (the seed's vma->tree_idx): the engine knows where it is (ops.SUBTREE_OF),
and fork and split copy it (vm_area_dup), except that a hash choice hashes the new VMA.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import groupby
from typing import ClassVar

import numpy as np

from orchestrator.sim import ops
from orchestrator.strategies.base import FileDecl, Strategy, held

_MIX = 0x9E3779B97F4A7C15  # golden-ratio hash, like the kernel's hash_64 (the engine's: sim/loop.py)


def vma_hashes(vmas: np.ndarray, k: int) -> np.ndarray:
    """The subtree a hash choice gives each of `vmas` (uint64 products wrap, as the engine's do)."""
    with np.errstate(over="ignore"):
        return ((vmas.astype(np.uint64) * np.uint64(_MIX)) >> np.uint64(32)) % np.uint64(k)


@dataclass(frozen=True, eq=False)
class Pick(ops.RunTime):
    """A subtree known when the CPU gets there: `setter` is the op that points the CPU's subtree
    register at it (empty once an op before has)."""

    vma: int      # the VMA it is for (changes to one VMA stay in one subtree)
    setter: tuple = ()

    def __eq__(self, other) -> bool:  # one VMA, one subtree: grouping needs no more
        return isinstance(other, Pick) and other.vma == self.vma

    def __hash__(self) -> int:
        return hash(self.vma)


Subtree = int | Pick  # a subtree's index (a design of one subtree), or the run-time choice of one


def at(handles: list[int], index: Subtree) -> int:
    """handles[index]. Only a Table (sim/engine.py) takes a Pick: where a choice is made at run
    time, add_space made Tables of the space's handles."""
    return handles[index]  # type: ignore[index]  # a Pick comes with Tables, see above


@dataclass
class Space:
    """One file's address_space under a split design."""

    trees: list[int]                    # engine tree of each subtree
    lines: list[int]                    # line holding each subtree's root (and lock, counter)
    locks: list[int] = field(default_factory=list)   # per-subtree lock, if the design has them
    main: int = -1                      # the file-wide lock, if the design has one
    mapping: list[int] = field(default_factory=list)  # address_space lines a change reads
    pointers: list[int] = field(default_factory=list)  # line of each subtree's pointer (split-node)


class Sharded(Strategy):
    default_choice: ClassVar[str] = "node"

    def __init__(self, spec, engine, machine) -> None:
        super().__init__(spec, engine, machine)
        self.k = spec.shards or self.default_shards()
        self.choice = spec.subtree_choice or self.default_choice
        self.spaces: list[Space] = []

    def default_shards(self) -> int:
        return self.machine.nodes

    # ---- placement -----------------------------------------------------------------------

    def subtree_home(self, index: int) -> int:
        """Node a subtree is allocated on (kzalloc_node): its own node when there is one."""
        return index % self.machine.nodes

    def choose(self, space: Space, vma: int) -> Subtree:
        """The subtree of a new VMA, chosen when the CPU gets there (smallest_tree_idx reads the
        counter even of a lone subtree)."""
        if self.k == 1 and self.choice != "smallest":
            return 0
        setter = {"node": (ops.CHOOSE, ops.BY_NODE, self.k), "cpu": (ops.CHOOSE, ops.BY_CPU, self.k),
                  "hash": (ops.CHOOSE, ops.BY_HASH, self.k, vma),
                  # smallest_tree_idx reads each subtree's counter until an empty one
                  "smallest": (ops.SMALLEST, space.trees, space.lines)}[self.choice]
        return Pick(vma, setter)

    def where(self, space: Space, vma: int) -> Subtree:
        """The subtree an existing VMA is in."""
        return 0 if self.k == 1 else Pick(vma, (ops.SUBTREE_OF, vma, space.trees))

    def inherited(self, space: Space, vma: int, parent: Subtree) -> Subtree:
        """The subtree of a VMA copied from one in `parent` (vm_area_dup copies tree_idx; a hash
        choice hashes the new VMA)."""
        return self.choose(space, vma) if self.choice == "hash" else parent

    def preload_index(self, rows: np.ndarray) -> np.ndarray:
        """The subtree of each preloaded VMA (rows of vma, first, last, node, cpu)."""
        vma, node, cpu = rows[:, 0], rows[:, 3], rows[:, 4]
        if self.choice == "node":
            return node % self.k
        if self.choice == "hash":
            return vma_hashes(vma, self.k).astype(np.int64)
        if self.choice == "cpu":
            return np.where(cpu >= 0, cpu % self.k, vma % self.k)
        return vma % self.k  # processes of the past ran anywhere: spread evenly

    def add_space(self, decl: FileDecl, space: Space) -> int:
        rows = np.asarray(decl.preload, dtype=np.int64).reshape(-1, 5)
        index = self.preload_index(rows)
        self.engine.preload_rows(np.column_stack([np.asarray(space.trees, dtype=np.int64)[index], rows[:, :4]]))
        if self.k > 1 or self.choice == "smallest":  # tables a run-time choice (Pick) can index
            for name in ("trees", "lines", "locks", "pointers"):
                setattr(space, name, self.engine.table(getattr(space, name)))
        self.spaces.append(space)
        return len(self.spaces) - 1

    def changes(self, space: Space, op: tuple) -> list[tuple[Subtree, tuple]]:
        """[(subtree, TREE micro-op)] of a modify op."""
        kind, trees = op[1], space.trees
        if kind == ops.LINK:
            vma = op[3]
            index = self.choose(space, vma[0])
            return [(index, (ops.TREE, at(trees, index), ops.INSERT, vma))]
        if kind == ops.UNLINK_BATCH:
            return [(index, (ops.TREE, at(trees, index), ops.REMOVE, vma[0]))
                    for vma in op[3] for index in [self.where(space, vma[0])]]
        if kind == ops.SPLIT:
            old, shrunk, new = op[3], op[4], op[5]
            index = self.where(space, old[0])  # the VMA keeps its subtree (and its id: shrunk is old, cut)
            new_index = self.inherited(space, new[0], index)
            return [(new_index, (ops.TREE, at(trees, new_index), ops.INSERT, new)),
                    (index, (ops.TREE, at(trees, index), ops.REMOVE, old[0])),
                    (index, (ops.TREE, at(trees, index), ops.INSERT, shrunk))]
        if kind == ops.MERGE:
            old, new = op[3], op[4]
            index = self.where(space, old[0])  # the VMA keeps its subtree and its id; its interval grows
            return [(index, (ops.TREE, at(trees, index), ops.REMOVE, old[0])),
                    (index, (ops.TREE, at(trees, index), ops.INSERT, new))]
        if kind == ops.DUP:
            parent, child = op[3], op[4]
            index = self.inherited(space, child[0], self.where(space, parent[0]))
            return [(index, (ops.TREE, at(trees, index), ops.INSERT_AFTER, child, parent[0]))]
        raise ValueError(f"not a modify op: {op!r}")

    @staticmethod
    def select(index: Subtree) -> list[tuple]:
        """The op that points the CPU's subtree register at `index`, unless one before did."""
        return [index.setter] if isinstance(index, Pick) and index.setter else []

    @staticmethod
    def by_subtree(changes: list[tuple[Subtree, tuple]]) -> list[tuple[Subtree, list[tuple]]]:
        """Consecutive changes to the same subtree, as far as the op tells (one VMA's changes),
        grouped: one lock round trip each."""
        return [(index, [c for _, c in group]) for index, group in groupby(changes, key=lambda c: c[0])]

    @staticmethod
    def hoisted(groups: list[tuple[Subtree, list[tuple]]]) -> tuple[list[tuple], list[tuple[Subtree, list[tuple]]]]:
        """The first group's choice, made before any lock is taken (the patch's smallest_tree_idx
        runs before it locks), and the groups with it made."""
        index, group = groups[0]
        if not isinstance(index, Pick) or not index.setter:
            return [], groups
        return [index.setter], [(replace(index, setter=()), group), *groups[1:]]

    def walk_all(self, space: Space, op: tuple) -> list[tuple]:
        return [(ops.TREE, tree, ops.QUERY, (op[3], op[4])) for tree in space.trees]

    def under_main_lock(self, space: Space, op: tuple) -> list[tuple]:
        """Mainline's protocol on the file-wide lock: write to change, read to walk; a change's
        critical section holds the rest of vma_prepare .. vma_complete too."""
        lock = space.main
        if op[1] == ops.RMAP_WALK:
            return self.walk_under([(lock, ops.READ_MODE)], self.walk_all(space, op), op)
        reads, groups = self.hoisted(self.by_subtree(self.changes(space, op)))
        return [*reads, (ops.ACQUIRE, lock, ops.WRITE_MODE, self.caller(op)),
                *(step for index, group in groups for step in (*self.select(index), *group)),
                *held(self.under_lock_ns(op)), (ops.RELEASE, lock, ops.WRITE_MODE)]
