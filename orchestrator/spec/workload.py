"""Workload specs: what each simulated CPU does. One model per generator, told apart by `kind`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    model_validator,
)

from orchestrator.errors import FieldError
from orchestrator.spec.base import (
    MAX_BACKGROUND_VMAS,
    MAX_LOCKS,
    MAX_RATE_PER_S,
    MAX_THINK_CV,
    MAX_ZONE_LOCKS,
    MIN_RATE_PER_S,
    MIN_THINK_CV,
    Spec,
    plausible,
    zero_or_at_least,
)


class ClosedLoop(Spec):
    """Validation workload: think, then take one lock and hold it; repeat."""

    kind: Literal["closed-loop"]
    name: str = "closed-loop"
    description: str = ""
    think_ns: NonNegativeInt = Field(10_000, description="mean think time between accesses")
    hold_ns: NonNegativeInt = Field(1_000, description="mean hold time of a write access")
    read_hold_ns: NonNegativeInt = Field(1_000, description="mean hold time of a read access")
    read_fraction: float = Field(0.0, ge=0.0, le=1.0, description="share of accesses that read")
    distribution: Literal["exponential", "fixed"] = "exponential"
    locks: PositiveInt = Field(1, le=MAX_LOCKS, description="independent locks of the one class")
    lock_choice: Literal["pinned", "random"] = Field(
        "pinned", description="pinned: CPU slot i always uses lock i % locks; random: uniform per access")


Protection = Literal["r", "rx", "rw", "rwx"]
MAX_FOLIOS = 1_000  # folios of a file an exec maps: each one's atomics are simulated


def usual_protections(segments: int) -> list[str]:
    """The usual PT_LOAD pattern of a file linked by GNU ld with -z separate-code: headers and
    read-only data, text, read-only data, data (r, rx, r, rw); more segments add read-only ones
    before the data, fewer take the head of the pattern."""
    if segments <= 4:
        return ["r", "rx", "r", "rw"][:segments]
    return ["r", "rx", *["r"] * (segments - 3), "rw"]


class MappedFile(Spec):
    """A file mapped as ELF segments; pgoff ranges are in pages. In the model a file's segments
    follow each other in the file and in memory (no holes, offsets contiguous), so two VMAs of
    it are contiguous in memory exactly when their offsets are."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.+-]+$")
    segments_pages: list[PositiveInt] = Field(
        min_length=1, description="PT_LOAD segments in file order, e.g. r--, r-x, r--, rw- (orch docs sources, exec)")
    protections: list[Protection] | None = Field(
        None, description="each segment's protection; default r, rx, r, rw (usual_protections): a mapping "
                          "merges into a neighbour of the same protection")
    relro_pages: NonNegativeInt = Field(1, description="head of the last segment that RELRO mprotect makes r--")
    bss_pages: NonNegativeInt = Field(
        0, description="zero-filled pages past the last segment's file data (.bss beyond its last page): ld.so "
                       "maps the whole extent from the file first and then maps these anonymously over it "
                       "(one more unlink); the kernel's loader unmaps them with the excess (vm_brk_flags)")
    loader: Literal["kernel", "kernel-fixed", "ld.so", "transient"] = Field(
        "kernel", description="who maps it. kernel: load_elf_binary / load_elf_interp of an ET_DYN image "
                              "(a PIE binary, ld.so): the whole extent, then vm_munmap of the excess, then "
                              "the other segments; kernel-fixed: an ET_EXEC image (a non-PIE static binary), "
                              "each segment at its fixed address; ld.so: _dl_map_segments (a library): the "
                              "whole extent, then MAP_FIXED over it per segment and for the bss; transient: "
                              "mapped whole and unmapped within the exec (/etc/ld.so.cache)")
    per_copy: bool = Field(
        False, description="every copy maps a file of its own (a separate inode per copy, declared once per "
                           "copy), e.g. doexec's statically linked binaries")
    faulted_folios: NonNegativeInt = Field(
        0, le=MAX_FOLIOS,
        description="folios of the file whose pages an exec maps (filemap_map_pages: folio_ref_add and "
                    "folio_add_file_rmap_ptes per folio at fault-around, folio_remove_rmap_ptes and "
                    "folio_put at teardown): lines shared by every copy. L, assumed: fault-around maps 16 "
                    "pages per fault; the presets take binary 2, ld.so 4, libc 8")
    background_vmas: NonNegativeInt = Field(
        0, le=MAX_BACKGROUND_VMAS,
        description="VMAs of other processes present before the run (the seed's libc tree: > 6000)")

    @model_validator(mode="after")
    def _layout(self) -> "MappedFile":
        if self.relro_pages >= self.segments_pages[-1]:
            raise FieldError("relro_pages", "must be smaller than the last segment")
        if self.protections is not None and len(self.protections) != len(self.segments_pages):
            raise FieldError("protections", f"{len(self.protections)} protections for "
                                            f"{len(self.segments_pages)} segments")
        if self.loader == "transient" and self.relro_pages:
            raise FieldError("relro_pages", "a transient file (mapped and unmapped within the exec) has no RELRO")
        return self

    @property
    def pages(self) -> int:
        """Pages of file data (the segments)."""
        return sum(self.segments_pages)

    @property
    def extent(self) -> int:
        """Pages of the whole mapping: the segments and the bss after them."""
        return self.pages + self.bss_pages

    @property
    def segment_protections(self) -> list[str]:
        return list(self.protections) if self.protections is not None else usual_protections(len(self.segments_pages))


