"""The workload plugin interface: one generator per workload kind.

A generator declares the shared state its operations use (locks, cache lines and files outside
the strategy's control) and produces each CPU's operation stream in batches. The stream of a
slot is a pure function of (spec, seed, slot): it never depends on timing or on the strategy,
so every design sees the same operations (common random numbers) and a stream can be produced
in another process with identical results.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Iterator

import numpy as np

from orchestrator.spec.kernel import KernelSpec
from orchestrator.strategies.base import FileDecl

if TYPE_CHECKING:
    from orchestrator.sim.encoder import Batch

BATCH = 1024  # draws per batch: large enough for numpy to amortize, small enough to stay lazy


@dataclass(frozen=True)
class Context:
    copies: int
    nodes: int
    slot_node: tuple[int, ...]   # NUMA node of each slot's CPU: the copies, then the helpers
    slot_cpu: tuple[int, ...]    # CPU id of each slot
    kernel: KernelSpec = field(default_factory=KernelSpec)  # the release decides some of the ops


class World(ABC):
    """What a generator may declare; each call returns the handle its ops use."""

    @abstractmethod
    def lock(self, name: str, cls: str, kind: str, home: int, line: int | None = None) -> int:
        """A lock; `line` puts its word on a line declared before (a struct packing both)."""

    @abstractmethod
    def line(self, name: str, home: int) -> int: ...

    @abstractmethod
    def file(self, decl: FileDecl) -> int: ...


class Generator(ABC):
    kind: ClassVar[str]
    summary: ClassVar[str]

    def __init__(self, spec, ctx: Context):
        self.spec = spec
        self.ctx = ctx

    @staticmethod
    def helper_nodes(spec, nodes: int) -> tuple[int, ...]:
        """Nodes of the kernel threads (walkers) this workload runs beside the copies."""
        return ()

    @abstractmethod
    def declare(self, world: World) -> None:
        """Declare shared locks, lines and files, keeping the handles for the ops."""

    @abstractmethod
    def batches(self, slot: int, rng: np.random.Generator) -> Iterator[Batch]:
        """Endless batches of ops for one copy (lists of ops, or rows already encoded), or batches
        that end with a Chain of iteration programs, which the engine runs from then on
        (sim/encoder.py, sim/programs.py)."""
