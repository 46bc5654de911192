"""Building blocks of the i_mmap workloads: the files and shared state they declare, and the
programs of exec, fork, exit and wait, in the order the kernel and ld.so run them.

A copy's process is a `Process`: the VMAs it has of each file (generators/vmas.py), the binary it
runs and the pages its mm allocated. Every copy starts with its image mapped (preloaded before the
run), so that every iteration, the first included, does the same i_mmap operations. The table
of what each workload's iteration does, per file and operation, is in docs/model.md
(Workloads); tests/test_workloads.py checks it against the engine's lock statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Iterator

import numpy as np

from orchestrator.generators.base import Generator, World
from orchestrator.generators.mm import MmLocks
from orchestrator.generators.pages import CountedPages, folio_atomics, zone_lock_ops
from orchestrator.generators.tasks import TaskLocks
from orchestrator.generators.vmas import (
    LOADERS,
    Ids,
    Mappings,
    Vma,
    final_layout,
    protect_relro,
    unmap_whole,
)
from orchestrator.sim import ops
from orchestrator.sim.ops import SPINLOCK
from orchestrator.sim.programs import NEW, OLD, SPAN, Chain, Program, Work
from orchestrator.spec.workload import ImmapWorkload, MappedFile
from orchestrator.strategies.base import FileDecl

if TYPE_CHECKING:
    from orchestrator.sim.encoder import Batch

BACKGROUND_IDS = 1 << 60   # VMAs of other processes, preloaded
IMAGE_IDS = 1 << 59        # the VMAs of each copy's own image, preloaded
KERNEL_LOADED = ("kernel", "kernel-fixed")
# Shares of exec_ns: before the old image goes (syscall entry, path walk, bprm set-up), between
# teardown and mapping (ELF parsing, page tables), and after each file is mapped (ld.so and libc
# start-up, the program's own work up to its next exec or exit).
BEFORE, AFTER_TEARDOWN, AFTER_FILES = 0.2, 0.3, 0.5
START, END = (ops.START,), (ops.END, 0)
MAX_CHAIN = 16  # shapes a copy's process may go through before one comes back


@dataclass
class Declared:
    """A declared file (one per copy for a per_copy file): its handle and the shared state its
    opening, mapping and closing touch."""

    spec: MappedFile
    handle: int
    folios: list[int]          # the struct page line of each folio an exec maps
    lockref: list[tuple]       # the dentry's lockref op (a get or a put), if modelled
    writecount: list[tuple]    # the inode's i_writecount atomic (deny or allow), if exec opens it


@dataclass
class Process:
    """One process's mm as the model sees it."""

    binary: str                  # the file it runs
    files: dict[str, Mappings]   # its VMAs of each file, by file name
    owns_binary: bool            # an exec opened the binary (a fork's copy shares the parent's file)
    pages: int                   # pages its mm allocated, which its teardown frees


def vma_ids(process: Process) -> list[int]:
    """The ids of a process's VMAs, file by file in offset order."""
    return [vma[0] for m in process.files.values() for vma, _ in m.vmas]


def process_shape(process: Process) -> tuple:
    """What a process's next iteration depends on besides its VMAs' ids."""
    return (process.binary, process.owns_binary, process.pages,
            tuple((name, m.file, m.faulted, tuple((vma[1], vma[2], prot) for vma, prot in m.vmas))
                  for name, m in process.files.items()))


def with_placeholders(process: Process, ids: Ids) -> Process:
    """The process with its VMAs' ids replaced by OLD + k, in vma_ids order; new VMAs take `ids`."""
    count = iter(range(OLD, OLD + SPAN))
    files = {name: Mappings(m.file, ids, m.batch, [((next(count), vma[1], vma[2]), prot) for vma, prot in m.vmas],
                            m.faulted) for name, m in process.files.items()}
    return Process(process.binary, files, process.owns_binary, process.pages)


class NewIds(Ids):
    """The ids of a program's new VMAs: NEW + j, in the order it makes them."""

    def __init__(self) -> None:
        self.next = NEW - 1


