"""split-tree (the seed's v1): one sibling tree per node, all under the one i_mmap_rwsem.

Trees are smaller and their lines stay on the node that uses them, but every change still
takes the single rwsem for write. Layout assumed from v2 without the per-tree lock: a NULL-
terminated pointer array in address_space, and each tree root kzalloc_node()ed on its node.
"""

from __future__ import annotations

from orchestrator.sim.ops import RWSEM
from orchestrator.strategies.base import (
    POINTER,
    RB_ROOT_CACHED,
    RW_SEMAPHORE,
    FileDecl,
    kmalloc_size,
)
from orchestrator.strategies.sharded import Sharded, Space


class SplitTree(Sharded):
    name = "split-tree"
    summary = "seed v1: per-node i_mmap trees, all under the one i_mmap_rwsem"

    def add_file(self, decl: FileDecl) -> int:
        eng = self.engine
        lock = eng.lock(f"{decl.name}.i_mmap_rwsem", "i_mmap_rwsem", RWSEM, decl.home)
        lines = [eng.line(f"{decl.name}.tree{i}", self.subtree_home(i)) for i in range(self.k)]
        trees = [eng.tree(f"{decl.name}.tree{i}", line, self.subtree_home(i)) for i, line in enumerate(lines)]
        return self.add_space(decl, Space(trees, lines, main=lock))

    def expand(self, op: tuple) -> list[tuple]:
        return self.under_main_lock(self.spaces[op[2]], op)

    def memory_per_inode(self) -> int:
        # address_space keeps the rwsem; the root becomes a pointer to the array of tree roots
        return RW_SEMAPHORE + POINTER + kmalloc_size((self.k + 1) * POINTER) + self.k * kmalloc_size(RB_ROOT_CACHED)
