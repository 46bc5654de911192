"""The engine's front: the world a run declares.

Strategies and workload generators declare cache lines, locks, trees and tables here; simulate
adds each CPU's stream of operation batches (plain tuples, sim/ops.py), then runs it with
`Driver(engine).run()`. The rest lives in rooms of its own: sim/layout.py lays the declarations
out as the state's arrays (sim/state.py), sim/encoder.py turns operations into integer rows,
sim/driver.py runs the compiled loop (sim/loop.py) and returns the run's Measurements
(sim/measurements.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from orchestrator.sim import ops, state
from orchestrator.sim.encoder import Batch
from orchestrator.sim.machine import Machine
from orchestrator.sim.ops import KINDS, PERCPU_RWSEM
from orchestrator.spec.kernel import KernelSpec


class Table(list):
    """Per-subtree handles (trees, locks, lines) that a run-time choice can index:
    `table[ops.SUBTREE]` is the entry the CPU's subtree register names when the op runs."""

    def __init__(self, values, number: int):
        super().__init__(values)
        self.number = number  # its place in Engine.tables (not `index`: that is list.index)

    def __getitem__(self, key):
        if isinstance(key, ops.RunTime):
            return ops.INDIRECT + self.number
        return super().__getitem__(key)


@dataclass
class LockDecl:
    name: str
    cls: int        # its class's place in Engine.lock_classes
    kind: int       # its kind's place in ops.KINDS
    line: int
    wait_lock: int
    counters: list[int]


class Engine:
    """What a run declares; each call returns the handle the operations name (line, lock,
    tree, table), and the declarations are what sim/layout.py lays out."""

    def __init__(self, machine: Machine, kernel: KernelSpec, *, check: bool = False,
                 end_ns: int, warmup_ns: int = 0, windows: int = 100, seed: int = 0):
        self.machine = machine
        self.kernel = kernel
        self.check = check  # invariant checks, and a trace of the first grants (Measurements.grants)
        self.end_ns = end_ns
        self.warmup_ns = warmup_ns
        self.seed = seed
        self.window_ns = max(1, end_ns // windows)
        self.lock_classes: dict[str, str] = {}  # name -> kind, in the order declared
        self.line_homes: list[int] = []
        self.locks: list[LockDecl] = []
        self.tree_names: list[str] = []
        self.tree_roots: list[int] = []
        self.tree_tops: list[list[int]] = []
        self.tree_paths: list[list[int]] = []
        self.tables: list[list[int]] = []
        self._preloads: list[np.ndarray] = []  # chunks of rows (tree, vma, first, last, node), as declared
        self.streams: list[Iterator[Batch]] = []  # each CPU's op batches
        self.expand: Callable[[tuple], list[tuple]] | None = None  # the strategy's expansion

    def line(self, name: str, home: int) -> int:
        self.line_homes.append(home)
        return len(self.line_homes) - 1

    def lock(self, name: str, cls: str, kind: str, home: int, line: int | None = None) -> int:
        """A lock of class `cls`; `line` puts its word on a line the layout already has
        (a struct that packs the lock beside other fields), else it gets a line of its own."""
        if kind not in KINDS:
            raise ValueError(f"unknown lock kind {kind!r}")
        self.lock_classes.setdefault(cls, kind)
        word = self.line(f"{name}.word", home) if line is None else line
        counters: list[int] = []
        if kind == PERCPU_RWSEM:
            counters = [self.line(f"{name}.count[{slot}]", node) for slot, node in enumerate(self.machine.node)]
            wait_lock = word
        else:
            wait_lock = word if line is not None else self.line(f"{name}.wait_lock", home)
        self.locks.append(LockDecl(name, list(self.lock_classes).index(cls), KINDS.index(kind), word, wait_lock,
                                   counters))
        return len(self.locks) - 1

    def tree(self, name: str, root_line: int, home: int) -> int:
        self.tree_names.append(name)
        self.tree_roots.append(root_line)
        self.tree_tops.append([self.line(f"{name}.level{i + 1}", home) for i in range(self.kernel.tree_hot_levels)])
        # the nodes on the insertion paths of VMAs that share a start offset (state.PATH_KEYS of them)
        self.tree_paths.append([self.line(f"{name}.path{i}", home) for i in range(state.PATH_KEYS)])
        return len(self.tree_names) - 1

    def table(self, values: list[int]) -> Table:
        """Handles one run-time choice picks from (see ops.CHOOSE, ops.SMALLEST, ops.SUBTREE_OF)."""
        self.tables.append(list(values))
        return Table(values, len(self.tables) - 1)

    def preload(self, tree: int, vma: int, first: int, last: int, node: int) -> None:
        """A VMA mapped on `node` before the run: no cost, its line still in memory."""
        self.preload_rows(np.array([[tree, vma, first, last, node]], dtype=np.int64))

    def preload_rows(self, rows: np.ndarray) -> None:
        """Many VMAs at once: rows of (tree, vma, first, last, node), as preload takes them."""
        self._preloads.append(np.asarray(rows, dtype=np.int64).reshape(-1, 5))

    @property
    def preloads(self) -> np.ndarray:
        """Every preloaded VMA, as rows of (tree, vma, first, last, node) in the order declared (the
        chunks joined once: a plugin may have declared them one by one)."""
        if len(self._preloads) != 1:
            self._preloads = [np.concatenate([np.empty((0, 5), dtype=np.int64), *self._preloads])]
        return self._preloads[0]

    def add_cpu(self, batches: Iterator[Batch]) -> None:
        self.streams.append(batches)
