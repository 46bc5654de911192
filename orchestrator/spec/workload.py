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


class MappedFile(Spec):
    """A file mapped as ELF segments; pgoff ranges are in pages."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.+-]+$")
    segments_pages: list[PositiveInt] = Field(
        min_length=1, description="PT_LOAD segments in file order, e.g. r--, r-x, r--, rw- (docs/sources.md, exec)")
    relro_pages: NonNegativeInt = Field(1, description="head of the last segment that RELRO mprotect makes r--")
    loader: Literal["kernel", "ld.so"] = Field(
        "kernel", description="kernel: load_elf_binary maps the first segment at the total size, unmaps "
                              "the rest and maps the others; ld.so: one full-size mmap, then MAP_FIXED "
                              "over it per segment")
    background_vmas: NonNegativeInt = Field(
        0, le=MAX_BACKGROUND_VMAS,
        description="VMAs of other processes present before the run (the seed's libc tree: > 6000)")

    @model_validator(mode="after")
    def _relro_fits(self) -> "MappedFile":
        if self.relro_pages >= self.segments_pages[-1]:
            raise FieldError("relro_pages", "must be smaller than the last segment")
        return self

    @property
    def pages(self) -> int:
        return sum(self.segments_pages)


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
    """State outside i_mmap every exec touches whatever the strategy."""

    lockref: bool = Field(True, description="dentry lockref get/put (cmpxchg loop) per file opened")
    writecount: bool = Field(True, description="deny/allow_write_access atomics on the binary's inode")
    zone_lock_per_iteration: NonNegativeInt = Field(
        0, le=MAX_ZONE_LOCKS, description="page-allocator zone lock acquisitions per iteration (a spinlock)")
    zone_lock_hold_ns: NonNegativeInt = Field(200, description="hold time of one zone lock acquisition")
    mm_locks: bool = Field(
        True, description="the global locks exec and fork take to allocate and free an mm (pgd_lock, "
                          "binfmt_lock, per-CPU allocator locks of kernel.release)")


DEFAULT_FILES = [
    # segment sizes in 4 KiB pages, shaped like /proc/self/maps of a small binary, ld.so and libc
    MappedFile(name="binary", segments_pages=[1, 2, 1, 2], relro_pages=1, loader="kernel"),
    MappedFile(name="ld.so", segments_pages=[1, 40, 10, 3], relro_pages=2, loader="kernel",
               background_vmas=6000),
    MappedFile(name="libc", segments_pages=[40, 380, 100, 6], relro_pages=4, loader="ld.so",
               background_vmas=6000),
]


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

    @model_validator(mode="after")
    def _walked_files_exist(self) -> "ImmapWorkload":
        names = [f.name for f in self.files]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise FieldError(("files", i, "name"), f"two files named {name!r}")
        for field in ("reclaim_file", "truncate_file"):
            name = getattr(self.walkers, field)
            if name is not None and name not in names:
                raise FieldError(("walkers", field), f"no file named {name!r} (files: {', '.join(names)})")
        return self


class Execl(ImmapWorkload):
    """UnixBench execl: each copy execs itself in a loop."""

    kind: Literal["execl"]
    files: list[MappedFile] = Field(default_factory=lambda: list(DEFAULT_FILES), min_length=1,
                                    description="the binary, ld.so and libc as mapped files: name, PT_LOAD "
                                                "segments in pages, RELRO pages, loader, background VMAs")
    exec_ns: PositiveInt = Field(
        150_000, description="non-i_mmap work of one exec (docs/sources.md: 130 - 200 us per exec)",
        json_schema_extra=plausible(130_000, 250_000, "ns", "M: UnixBench execl at 1 copy, 4.9 - 7.8k execs/s; "
                                                            "a per-machine quantity to fit"))
    unlink_batch: PositiveInt = Field(8, description="VMAs per unlink_file_vma_batch")


class Spawn(Execl):
    """fork + exec + exit: dup_mmap inserts a child VMA for every file VMA of the parent."""

    kind: Literal["spawn"]  # type: ignore[assignment]
    fork_ns: PositiveInt = Field(60_000, description="non-i_mmap work of fork (copying page tables...)")
    exit_ns: PositiveInt = Field(20_000, description="non-i_mmap work of exit and wait")


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
        return self


WorkloadSpec = Annotated[Union[ClosedLoop, Execl, Spawn, MmapChurn], Field(discriminator="kind")]