class Walkers(Spec):
    """rmap walkers any i_mmap workload can add, as kernel threads beside the copies."""

    reclaim_per_node_per_s: Annotated[NonNegativeFloat, zero_or_at_least(MIN_RATE_PER_S)] = Field(
        0.0, le=MAX_RATE_PER_S,
        description="kswapd-like rmap walks of one random page of reclaim_file, per node")
    reclaim_file: str | None = Field(None, description="default: the workload's last file (libc)")
    truncate_per_s: Annotated[NonNegativeFloat, zero_or_at_least(MIN_RATE_PER_S)] = Field(
        0.0, le=MAX_RATE_PER_S, description="unmap_mapping_range calls on truncate_file")
    truncate_file: str | None = Field(None, description="default: the workload's last file")
    truncate_pages: PositiveInt = Field(16, description="pages each unmap_mapping_range covers")


class SharedState(Spec):
    """State outside i_mmap every exec (or fork) touches whatever the strategy."""

    lockref: bool = Field(True, description="dentry lockref get/put (cmpxchg loop) per file opened")
    writecount: bool = Field(True, description="deny/allow_write_access atomics on the exec'd binary's inode")
    folio_atomics: bool = Field(
        True, description="the atomics on the struct page line of every folio an exec maps and tears down "
                          "(the files' faulted_folios)")
    zone_pages_per_exec: NonNegativeInt = Field(
        63, le=MAX_ZONE_LOCKS,
        description="pages an exec allocates from the page allocator and frees again (page tables, stack, "
                    "argument and copied-on-write pages): L, about one pcp batch; 0 = no zone lock")
    zone_pages_per_fork: NonNegativeInt = Field(
        16, le=MAX_ZONE_LOCKS,
        description="pages a fork and its child's exit allocate and free (the child's page tables and "
                    "kernel stack): L, assumed; a vfork (CLONE_VM) copies no page tables and takes none")
    pcp_batch: PositiveInt = Field(
        63, description="pages per zone->lock acquisition: rmqueue_bulk refills a CPU's page list and "
                        "free_pcppages_bulk drains it pcp->batch pages at a time, 63 on any zone of 1 GiB "
                        "or more (mm/page_alloc.c, zone_batchsize)")
    zone_lock_hold_ns: NonNegativeInt = Field(
        1_500, description="hold time of one rmqueue_bulk or free_pcppages_bulk: pcp_batch pages at ~25 ns "
                           "each (L, assumed)")
    mm_locks: bool = Field(
        True, description="the global locks exec and fork take to allocate and free an mm (pgd_lock, "
                          "binfmt_lock, per-CPU allocator locks of kernel.release)")
    fork_locks: bool = Field(
        True, description="the global locks of fork, exit and wait: tasklist_lock (copy_process, "
                          "exit_notify, release_task) and pidmap_lock (alloc_pid, free_pid)")


