"""Building blocks of the i_mmap workloads: ELF image mapping, teardown, shared state, walkers."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from orchestrator.generators.base import Generator, World
from orchestrator.generators.mm import MmLocks
from orchestrator.sim import ops
from orchestrator.sim.ops import SPINLOCK
from orchestrator.spec.workload import ImmapWorkload, MappedFile
from orchestrator.strategies.base import FileDecl

BACKGROUND_IDS = 1 << 60   # VMAs of other processes, preloaded
IMAGE_IDS = 1 << 59        # a copy's own image present before the run (spawn's parent)

Vma = tuple[int, int, int]  # (id, first pgoff, last pgoff)


def segment_bounds(f: MappedFile) -> list[int]:
    """Start pgoff of each segment, then the file's end."""
    bounds = [0]
    for pages in f.segments_pages:
        bounds.append(bounds[-1] + pages)
    return bounds


def final_image(f: MappedFile) -> list[tuple[int, int]]:
    """The (first, last) pgoffs of a mapped image: one VMA per segment, the last split by RELRO."""
    b = segment_bounds(f)
    spans = [(b[i], b[i + 1] - 1) for i in range(len(f.segments_pages))]
    if f.relro_pages:
        first, last = spans.pop()
        spans += [(first, first + f.relro_pages - 1), (first + f.relro_pages, last)]
    return spans


class Ids:
    """VMA ids of one copy: unique across copies, deterministic."""

    def __init__(self, slot: int):
        self.next = (slot + 1) << 40

    def __call__(self) -> int:
        self.next += 1
        return self.next


def _split(file: int, vma: Vma, at: int, new_id: int) -> tuple[tuple, Vma, Vma]:
    """__split_vma at pgoff `at`: the VMA keeps the low part, a new VMA takes the high part."""
    vid, first, last = vma
    low, high = (vid, first, at - 1), (new_id, at, last)
    return (ops.IMMAP, ops.SPLIT, file, vma, low, high), low, high


def map_image(f: MappedFile, file: int, ids: Ids) -> tuple[list[tuple], list[Vma]]:
    """The i_mmap ops of mapping one file as an ELF image, and the VMAs it leaves.

    kernel (load_elf_binary / load_elf_interp): map the first segment with the image's total
    size, unmap the excess (a split and an unlink), map the other segments at fixed addresses.
    ld.so (libraries): one full-size mmap, then a MAP_FIXED mmap per later segment over it:
    split at its start and end, unlink the piece it replaces, link the new VMA. Both end with
    the RELRO mprotect, which splits the last segment (docs/sources.md, "exec").
    """
    b = segment_bounds(f)
    end = b[-1] - 1
    whole: Vma = (ids(), 0, end)
    out: list[tuple] = [(ops.IMMAP, ops.LINK, file, whole)]
    if f.loader == "kernel":
        if len(b) > 2:
            op, first, excess = _split(file, whole, b[1], ids())
            out += [op, (ops.IMMAP, ops.UNLINK_BATCH, file, (excess,))]
            image = [first]
            for i in range(1, len(f.segments_pages)):
                vma = (ids(), b[i], b[i + 1] - 1)
                out.append((ops.IMMAP, ops.LINK, file, vma))
                image.append(vma)
        else:
            image = [whole]
    else:
        image, tail = [], whole
        for i in range(1, len(f.segments_pages)):
            start, stop = b[i], b[i + 1]
            if tail[1] < start:
                op, low, tail = _split(file, tail, start, ids())
                out.append(op)
                image.append(low)
            piece = tail
            if stop - 1 < end:
                op, piece, tail = _split(file, tail, stop, ids())
                out.append(op)
            vma = (ids(), start, stop - 1)
            out += [(ops.IMMAP, ops.UNLINK_BATCH, file, (piece,)), (ops.IMMAP, ops.LINK, file, vma)]
            image.append(vma)
        if len(f.segments_pages) == 1:
            image = [whole]
    if f.relro_pages:
        last = image.pop()
        op, low, high = _split(file, last, last[1] + f.relro_pages, ids())
        out.append(op)
        image += [low, high]
    return out, image


def teardown(file: int, image: list[Vma], batch: int) -> list[tuple]:
    """exit_mmap / exec_mmap: unlink_file_vma_batch takes the lock once per `batch` VMAs."""
    return [(ops.IMMAP, ops.UNLINK_BATCH, file, tuple(image[i:i + batch])) for i in range(0, len(image), batch)]


def think_scale(rng: np.random.Generator, cv: float, count: int) -> list[float]:
    """Multipliers with mean 1 and the given coefficient of variation (gamma), one per iteration."""
    if cv == 0:
        return [1.0] * count
    shape = 1 / (cv * cv)
    return (rng.gamma(shape, 1 / shape, count)).tolist()


