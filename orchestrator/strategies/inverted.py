"""inverted (Pedro Falcato's review of the seed): keep i_mmap_rwsem with its meaning inverted.

A change takes i_mmap_rwsem for read plus its subtree's own spinlock; an rmap walk takes
i_mmap_rwsem for write and walks every subtree without their locks. The subtrees are a static
array of {rb_root_cached, spinlock_t} in address_space (24 bytes each, packed, so neighbours
share cache lines); a VMA picks its subtree by CPU id (default) or by a hash of its pointer.
"""

from __future__ import annotations

from orchestrator.sim import ops
from orchestrator.sim.ops import RWSEM, SPINLOCK
from orchestrator.strategies.base import (
    CACHE_LINE,
    RB_ROOT_CACHED,
    RW_SEMAPHORE,
    SPINLOCK_T,
    FileDecl,
    held,
)
from orchestrator.strategies.sharded import Sharded, Space, Subtree, at

SUBTREE = -(-(RB_ROOT_CACHED + SPINLOCK_T) // 8) * 8  # 24: padded to pointer alignment
DEFAULT_SUBTREES = 16


def packed_subtrees(strategy: Sharded, decl: FileDecl, cls: str) -> Space:
    """The static array: subtree i at byte i * 24 of it, on that offset's cache line."""
    eng = strategy.engine
    array = [eng.line(f"{decl.name}.subtrees+{i * CACHE_LINE}", decl.home)
             for i in range(-(-strategy.k * SUBTREE // CACHE_LINE))]
    lines = [array[i * SUBTREE // CACHE_LINE] for i in range(strategy.k)]
    trees = [eng.tree(f"{decl.name}.subtree{i}", line, decl.home) for i, line in enumerate(lines)]
    locks = [eng.lock(f"{decl.name}.subtree{i}.lock", cls, SPINLOCK, decl.home, line=line)
             for i, line in enumerate(lines)]
    return Space(trees, lines, locks)


def locked_changes(space: Space, groups: list[tuple[Subtree, list[tuple]]], caller: str) -> list[tuple]:
    """Each group under its subtree's lock. Where the op cannot tell whether the next group's
    subtree is this one's (another VMA's), the engine checks (ops.JOIN) and keeps the lock."""
    out: list[tuple] = []
    for n, (index, group) in enumerate(groups):
        lock = at(space.locks, index)
        out += [*Sharded.select(index), (ops.ACQUIRE, lock, ops.WRITE_MODE, caller), *group]
        after = Sharded.select(groups[n + 1][0]) if n + 1 < len(groups) else []
        if after and after[0][0] != ops.SMALLEST:  # the same subtree: skip this RELEASE, that choice and ACQUIRE
            out.append((ops.JOIN, after[0], 3))
        out.append((ops.RELEASE, lock, ops.WRITE_MODE))
    return out


class Inverted(Sharded):
    name = "inverted"
    summary = "Falcato: changes take i_mmap_rwsem for read + a subtree spinlock; walks take it for write"
    default_choice = "cpu"
    # the file-wide lock: read side for changes, write side for walks
    main_lock: tuple[str, str] = ("i_mmap_rwsem", RWSEM)

    def default_shards(self) -> int:
        return DEFAULT_SUBTREES

    def add_file(self, decl: FileDecl) -> int:
        cls, kind = self.main_lock
        space = packed_subtrees(self, decl, "i_mmap_subtree.lock")
        space.main = self.engine.lock(f"{decl.name}.{cls}", cls, kind, decl.home)
        return self.add_space(decl, space)

    def expand(self, op: tuple) -> list[tuple]:
        space = self.spaces[op[2]]
        rwsem = space.main
        if op[1] == ops.RMAP_WALK:
            return self.walk_under([(rwsem, ops.WRITE_MODE)], self.walk_all(space, op), op)
        reads, groups = self.hoisted(self.by_subtree(self.changes(space, op)))
        caller = self.caller(op)
        # the rest of vma_prepare .. vma_complete stays under the file-wide lock, now its shared side
        return [*reads, (ops.ACQUIRE, rwsem, ops.READ_MODE, caller),
                *locked_changes(space, groups, caller), *held(self.under_lock_ns(op)),
                (ops.RELEASE, rwsem, ops.READ_MODE)]

    def memory_per_inode(self) -> int:
        return RW_SEMAPHORE + self.k * SUBTREE