@dataclass
class Copy:
    """A copy as its iterations' programs are made: its slot, the VMA ids it hands out and its
    page lists (placeholders: sim/programs.py)."""

    slot: int
    ids: Ids
    pcp: CountedPages


class ImmapGenerator(Generator):
    """Declares the files, shared state and walkers of the i_mmap workloads; builds their programs."""

    spec: ImmapWorkload
    forks = False  # whether the workload forks: it then declares the task locks

    @staticmethod
    def helper_nodes(spec: ImmapWorkload, nodes: int) -> tuple[int, ...]:
        walkers = spec.walkers
        reclaim = tuple(range(nodes)) if walkers.reclaim_per_node_per_s > 0 else ()
        return reclaim + ((0,) if walkers.truncate_per_s > 0 else ())

    # ---- declarations -----------------------------------------------------------------------

    def image_files(self) -> list[MappedFile]:
        """The files each copy's process has mapped when the run starts (a transient file is gone)."""
        return [f for f in self.spec.files if f.loader != "transient"]

    @cached_property
    def layouts(self) -> dict[str, list[tuple[int, int, str]]]:
        """(first, last, protection) of the VMAs each file leaves mapped once loaded, by name."""
        return {f.name: final_layout(f) for f in self.spec.all_files()}

    def layout(self, f: MappedFile) -> list[tuple[int, int, str]]:
        return self.layouts[f.name]

    def spans(self, f: MappedFile) -> np.ndarray:
        """The layout's (first, last) pgoffs, one row per VMA."""
        return np.array([span[:2] for span in self.layout(f)], dtype=np.int64).reshape(-1, 2)

    def image_id(self, f: MappedFile, slot):
        """The id of the first VMA of `f` in copy `slot`'s image (the k-th is this + k); of each
        slot's, for an array of slots."""
        index = [g.name for g in self.spec.all_files()].index(f.name)
        return IMAGE_IDS + (slot << 20) + (index << 8)

    def image_vmas(self, f: MappedFile, slot: int) -> list[tuple[Vma, str]]:
        """The VMAs of `f` in copy `slot`'s image at the start: ids the preload and the stream agree on."""
        base = self.image_id(f, slot)
        return [((base + k, first, last), prot) for k, (first, last, prot) in enumerate(self.layout(f))]

    def images(self, f: MappedFile, slots) -> np.ndarray:
        """Preload rows (vma, first, last, node, cpu) of the image VMAs of `f` in each of `slots`."""
        spans = self.spans(f)
        slots = np.asarray(slots, dtype=np.int64)
        k = len(spans)
        ids = self.image_id(f, slots)
        rows = np.empty((len(slots) * k, 5), dtype=np.int64)
        rows[:, 0] = (ids[:, None] + np.arange(k)).ravel()
        rows[:, 1:3] = np.tile(spans, (len(slots), 1))
        rows[:, 3] = np.repeat(np.asarray(self.ctx.slot_node, dtype=np.int64)[slots], k)
        rows[:, 4] = np.repeat(np.asarray(self.ctx.slot_cpu, dtype=np.int64)[slots], k)
        return rows

    def background(self, f: MappedFile, instance: int) -> np.ndarray:
        """Preload rows of the VMAs of other processes, spread over the image's VMAs and over nodes."""
        spans = self.spans(f)
        i = np.arange(f.background_vmas, dtype=np.int64)
        rows = np.empty((len(i), 5), dtype=np.int64)
        rows[:, 0] = BACKGROUND_IDS + (instance << 32) + i
        rows[:, 1:3] = spans[i % len(spans)]
        rows[:, 3] = (i // len(spans)) % self.ctx.nodes
        rows[:, 4] = -1
        return rows

    def declare(self, world: World) -> None:
        spec, ctx, shared = self.spec, self.ctx, self.spec.shared
        self.declared: dict[tuple[str, int], Declared] = {}
        for f in spec.all_files():
            if f.per_copy:
                for slot in range(ctx.copies):
                    self.declared[f.name, slot] = self._declare_file(world, f, f"{f.name}.{slot}",
                                                                     ctx.slot_node[slot], [slot])
            else:
                self.declared[f.name, -1] = self._declare_file(world, f, f.name, 0, range(ctx.copies))
        self.files = {name: d.handle for (name, slot), d in self.declared.items() if slot < 0}  # walkers
        # iteration programs, by the files a copy uses and the shape of the process they start from:
        # the program, the process it leaves and that one's shape
        self.programs: dict[tuple, tuple[Program, Process, tuple]] = {}
        self.batch = ctx.kernel.unlink_batch
        zoned = shared.zone_pages_per_exec or shared.zone_pages_per_fork
        self.zone = world.lock("zone", "zone->lock", SPINLOCK, 0) if zoned else None
        self.mm = MmLocks(world, ctx.kernel) if shared.mm_locks else None
        self.tasks = (TaskLocks(world, spec.tasklist_lock_hold_ns, spec.pidmap_lock_hold_ns)  # type: ignore[attr-defined]
                      if self.forks and shared.fork_locks else None)

    def _declare_file(self, world: World, f: MappedFile, name: str, home: int, slots) -> Declared:
        shared = self.spec.shared
        own = self.images(f, slots) if f in self.image_files() else np.empty((0, 5), dtype=np.int64)
        handle = world.file(FileDecl(name, home, np.concatenate([self.background(f, len(self.declared)), own])))
        folios = [world.line(f"{name}.folio{k}", home) for k in range(f.faulted_folios)] if shared.folio_atomics else []
        lockref: list[tuple] = []
        if shared.lockref:  # struct lockref packs d_lock and the count on one line
            line = world.line(f"{name}.dentry.lockref", home)
            lockref = [(ops.CMPXCHG, line, world.lock(f"{name}.dentry.d_lock", "dentry->d_lock", SPINLOCK, home,
                                                      line=line))]
        writecount = []
        if shared.writecount and f.loader in KERNEL_LOADED:
            writecount = [(ops.ATOMIC, world.line(f"{name}.i_writecount", home))]
        return Declared(f, handle, folios, lockref, writecount)

    def declared_file(self, f: MappedFile, slot: int) -> Declared:
        return self.declared[f.name, slot if f.per_copy else -1]

    def new_copy(self, slot: int) -> Copy:
        return Copy(slot, Ids(slot), CountedPages())

    def initial_process(self, copy: Copy) -> Process:
        """The copy's process as the run finds it: its image mapped and faulted in by an exec."""
        files = {f.name: Mappings(self.declared_file(f, copy.slot).handle, copy.ids, self.batch,
                                  self.image_vmas(f, copy.slot), faulted=True)
                 for f in self.image_files()}
        return Process(self.image_files()[0].name, files, True, self.spec.shared.zone_pages_per_exec)

    # ---- shared state -----------------------------------------------------------------------

    def mm_alloc_ops(self) -> list[tuple]:
        return self.mm.alloc_ops() if self.mm else []

    def mm_free_ops(self) -> list[tuple]:
        return self.mm.free_ops() if self.mm else []

    def binfmt_ops(self) -> list[tuple]:
        return self.mm.binfmt_ops() if self.mm else []

    def zone_allocs(self, copy: Copy, pages: int) -> list[tuple]:
        if self.zone is None:
            return []
        return zone_lock_ops(self.zone, self.spec.shared.zone_lock_hold_ns, copy.pcp.refills(pages), "rmqueue_bulk")

    def zone_frees(self, copy: Copy, pages: int) -> list[tuple]:
        if self.zone is None:
            return []
        return zone_lock_ops(self.zone, self.spec.shared.zone_lock_hold_ns, copy.pcp.drains(pages),
                             "free_pcppages_bulk")

    def by_name(self, name: str) -> MappedFile:
        return next(f for f in self.spec.all_files() if f.name == name)

    # ---- files ------------------------------------------------------------------------------

    def open(self, copy: Copy, f: MappedFile) -> list[tuple]:
        """The path walk ends with a lockref get on the file's dentry (fs/namei.c, legitimize_path);
        open_exec denies writes to a file the kernel loads (deny_write_access)."""
        d = self.declared_file(f, copy.slot)
        return d.lockref + d.writecount

    def close(self, copy: Copy, f: MappedFile) -> list[tuple]:
        """allow_write_access (for a file the kernel loaded), then fput's dput: a lockref put."""
        d = self.declared_file(f, copy.slot)
        return d.writecount + d.lockref

    def map(self, copy: Copy, process: Process, f: MappedFile) -> list[tuple]:
        """Map `f` into `process` with its loader, then fault its pages in (its folios' atomics)."""
        d = self.declared_file(f, copy.slot)
        m = process.files[f.name] = Mappings(d.handle, copy.ids, self.batch, faulted=True)
        return LOADERS[f.loader](f, m) + folio_atomics(d.folios)

    def unmap(self, copy: Copy, process: Process, f: MappedFile) -> list[tuple]:
        """munmap of a whole file's mapping: its pages go, then its VMAs."""
        return folio_atomics(self.declared_file(f, copy.slot).folios) + unmap_whole(f, process.files.pop(f.name))

    # ---- exec, fork, exit -------------------------------------------------------------------

    def release_mm(self, copy: Copy, process: Process) -> list[tuple]:
        """mmput of a process's last reference (exit, or exec_mmap of the old mm): exit_mmap
        unmaps every page (zap_pte_range: the folios' atomics), then free_pgtables unlinks every
        file's VMAs in batches; the exe file's dentry is put with the mm's file, and __mmdrop
        frees the mm (its global locks) and its pages."""
        out: list[tuple] = []
        for name, m in process.files.items():
            if m.faulted:
                out += folio_atomics(self.declared_file(self.by_name(name), copy.slot).folios)
        for m in process.files.values():
            out += m.teardown()
        if process.owns_binary:
            out += self.declared_file(self.by_name(process.binary), copy.slot).lockref
        return out + self.mm_free_ops() + self.zone_frees(copy, process.pages)

    def exec_program(self, copy: Copy, old: Process | None, scale: float) -> tuple[list[tuple], Process]:
        """execve of the workload's files[0]: the kernel loads the binary and its interpreter,
        tearing down the old mm in between (exec_mmap; `old` None: a vfork child's mm is its
        parent's, which exec only lets go of); ld.so maps the cache and the libraries, applies
        RELRO (the libraries in reverse load order, then the binary, then itself) and unmaps the
        cache, as strace shows it. Returns the ops and the new process."""
        spec = self.spec
        work = spec.exec_ns * scale  # type: ignore[attr-defined]
        files = spec.files
        binary = files[0]
        interpreters = [f for f in files[1:] if f.loader in KERNEL_LOADED]
        caches = [f for f in files if f.loader == "transient"]
        libraries = [f for f in files if f.loader == "ld.so"]
        new = Process(binary.name, {}, True, spec.shared.zone_pages_per_exec)
        # bprm_execve: the file and the new mm come first, then sched_exec may move the task (placement
        # migrate), then the binary handler
        out = [(ops.DELAY, int(work * BEFORE)), *self.open(copy, binary), *self.mm_alloc_ops(), (ops.MIGRATE,),
               *self.binfmt_ops()]
        for f in interpreters:  # load_elf_binary opens the interpreter before the point of no return
            out += self.open(copy, f)
        if old is not None:
            out += self.release_mm(copy, old)
        out.append((ops.DELAY, int(work * AFTER_TEARDOWN)))
        share = (ops.DELAY, int(work * AFTER_FILES / len(files)))
        for f in [binary, *interpreters]:
            out += [*self.map(copy, new, f), share]
        for f in interpreters:
            out += self.close(copy, f)
        for f in caches + libraries:
            out += [*self.open(copy, f), *self.map(copy, new, f), *self.close(copy, f), share]
        for f in [*reversed(libraries), binary, *interpreters]:
            out += protect_relro(f, new.files[f.name])
        for f in caches:
            out += self.unmap(copy, new, f)
        out += self.declared_file(binary, copy.slot).writecount  # the binary's write access comes back
        return out + self.zone_allocs(copy, new.pages), new

    def fork_program(self, copy: Copy, parent: Process, work_ns: float) -> tuple[list[tuple], Process]:
        """fork: copy_process duplicates the mm (dup_mm: a new mm, then dup_mmap, one i_mmap lock
        hold per file VMA), allocates the pid and links the task. Returns the ops and the child."""
        out = [(ops.DELAY, int(work_ns)), *self.mm_alloc_ops()]
        files = {}
        for name, m in parent.files.items():
            dups, files[name] = m.dup(copy.ids)
            out += dups
        child = Process(parent.binary, files, False, self.spec.shared.zone_pages_per_fork)
        return out + self.zone_allocs(copy, child.pages) + self.task_fork_ops(), child

    def vfork_program(self, work_ns: float) -> list[tuple]:
        """posix_spawn's clone(CLONE_VM | CLONE_VFORK): the child borrows the parent's mm."""
        return [(ops.DELAY, int(work_ns)), *self.task_fork_ops()]

    def exit_program(self, copy: Copy, child: Process, work_ns: float) -> list[tuple]:
        """The child's exit (exit_mm, then exit_notify) and the parent's wait (release_task)."""
        out = [(ops.DELAY, int(work_ns)), *self.release_mm(copy, child)]
        if self.tasks is not None:
            out += self.tasks.exit_ops() + self.tasks.reap_ops()
        return out

    def task_fork_ops(self) -> list[tuple]:
        return self.tasks.fork_ops() if self.tasks is not None else []

    # ---- streams ----------------------------------------------------------------------------

    def batches(self, slot: int, rng: np.random.Generator) -> Iterator[Batch]:
        if slot >= self.ctx.copies:
            return self.walker_batches(slot, rng)
        return self.copy_batches(slot, rng)

    def copy_batches(self, slot: int, rng: np.random.Generator) -> Iterator[Batch]:
        """The copy's Chain (sim/programs.py): its iterations' ops are made once per shape of
        process, as programs, and the engine makes each iteration from them (sim/iterate.py).
        Copies that use the same files share programs."""
        copy = self.new_copy(slot)
        process = self.start(copy)
        old = tuple(vma_ids(process))
        files = tuple(id(self.declared_file(f, slot)) for f in self.spec.all_files())
        shape = (files, process_shape(process))
        programs: list[Program] = []
        index: dict[tuple, int] = {}  # where each shape's program is in the chain
        while shape not in index:
            if len(index) == MAX_CHAIN:
                raise ValueError(f"{self.spec.name}: a copy's process changes shape more than {MAX_CHAIN} times")
            index[shape] = len(programs)
            if shape not in self.programs:
                program, result = self.program(copy, process)
                self.programs[shape] = program, result, (files, process_shape(result))
            program, process, shape = self.programs[shape]
            programs.append(program)
        then = (*range(1, len(programs)), index[shape])
        yield Chain(tuple(programs), then, copy.ids.next, old, self.spec.shared.pcp_batch, self.spec.think_cv,
                    int(rng.bit_generator.random_raw()))  # the think-time generator's state: the stream's next 64 bits

    def program(self, copy: Copy, process: Process) -> tuple[Program, Process]:
        """The iteration from a process of this shape, made of placeholders, and the process it
        leaves (of placeholders too)."""
        ids, pages = NewIds(), CountedPages()
        delays: list[tuple] = []
        olds = vma_ids(process)
        ops_, result = self.iteration(Copy(copy.slot, ids, pages), with_placeholders(process, ids),
                                      Work(delays))  # type: ignore[arg-type]  # stands for the scale
        program = Program((START, *ops_, END), ids.next - (NEW - 1), len(olds), tuple(vma_ids(result)),
                          tuple(delays), tuple(pages.counts))
        return program, result

    def start(self, copy: Copy) -> Process:
        """The process the copy's first iteration starts from."""
        return self.initial_process(copy)

    def iteration(self, copy: Copy, process: Process, scale: float) -> tuple[list[tuple], Process]:
        """One iteration's ops from `process`, and the process the next one starts from. It is
        called once per shape of process, with placeholders (sim/programs.py): the VMAs' ids, and
        those copy.ids hands out; a think time that is `scale` times what it computes; page
        counts that copy.pcp decides per iteration."""
        raise NotImplementedError

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