# Segment sizes in 4 KiB pages, shaped like /proc/self/maps of a small binary, ld.so, libc and
# libm (glibc 2.35, x86-64); /etc/ld.so.cache a few tens of KiB.
BINARY = MappedFile(name="binary", segments_pages=[1, 2, 1, 2], relro_pages=1, loader="kernel", faulted_folios=2)
LD_SO = MappedFile(name="ld.so", segments_pages=[1, 40, 10, 3], relro_pages=2, bss_pages=2, loader="kernel",
                   faulted_folios=4, background_vmas=6000)
LD_SO_CACHE = MappedFile(name="ld.so.cache", segments_pages=[16], relro_pages=0, loader="transient",
                         faulted_folios=1)
LIBC = MappedFile(name="libc", segments_pages=[40, 380, 100, 6], relro_pages=4, bss_pages=13, loader="ld.so",
                  faulted_folios=8, background_vmas=6000)
LIBM = MappedFile(name="libm", segments_pages=[14, 127, 91, 2], relro_pages=1, loader="ld.so", faulted_folios=4,
                  background_vmas=1000)
TRUE = MappedFile(name="true", segments_pages=[2, 4, 2, 2], relro_pages=1, loader="kernel", faulted_folios=2)
STRESS_NG = MappedFile(name="stress-ng", segments_pages=[100, 1000, 300, 20], relro_pages=10, bss_pages=40,
                       loader="kernel", faulted_folios=8)  # L: a binary of several MiB
STATIC_BINARY = MappedFile(name="static-doexec", segments_pages=[1, 149, 41, 6], relro_pages=3, bss_pages=6,
                           loader="kernel-fixed", per_copy=True, faulted_folios=4)
DEFAULT_FILES = [BINARY, LD_SO, LD_SO_CACHE, LIBC]


class ImmapWorkload(Spec):
    name: str = ""
    description: str = ""
    walkers: Walkers = Field(default_factory=Walkers)
    shared: SharedState = Field(default_factory=SharedState)
    think_cv: Annotated[NonNegativeFloat, zero_or_at_least(MIN_THINK_CV)] = Field(
        0.1, le=MAX_THINK_CV,
        description="coefficient of variation of think times (gamma distributed; 0 = fixed)")
    if TYPE_CHECKING:  # each subclass declares files, with its own default: one here would move it in the dump
        files: list[MappedFile]

    def walked_file(self, name: str | None) -> "MappedFile":
        return self.files[-1] if name is None else next(f for f in self.files if f.name == name)

    def all_files(self) -> list[MappedFile]:
        """Every file the workload maps (a kind with a file outside `files` adds it)."""
        return list(self.files)

    @model_validator(mode="after")
    def _walked_files_exist(self) -> "ImmapWorkload":
        names = [f.name for f in self.files]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise FieldError(("files", i, "name"), f"two files named {name!r}")
        for field, rate in (("reclaim_file", self.walkers.reclaim_per_node_per_s),
                            ("truncate_file", self.walkers.truncate_per_s)):
            name = getattr(self.walkers, field)
            if name is not None and name not in names:
                raise FieldError(("walkers", field), f"no file named {name!r} (files: {', '.join(names)})")
            if rate and self.walked_file(name).per_copy:
                raise FieldError(("walkers", field), f"{self.walked_file(name).name} is a file per copy: "
                                                     "a walker walks one shared file")
        return self


