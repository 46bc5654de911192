"""What the split designs share: subtrees per file, the subtree a VMA goes to, and where it is.

Subtree choice: `node` = numa_node_id() of the CPU mapping it, `cpu` =
smp_processor_id(), `hash` = a hash of the VMA pointer, `smallest` = the subtree with the
fewest VMAs (reading the subtrees' counters up to the first empty one), a choice the
engine makes when the CPU gets there (ops.SMALLEST; a VMA's subtree is then looked up with
ops.SUBTREE_OF, so an unlink batch locks each such VMA's subtree on its own). A VMA remembers its subtree (the seed's
vma->tree_idx): an unlink finds it there, and fork and split copy it (vm_area_dup), except
that a hash choice hashes the new VMA.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby
from typing import ClassVar

import numpy as np

from orchestrator.sim import ops
from orchestrator.strategies.base import FileDecl, Strategy, held

_MIX = 0x9E3779B97F4A7C15  # golden-ratio hash, like the kernel's hash_64


def vma_hash(vma: int, k: int) -> int:
    return (((vma * _MIX) & (2**64 - 1)) >> 32) % k


def vma_hashes(vmas: np.ndarray, k: int) -> np.ndarray:
    """vma_hash of each of `vmas` (uint64 products wrap as the & above does)."""
    with np.errstate(over="ignore"):
        return ((vmas.astype(np.uint64) * np.uint64(_MIX)) >> np.uint64(32)) % np.uint64(k)


@dataclass(frozen=True, eq=False)
class Pick(ops.RunTime):
    """A subtree chosen at run time (the smallest choice): the CPU's subtree register holds it
    once `chosen`, else an ops.SUBTREE_OF on `vma` must look it up first."""

    vma: int
    chosen: bool = False

    def __eq__(self, other) -> bool:  # one VMA, one subtree: grouping needs no more
        return isinstance(other, Pick) and other.vma == self.vma

    def __hash__(self) -> int:
        return hash(self.vma)


Subtree = int | Pick  # a subtree's index, or the run-time choice of one


def at(handles: list[int], index: Subtree) -> int:
    """handles[index]. Only a Table (sim/engine.py) takes a Pick: under the smallest choice, the
    only one that makes Picks, add_space made Tables of the space's handles."""
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
    tree_of: dict[int, Subtree] = field(default_factory=dict)


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

    def choose(self, space: Space, slot: int, vma: int) -> tuple[Subtree, list[tuple]]:
        """Subtree for a new VMA mapped by `slot`, and the ops the choice costs."""
        if self.choice == "node":
            return self.machine.node[slot] % self.k, []
        if self.choice == "cpu":
            return self.machine.cpus[slot] % self.k, []
        if self.choice == "hash":
            return vma_hash(vma, self.k), []
        # smallest depends on the trees as they are when the CPU gets there: a run-time choice
        # (smallest_tree_idx reads each subtree's counter until an empty one)
        return Pick(vma, chosen=True), [(ops.SMALLEST, space.trees, space.lines)]

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
        space.tree_of.update(zip(rows[:, 0].tolist(), index.tolist()))
        if self.choice == "smallest":  # tables a run-time choice (Pick) can index
            for name in ("trees", "lines", "locks", "pointers"):
                setattr(space, name, self.engine.table(getattr(space, name)))
        self.spaces.append(space)
        return len(self.spaces) - 1

    def changes(self, space: Space, slot: int, op: tuple) -> tuple[list[tuple], list[tuple[Subtree, tuple]]]:
        """(ops the subtree choice costs, [(subtree, TREE micro-op)]) of a modify op."""
        kind, tree_of = op[1], space.tree_of
        reads: list[tuple] = []

        def subtree(vma: int) -> Subtree:
            """Where an existing VMA is; a run-time choice is looked up when the CPU gets there."""
            index = tree_of[vma]
            if isinstance(index, Pick):
                reads.append((ops.SUBTREE_OF, vma, space.trees))
                return Pick(vma, chosen=True)
            return index

        def inherit(new: int, parent: int) -> Subtree:
            index = vma_hash(new, self.k) if self.choice == "hash" else subtree(parent)
            tree_of[new] = Pick(new) if isinstance(index, Pick) else index
            return index

        if kind == ops.LINK:
            vma = op[3]
            index, reads = self.choose(space, slot, vma[0])
            tree_of[vma[0]] = Pick(vma[0]) if isinstance(index, Pick) else index
            return reads, [(index, (ops.TREE, at(space.trees, index), ops.INSERT, vma))]
        if kind == ops.UNLINK_BATCH:
            out: list[tuple[Subtree, tuple]] = []
            for vma in op[3]:
                index = tree_of.pop(vma[0])  # a Pick: select() looks it up before its lock is taken
                out.append((index, (ops.TREE, at(space.trees, index), ops.REMOVE, vma[0])))
            return [], out
        if kind == ops.SPLIT:
            old, shrunk, new = op[3], op[4], op[5]
            index = subtree(old[0])  # the VMA keeps its subtree (and its id: shrunk is old, cut)
            new_index = vma_hash(new[0], self.k) if self.choice == "hash" else index
            tree_of[new[0]] = Pick(new[0]) if isinstance(new_index, Pick) else new_index
            return reads, [(new_index, (ops.TREE, at(space.trees, new_index), ops.INSERT, new)),
                           (index, (ops.TREE, at(space.trees, index), ops.REMOVE, old[0])),
                           (index, (ops.TREE, at(space.trees, index), ops.INSERT, shrunk))]
        if kind == ops.MERGE:
            old, new = op[3], op[4]
            index = subtree(old[0])  # the VMA keeps its subtree and its id; its interval grows
            return reads, [(index, (ops.TREE, at(space.trees, index), ops.REMOVE, old[0])),
                           (index, (ops.TREE, at(space.trees, index), ops.INSERT, new))]
        if kind == ops.DUP:
            parent, child = op[3], op[4]
            index = inherit(child[0], parent[0])
            return reads, [(index, (ops.TREE, at(space.trees, index), ops.INSERT_AFTER, child, parent[0]))]
        raise ValueError(f"not a modify op: {op!r}")

    @staticmethod
    def select(space: Space, index: Subtree) -> list[tuple]:
        """The op that points the CPU's subtree register at a VMA's subtree, when a run-time
        choice put it there and nothing has looked it up yet."""
        if isinstance(index, Pick) and not index.chosen:
            return [(ops.SUBTREE_OF, index.vma, space.trees)]
        return []

    @staticmethod
    def by_subtree(changes: list[tuple[Subtree, tuple]]) -> list[tuple[Subtree, list[tuple]]]:
        """Consecutive changes to the same subtree, grouped: one lock round trip each."""
        return [(index, [c for _, c in group]) for index, group in groupby(changes, key=lambda c: c[0])]

    def walk_all(self, space: Space, op: tuple) -> list[tuple]:
        return [(ops.TREE, tree, ops.QUERY, (op[3], op[4])) for tree in space.trees]

    def under_main_lock(self, space: Space, slot: int, op: tuple) -> list[tuple]:
        """Mainline's protocol on the file-wide lock: write to change, read to walk; a change's
        critical section holds the rest of vma_prepare .. vma_complete too."""
        lock = space.main
        if op[1] == ops.RMAP_WALK:
            return self.walk_under([(lock, ops.READ_MODE)], self.walk_all(space, op), op)
        reads, changes = self.changes(space, slot, op)
        return [*reads, (ops.ACQUIRE, lock, ops.WRITE_MODE, self.caller(op)), *(c for _, c in changes),
                *held(self.under_lock_ns(op)), (ops.RELEASE, lock, ops.WRITE_MODE)]
