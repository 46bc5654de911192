"""Mainline: one interval tree per file under one i_mmap_rwsem (write to modify, read to walk)."""

from __future__ import annotations

from orchestrator.errors import UserError
from orchestrator.sim.ops import RWSEM
from orchestrator.strategies.base import RB_ROOT_CACHED, RW_SEMAPHORE, FileDecl
from orchestrator.strategies.sharded import Sharded, Space


class Single(Sharded):
    name = "single"
    summary = "mainline: one i_mmap tree per file under one i_mmap_rwsem"

    @classmethod
    def check(cls, spec, source: str) -> None:
        if spec.shards not in (None, 1) or spec.subtree_choice is not None:
            raise UserError(source, "strategy.shards", "single has one tree: no shards or subtree_choice")

    def default_shards(self) -> int:
        return 1

    def add_file(self, decl: FileDecl) -> int:
        eng = self.engine
        # Since d3b1a9a778e1 the rwsem sits on its own line, apart from the tree root (i_mmap).
        lock = eng.lock(f"{decl.name}.i_mmap_rwsem", "i_mmap_rwsem", RWSEM, decl.home)
        root = eng.line(f"{decl.name}.i_mmap", decl.home)
        return self.add_space(decl, Space([eng.tree(f"{decl.name}.i_mmap", root, decl.home)], [root], main=lock))

    def expand(self, op: tuple) -> list[tuple]:
        return self.under_main_lock(self.spaces[op[2]], op)

    def memory_per_inode(self) -> int:
        return RB_ROOT_CACHED + RW_SEMAPHORE  # struct address_space: i_mmap + i_mmap_rwsem