def check_program(files: list[MappedFile]) -> None:
    """What an exec maps: the binary first (the kernel loads it), at most one interpreter (another
    file the kernel loads: ld.so), then what ld.so maps; only the binary can be a file per copy."""
    if files[0].loader not in ("kernel", "kernel-fixed"):
        raise FieldError(("files", 0, "loader"), "the first file is the binary exec loads: kernel or kernel-fixed")
    interpreters = [i for i, f in enumerate(files) if i and f.loader in ("kernel", "kernel-fixed")]
    if len(interpreters) > 1:
        raise FieldError(("files", interpreters[1], "loader"),
                         "one interpreter (a second file the kernel loads) at most")
    for i, f in enumerate(files):
        if f.per_copy and i:
            raise FieldError(("files", i, "per_copy"), "only the binary (the first file) can be a file per copy")


def files_field(default: list[MappedFile], description: str):
    return Field(default_factory=lambda: list(default), min_length=1, description=description)


def exec_ns_field(default: int = 150_000):
    return Field(
        default, description="non-i_mmap work of one exec (orch docs sources: 130 - 200 us per exec)",
        json_schema_extra=plausible(130_000, 250_000, "ns", "M: UnixBench execl at 1 copy, 4.9 - 7.8k execs/s; "
                                                            "a per-machine quantity to fit"))


def fork_ns_field():
    return Field(60_000, description="non-i_mmap work of fork (copy_process, copying page tables)",
                 json_schema_extra=plausible(30_000, 150_000, "ns", "L: assumed; a per-machine quantity to fit"))


def tasklist_hold_field():
    return Field(500, description="hold time of tasklist_lock (an rwlock taken for write) in copy_process, "
                                  "exit_notify and release_task: linking or unlinking the task and its pids, "
                                  "signalling the parent; L, 0.2 - 2 us",
                 json_schema_extra=plausible(200, 2_000, "ns", "L: assumed"))


def pidmap_hold_field():
    return Field(200, description="hold time of pidmap_lock (a spinlock) in alloc_pid (idr_alloc_cyclic) and "
                                  "free_pid (idr_remove), kernel/pid.c; L, 0.1 - 1 us",
                 json_schema_extra=plausible(100, 1_000, "ns", "L: assumed"))


class Execs(ImmapWorkload):
    """A workload whose iterations exec `files` (files[0] the binary)."""

    @model_validator(mode="after")
    def _program(self) -> "Execs":
        check_program(self.files)
        return self


PROGRAM = ("the files an exec maps: the binary first (loader kernel or kernel-fixed), the interpreter "
           "(ld.so), the files ld.so maps (the cache, transient; libraries, in load order): name, PT_LOAD "
           "segments in pages, protections, RELRO and bss pages, loader, faulted folios, background VMAs")


class Execl(Execs):
    """UnixBench execl (src/execl.c): each copy execl()s itself in a loop, a dynamic binary."""

    kind: Literal["execl"]
    files: list[MappedFile] = files_field(DEFAULT_FILES, PROGRAM)
    exec_ns: PositiveInt = exec_ns_field()


class Doexec(Execs):
    """The static-exec loop of 14ef95be6f55: each copy execs a statically linked binary of its own."""

    kind: Literal["doexec"]
    files: list[MappedFile] = files_field(
        [STATIC_BINARY], "the binary each copy execs (per_copy: a file of its own per copy), as in execl")
    exec_ns: PositiveInt = exec_ns_field(130_000)


class Spawn(ImmapWorkload):
    """UnixBench spawn (src/spawn.c): fork; the child exits at once; the parent waits. No exec."""

    kind: Literal["spawn"]
    files: list[MappedFile] = files_field(
        [BINARY, LD_SO, LIBC], "the parent's image, every VMA of which dup_mmap copies (a transient file is "
                               "not mapped any more)")
    fork_ns: PositiveInt = fork_ns_field()
    exit_ns: PositiveInt = Field(20_000, description="non-i_mmap work of the child's exit and the parent's wait")
    tasklist_lock_hold_ns: NonNegativeInt = tasklist_hold_field()
    pidmap_lock_hold_ns: NonNegativeInt = pidmap_hold_field()


