"""Mainline: one interval tree per file under one i_mmap_rwsem (write to modify, read to walk)."""

from __future__ import annotations

from orchestrator.sim import ops
from orchestrator.sim.locks import RWSEM
from orchestrator.strategies.base import RB_ROOT_CACHED, RW_SEMAPHORE, FileDecl, Strategy, preload


class Single(Strategy):
    name = "single"
    summary = "mainline: one i_mmap tree per file under one i_mmap_rwsem"

    def __init__(self, spec, engine, machine):
        super().__init__(spec, engine, machine)
        self.files: list[tuple[int, int]] = []  # (lock, tree) per file

    def add_file(self, decl: FileDecl) -> int:
        eng = self.engine
        # Since d3b1a9a778e1 the rwsem sits on its own line, apart from the tree root (i_mmap).
        lock = eng.lock(f"{decl.name}.i_mmap_rwsem", "i_mmap_rwsem", RWSEM, decl.home)
        tree = eng.tree(f"{decl.name}.i_mmap", eng.line(f"{decl.name}.i_mmap", decl.home), decl.home)
        preload(eng, tree, decl)
        self.files.append((lock, tree))
        return len(self.files) - 1

    def expand(self, slot: int, op: tuple) -> list[tuple]:
        lock, tree = self.files[op[2]]
        if op[1] == ops.RMAP_WALK:
            return [(ops.ACQUIRE, lock, ops.READ_MODE), (ops.TREE, tree, ops.QUERY, (op[3], op[4])),
                    (ops.RELEASE, lock, ops.READ_MODE)]
        body = self.tree_changes(op, lambda vma, parent=None: tree)
        return [(ops.ACQUIRE, lock, ops.WRITE_MODE), *body, (ops.RELEASE, lock, ops.WRITE_MODE)]

    def memory_per_inode(self) -> int:
        return RB_ROOT_CACHED + RW_SEMAPHORE  # struct address_space: i_mmap + i_mmap_rwsem
