"""split-node (the seed's v2 with CONFIG_NUMA): one tree per node, each with its own rwsem.

Layout as in the patch: struct i_mmap_tree {rb_root_cached root; rw_semaphore rwsem; atomic_t
vma_count} (60 bytes, one kmalloc-64 object, so one cache line) kzalloc_node()ed on its node;
address_space holds a pointer to a NULL-terminated array of them and a global atomic vma_count
beside it. A change takes only its tree's rwsem, but bumps both counters; an unlink batch locks
per VMA (__remove_shared_vm_struct); an rmap walk takes every tree's rwsem for read, in order.
A split takes two locks one after the other, as the patch's vma_prepare does: the new VMA's tree
to insert it, then the old VMA's tree to remove and reinsert it until vma_complete; the tree
lock is dropped before vma_complete's maple-tree store, and the anon_vma lock is taken between
the two, so neither is inside a tree lock.
"""

from __future__ import annotations

from orchestrator.sim import ops
from orchestrator.sim.ops import RWSEM
from orchestrator.strategies.base import (
    ATOMIC_T,
    CACHE_LINE,
    POINTER,
    RB_ROOT_CACHED,
    RW_SEMAPHORE,
    FileDecl,
    kmalloc_size,
)
from orchestrator.strategies.sharded import Sharded, Space, Subtree, at

I_MMAP_TREE = RB_ROOT_CACHED + RW_SEMAPHORE + ATOMIC_T


class SplitNode(Sharded):
    name = "split-node"
    summary = "seed v2 (NUMA): per-node trees, each under its own rwsem; walks take them all"

    def add_file(self, decl: FileDecl) -> int:
        eng = self.engine
        name = decl.name
        # address_space line with the i_mmap array pointer and the global vma_count
        mapping = eng.line(f"{name}.address_space(i_mmap,vma_count)", decl.home)
        array = [eng.line(f"{name}.i_mmap[]+{i}", decl.home)
                 for i in range(-(-(self.k + 1) * POINTER // CACHE_LINE))]
        lines = [eng.line(f"{name}.i_mmap_tree{i}", self.subtree_home(i)) for i in range(self.k)]
        trees = [eng.tree(f"{name}.tree{i}", line, self.subtree_home(i)) for i, line in enumerate(lines)]
        locks = [eng.lock(f"{name}.tree{i}.rwsem", "i_mmap_tree.rwsem", RWSEM, self.subtree_home(i), line=line)
                 for i, line in enumerate(lines)]
        pointers = [array[i * POINTER // CACHE_LINE] for i in range(self.k)]  # mapping->i_mmap[i]
        return self.add_space(decl, Space(trees, lines, locks, mapping=[mapping, *array], pointers=pointers))

    @staticmethod
    def _find_tree(space: Space, index: Subtree) -> list[tuple]:
        """mapping->i_mmap[idx]: the address_space line, then the array slot."""
        return [(ops.READ, space.mapping[0]), (ops.READ, at(space.pointers, index))]

    def expand(self, op: tuple) -> list[tuple]:
        space = self.spaces[op[2]]
        mapping = space.mapping[0]
        if op[1] == ops.RMAP_WALK:
            locks = [(lock, ops.READ_MODE) for lock in space.locks]
            return [(ops.READ, mapping), *self.walk_under(locks, self.walk_all(space, op), op)]
        changes = self.changes(space, op)
        out: list[tuple] = []
        if op[1] == ops.UNLINK_BATCH:  # the patch locks inside __remove_shared_vm_struct
            groups = [(i, [c]) for i, c in changes]
        elif op[1] == ops.SPLIT:  # the new VMA's tree, then the old VMA's (vma_prepare)
            groups = [(changes[0][0], [changes[0][1]]), (changes[1][0], [c for _, c in changes[1:]])]
        else:
            groups = self.by_subtree(changes)
        for index, group in groups:
            lock, line = at(space.locks, index), at(space.lines, index)
            out += self.select(index) + self._find_tree(space, index)
            out.append((ops.ACQUIRE, lock, ops.WRITE_MODE, self.caller(op)))
            for change in group:  # inc/dec_mapping_vma: the tree's counter and the global one
                out += [change, (ops.ATOMIC, line), (ops.ATOMIC, mapping)]
            out.append((ops.RELEASE, lock, ops.WRITE_MODE))
        under = self.under_lock_ns(op)
        return out + ([(ops.DELAY, under)] if under else [])  # outside the tree locks

    def memory_per_inode(self) -> int:
        # address_space: the root and rwsem go, a pointer and an atomic come; plus the array
        # (with its NULL terminator) and one kmalloc-64 tree per shard
        return POINTER + ATOMIC_T + kmalloc_size((self.k + 1) * POINTER) + self.k * kmalloc_size(I_MMAP_TREE)