class Sysexec(Execs):
    """UnixBench `syscall exec` (src/syscall.c, case 'e'; LKP's sysexec): fork; the child execs
    /bin/true; the parent waits."""

    kind: Literal["sysexec"]
    files: list[MappedFile] = files_field(
        [TRUE, LD_SO, LD_SO_CACHE, LIBC],
        "what the child's exec maps (/bin/true, then as execl's files); the parent's image is parent_binary "
        "with the same interpreter and libraries")
    parent_binary: MappedFile = Field(
        default_factory=lambda: MappedFile(name="syscall", segments_pages=[1, 2, 1, 2], relro_pages=1,
                                           loader="kernel", faulted_folios=2),
        description="the parent's own binary (UnixBench's syscall), a file other than the child's")
    fork_ns: PositiveInt = fork_ns_field()
    exec_ns: PositiveInt = exec_ns_field()
    exit_ns: PositiveInt = Field(20_000, description="non-i_mmap work of the child's exit and the parent's wait")
    tasklist_lock_hold_ns: NonNegativeInt = tasklist_hold_field()
    pidmap_lock_hold_ns: NonNegativeInt = pidmap_hold_field()

    def all_files(self) -> list[MappedFile]:
        return [self.parent_binary, *self.files]

    @model_validator(mode="after")
    def _parent(self) -> "Sysexec":
        if self.parent_binary.name in [f.name for f in self.files]:
            raise FieldError(("parent_binary", "name"), f"{self.parent_binary.name!r} names one of files too")
        if self.parent_binary.loader not in ("kernel", "kernel-fixed") or self.parent_binary.per_copy:
            raise FieldError(("parent_binary", "loader"),
                             "the parent's binary is loaded by the kernel, one shared file")
        return self


class StressNgSpawn(Execs):
    """stress-ng --spawn with --exec-exit (stress-spawn.c): posix_spawn of stress-ng itself, which
    exits at once; the parent waits."""

    kind: Literal["stress-ng-spawn"]
    files: list[MappedFile] = files_field(
        [STRESS_NG, LD_SO, LD_SO_CACHE, LIBM, LIBC],
        "what the child's exec maps (stress-ng, then as execl's files; libm: L, stress-ng links more libraries); "
        "the parent, stress-ng itself, has the same image")
    spawn_ns: PositiveInt = Field(
        20_000, description="non-i_mmap work of posix_spawn's clone (CLONE_VM | CLONE_VFORK: no page tables "
                            "copied) and the parent's wakeup; L")
    exec_ns: PositiveInt = exec_ns_field()
    exit_ns: PositiveInt = Field(20_000, description="non-i_mmap work of the child's exit and the parent's wait")
    tasklist_lock_hold_ns: NonNegativeInt = tasklist_hold_field()
    pidmap_lock_hold_ns: NonNegativeInt = pidmap_hold_field()


class MmapChurn(ImmapWorkload):
    """will-it-scale style: mmap then munmap one shared file, in a loop."""

    kind: Literal["mmap-churn"]
    files: list[MappedFile] = Field(default_factory=lambda: [
        MappedFile(name="shared", segments_pages=[256], relro_pages=0)], min_length=1,
        description="the shared file the loop maps (its first file)")
    map_pages: PositiveInt = Field(256, description="pages each mmap covers, from offset 0")
    syscall_ns: PositiveInt = Field(1_000, description="work of one mmap or munmap call outside i_mmap")

    @model_validator(mode="after")
    def _fits(self) -> "MmapChurn":
        if self.map_pages > self.files[0].pages:
            raise FieldError("map_pages", f"larger than {self.files[0].name} ({self.files[0].pages} pages)")
        if self.files[0].per_copy:
            raise FieldError(("files", 0, "per_copy"), "mmap-churn maps one shared file")
        return self


# every workload model, in the order the docs list them
KINDS = (Execl, Spawn, Sysexec, StressNgSpawn, Doexec, MmapChurn, ClosedLoop)
WorkloadSpec = Annotated[Union[Execl, Spawn, Sysexec, StressNgSpawn, Doexec, MmapChurn, ClosedLoop],
                         Field(discriminator="kind")]