class ImmapGenerator(Generator):
    """Declares the files, shared lines and walkers common to the i_mmap workloads."""

    spec: ImmapWorkload

    @staticmethod
    def helper_nodes(spec: ImmapWorkload, nodes: int) -> tuple[int, ...]:
        walkers = spec.walkers
        reclaim = tuple(range(nodes)) if walkers.reclaim_per_node_per_s > 0 else ()
        return reclaim + ((0,) if walkers.truncate_per_s > 0 else ())

    def preload(self, f: MappedFile, index: int) -> list[tuple[int, int, int, int, int]]:
        """Background VMAs of other processes, spread over the image's VMAs and over nodes."""
        spans = final_image(f)
        nodes = self.ctx.nodes
        base = BACKGROUND_IDS + (index << 32)
        return [(base + i, *spans[i % len(spans)], (i // len(spans)) % nodes, -1) for i in range(f.background_vmas)]

    def declare(self, world: World) -> None:
        spec = self.spec
        self.files = {}
        for index, f in enumerate(spec.files):
            preload = self.preload(f, index) + self.own_images(f, index)
            self.files[f.name] = world.file(FileDecl(f.name, 0, preload))
        shared = spec.shared
        self.dentry = {}  # file -> its dentry's lockref op: struct lockref packs d_lock and the count
        if shared.lockref:
            for f in spec.files:
                line = world.line(f"{f.name}.dentry.lockref", 0)
                lock = world.lock(f"{f.name}.dentry.d_lock", "dentry->d_lock", SPINLOCK, 0, line=line)
                self.dentry[f.name] = (ops.CMPXCHG, line, lock)
        self.writecount = world.line(f"{spec.files[0].name}.i_writecount", 0) if shared.writecount else None
        self.zone = world.lock("zone", "zone->lock", SPINLOCK, 0) if shared.zone_lock_per_iteration else None
        self.mm = MmLocks(world, self.ctx.kernel) if shared.mm_locks else None

    def own_images(self, f: MappedFile, index: int) -> list[tuple[int, int, int, int, int]]:
        """VMAs each copy has mapped before the run starts (none, unless the workload forks)."""
        return []

    # ---- shared state ---------------------------------------------------------------------

    def lockref(self, name: str) -> list[tuple]:
        return [self.dentry[name]] if name in self.dentry else []

    def writecount_op(self) -> list[tuple]:
        return [(ops.ATOMIC, self.writecount)] if self.writecount is not None else []

    def mm_alloc_ops(self) -> list[tuple]:
        return self.mm.alloc_ops() if self.mm else []

    def mm_free_ops(self) -> list[tuple]:
        return self.mm.free_ops() if self.mm else []

    def zone_ops(self) -> list[tuple]:
        if self.zone is None:
            return []
        shared = self.spec.shared
        one = [(ops.ACQUIRE, self.zone, ops.WRITE_MODE), (ops.HOLD, shared.zone_lock_hold_ns),
               (ops.RELEASE, self.zone, ops.WRITE_MODE)]
        return one * shared.zone_lock_per_iteration

    # ---- walkers ----------------------------------------------------------------------------

    def walker_batches(self, slot: int, rng: np.random.Generator) -> Iterator[list[tuple]]:
        """Streams of the helper slots: kswapd per node, then one truncating thread.

        Reclaim's walk (folio_referenced) only try-locks and gives up when a lock is contended;
        truncate's (unmap_mapping_range) blocks. Between walks the thread sleeps (IDLE)."""
        spec, walkers = self.spec, self.spec.walkers
        index = slot - self.ctx.copies
        reclaiming = walkers.reclaim_per_node_per_s > 0
        if reclaiming and index < self.ctx.nodes:
            name, rate, span, try_lock = walkers.reclaim_file, walkers.reclaim_per_node_per_s, 1, True
        else:
            name, rate, span, try_lock = (walkers.truncate_file, walkers.truncate_per_s,
                                          walkers.truncate_pages, False)
        f = spec.walked_file(name)
        file = self.files[f.name]
        gap = 1e9 / rate
        while True:
            waits = np.rint(rng.exponential(gap, 256)).astype(np.int64).tolist()
            starts = rng.integers(0, max(f.pages - span, 0) + 1, 256).tolist()
            batch: list[tuple] = []
            for wait, first in zip(waits, starts):
                batch += [(ops.IDLE, wait), (ops.IMMAP, ops.RMAP_WALK, file, first, first + span - 1, try_lock)]
            yield batch

    def batches(self, slot: int, rng: np.random.Generator) -> Iterator[list[tuple]]:
        if slot >= self.ctx.copies:
            return self.walker_batches(slot, rng)
        return self.copy_batches(slot, rng)

    def copy_batches(self, slot: int, rng: np.random.Generator) -> Iterator[list[tuple]]:
        raise NotImplementedError
